import TresorCore
import TresorCrypto
public import TresorKeys

/// Restoring a recovery point's keys into another key store (Keys/README.md, "Restoring keys"): an operator
/// who can open the point wraps its ID key and data keys to that store's x25519 KEK — only its public half is
/// needed, so the target's private key never leaves its machine — and pins the manifest's signer for that
/// point. The target store then restores that recovery point, and no other, on a machine that never held the
/// operator's KEK.
public enum KeyRestore {
    public static func restore(_ point: OpenedRecoveryPoint, vmName: String, into store: KeyStore, kekName: String,
                               restoredBy: String, now: Int64) throws -> (path: String, file: RestoredKeysFile) {
        guard !store.isWriteOnly else {
            throw TresorError(.writeOnlyClient, "\(store.path) is a write-only client key store", action: "restore keys into an operator's key store")
        }
        let target = try store.load(kekName)
        guard target.type == .x25519, let publicHex = target.publicKey, let publicKey = Hex.decode(publicHex) else {
            throw TresorError(.unsupportedKeyType, "KEK '\(kekName)' is \(target.type.rawValue): keys are restored to an x25519 KEK, whose public half suffices",
                              action: "create one there with 'tresor keys create NAME --type x25519'")
        }
        let domain = point.body.domainID
        var wraps = [KeyWrapRecord(domainID: domain, keyID: DomainKeys.idKeyID(point.idKey), purpose: .id, kekID: target.id,
                                   algorithm: .x25519KWP, wrapped: try SealedKeyBox.seal(point.idKey, to: publicKey), createdAtMillis: now)]
        for (id, key) in point.dataKeys.sorted(by: { $0.key.hex < $1.key.hex }) {
            wraps.append(KeyWrapRecord(domainID: domain, keyID: id, purpose: .data, kekID: target.id, algorithm: .x25519KWP,
                                       wrapped: try SealedKeyBox.seal(key, to: publicKey), createdAtMillis: now))
        }
        let file = RestoredKeysFile(vaultID: point.body.vaultID, recoveryPointID: point.body.recoveryPointID, vmName: vmName, domainID: domain,
                                    kekID: target.id, signer: point.manifest.signed.signer, restoredByKEK: restoredBy,
                                    restoredAtMillis: now, wraps: wraps)
        return (try store.saveRestored(file), file)
    }
}
