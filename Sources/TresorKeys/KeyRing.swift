public import TresorCore
public import TresorCrypto

/// The keys one backup, restore or verify works with, whichever kind of key store they came from.
///
/// - An operator's unlocked KEK can wrap, unwrap, derive ID keys and sign.
/// - A write-only client can derive ID keys (deduplication), wrap fresh data keys to public KEK halves and
///   sign with its certified key, and nothing else: `canDecrypt` is false and `unwrap` refuses.
public final class KeyRing: Sendable {
    public let kekName: String
    public let kekID: KeyID
    public let kekType: KEKType
    private let unlocked: UnlockedKEK?
    /// The KEK a rotation in progress is moving away from; it may still unwrap.
    private let retired: UnlockedKEK?
    /// The ID root, or for a client limited to one domain, that domain's ID key.
    private let idRoot: SymmetricKey?
    private let limitedTo: (domain: DomainID, idKey: SymmetricKey)?
    private let clientSeed: SymmetricKey?
    private let certificate: SignerCertificate?
    private let recoveryKEKs: [RecoveryKEK]
    private let publicKey: [UInt8]?
    /// Recovery points whose keys an operator restored into this key store (RestoredKeysFile).
    private let restored: [RestoredKeysFile]

    public var canDecrypt: Bool { self.unlocked != nil }

    public init(operator kek: UnlockedKEK, retired: UnlockedKEK? = nil, restored: [RestoredKeysFile] = []) {
        self.kekName = kek.file.name
        self.kekID = kek.file.id
        self.kekType = kek.file.type
        self.unlocked = kek
        self.retired = retired
        self.idRoot = kek.idRoot
        self.limitedTo = nil
        self.clientSeed = nil
        self.certificate = nil
        self.recoveryKEKs = kek.file.recoveryKEKs
        self.publicKey = kek.file.publicKey.flatMap(Hex.decode)
        self.restored = restored
    }

    /// A wrap of a restored recovery point's key for this KEK, if its keys were restored into this store.
    public func restoredWrap(recoveryPoint: String, keyID: KeyID?, purpose: KeyWrapRecord.Purpose) -> KeyWrapRecord? {
        self.restored.first { $0.recoveryPointID == recoveryPoint }?.wraps.first {
            $0.purpose == purpose && (keyID == nil || $0.keyID == keyID)
        }
    }

    /// A write-only client's ring, from the key store `tresor keys export-public` made.
    public init(client store: KeyStore, kekName: String) throws {
        guard let keys = try store.loadClientKeys() else {
            throw TresorError(.keyStore, "\(store.path) holds no client keys (client.json)")
        }
        let file = try store.load(kekName)
        guard keys.kekName == kekName, let publicHex = file.publicKey, let publicKey = Hex.decode(publicHex),
              var seed = Hex.decode(keys.signingSeed), seed.count == 32
        else { throw TresorError(.keyStore, "client key store \(store.path) is incomplete for KEK '\(kekName)'") }
        if var root = keys.idRoot.flatMap(Hex.decode), root.count == 32 {
            self.idRoot = SymmetricKey(SecretBytes(consuming: &root))
            self.limitedTo = nil
        } else if let domainName = keys.domain, var key = keys.idKey.flatMap(Hex.decode), key.count == 32 {
            self.idRoot = nil
            self.limitedTo = (try DomainID(domainName), SymmetricKey(SecretBytes(consuming: &key)))
        } else {
            throw TresorError(.keyStore, "client key store \(store.path) holds neither an ID root nor a domain's ID key")
        }
        self.kekName = kekName
        self.kekID = file.id
        self.kekType = file.type
        self.unlocked = nil
        self.retired = nil
        self.clientSeed = SymmetricKey(SecretBytes(consuming: &seed))
        self.certificate = keys.certificate
        self.recoveryKEKs = file.recoveryKEKs
        self.publicKey = publicKey
        self.restored = []
    }

    // MARK: ID keys and commitments

    /// The one domain a limited write-only client may back up into, if it is limited.
    public var onlyDomain: DomainID? { self.limitedTo?.domain }

    /// The domain's ID key (IDKeys.derive).
    public func idKey(domain: DomainID) throws -> SymmetricKey {
        if let limitedTo {
            guard limitedTo.domain == domain else {
                throw TresorError(.writeOnlyClient, "this client key store may back up only into key domain \(limitedTo.domain), not \(domain)",
                                  action: "back up with --domain \(limitedTo.domain)")
            }
            return limitedTo.idKey
        }
        return try IDKeys.derive(root: self.idRoot!, domain: domain)
    }

    /// `HMAC-SHA256(key, "tresor/key-commitment/v1")`: names a key's value without revealing it.
    public static func commitment(of key: SymmetricKey) -> String {
        Hex.encode(HMACSHA256.authenticate(Array("tresor/key-commitment/v1".utf8), key: key))
    }

    // MARK: Wrapping

    /// Wraps `key` for every KEK that must be able to open it: this KEK and each recovery KEK.
    public func wraps(of key: SymmetricKey, keyID: KeyID, purpose: KeyWrapRecord.Purpose, domain: DomainID,
                      now: Int64) throws -> [KeyWrapRecord] {
        var records: [KeyWrapRecord] = []
        if let unlocked {
            let (wrapped, algorithm) = try unlocked.wrap(key)
            records.append(KeyWrapRecord(domainID: domain.rawValue, keyID: keyID, purpose: purpose, kekID: self.kekID,
                                         algorithm: algorithm, wrapped: wrapped, createdAtMillis: now))
        } else if let publicKey {
            records.append(KeyWrapRecord(domainID: domain.rawValue, keyID: keyID, purpose: purpose, kekID: self.kekID,
                                         algorithm: .x25519KWP, wrapped: try SealedKeyBox.seal(key, to: publicKey),
                                         createdAtMillis: now))
        }
        for recovery in self.recoveryKEKs {
            guard let publicKey = Hex.decode(recovery.publicKey) else { continue }
            records.append(KeyWrapRecord(domainID: domain.rawValue, keyID: keyID, purpose: purpose, kekID: recovery.id,
                                         algorithm: .x25519KWP, wrapped: try SealedKeyBox.seal(key, to: publicKey),
                                         createdAtMillis: now))
        }
        return records
    }

    /// KEK IDs this ring can open wraps of.
    public var openableKEKIDs: [KeyID] {
        [self.unlocked?.file.id, self.retired?.file.id].compactMap { $0 }
    }

    /// Opens a wrap made for this KEK (or for the KEK a rotation is retiring).
    public func unwrap(_ record: KeyWrapRecord) throws -> SymmetricKey {
        guard let unlocked else {
            throw TresorError(.writeOnlyClient, "this key store holds only the public half of KEK '\(self.kekName)' and cannot decrypt",
                              action: "restore with the operator's key store")
        }
        let kek: UnlockedKEK
        if record.kekID == unlocked.file.id {
            kek = unlocked
        } else if let retired, record.kekID == retired.file.id {
            kek = retired
        } else {
            throw TresorError(.unwrapFailed, "key \(record.keyID) is not wrapped for KEK '\(self.kekName)'")
        }
        guard let wrapped = record.wrappedBytes else {
            throw TresorError(.corruptObject, "key wrap \(record.keyID)/\(record.kekID) is not base64")
        }
        do {
            return try kek.unwrap(wrapped, algorithm: record.algorithm)
        } catch let error as TresorError {
            throw error
        } catch {
            throw TresorError(.unwrapFailed, "KEK '\(self.kekName)' does not unwrap key \(record.keyID) in domains/\(record.domainID)/keys/\(record.keyID.hex)/\(record.kekID.hex).wrap (wrong KEK, or the wrap was altered)")
        }
    }

    // MARK: Signing and verifying manifests

    public func sign(manifestBody body: [UInt8]) throws -> SignedManifest {
        let message = SignedManifest.signingContext + body
        let signer: [UInt8]
        let signature: [UInt8]
        if let unlocked {
            signer = unlocked.signingPublicKey
            signature = try unlocked.sign(message)
        } else if let clientSeed {
            signer = try Ed25519.publicKey(seed: clientSeed.bytes)
            signature = try Ed25519.sign(message, seed: clientSeed.bytes)
        } else {
            throw TresorError(.keyStore, "no signing key")
        }
        return SignedManifest(body: Base64.encode(body), signer: Hex.encode(signer), signature: Base64.encode(signature),
                              certificate: self.unlocked == nil ? self.certificate : nil)
    }

    /// Checks a manifest's signature against the verify keys this operator pins: its own, the roots
    /// added to it, and client keys those roots certified. A vault cannot satisfy this: it holds no
    /// signing key and cannot make a certificate.
    public func verify(_ signed: SignedManifest, bodyBytes: [UInt8], name: String) throws {
        guard let unlocked else {
            throw TresorError(.writeOnlyClient, "a write-only key store cannot verify recovery points", action: "use the operator's key store")
        }
        let roots = unlocked.roots
        guard let signer = Hex.decode(signed.signer), let signature = Base64.decode(signed.signature) else {
            throw TresorError(.badSignature, "manifest \(name) has a malformed signature")
        }
        let trusted: Bool
        if roots.contains(signer) {
            trusted = true
        } else if self.restored.contains(where: { $0.recoveryPointID == name && $0.signer == signed.signer }) {
            // Pinned for this one recovery point by the operator who restored its keys here.
            trusted = true
        } else if let certificate = signed.certificate, certificate.signer == signed.signer,
                  let issuer = Hex.decode(certificate.issuer), roots.contains(issuer),
                  let certificateSignature = Base64.decode(certificate.signature) {
            trusted = Ed25519.isValid(signature: certificateSignature,
                                      for: SignerCertificate.message(signer: signer, issuer: issuer, name: certificate.name),
                                      publicKey: issuer)
        } else {
            trusted = false
        }
        guard trusted else {
            throw TresorError(.untrustedSigner, "manifest \(name) is signed by \(signed.signer.prefix(16))…, a key this key store does not trust",
                              action: "the recovery point was not made by an enrolled client; do not restore it")
        }
        guard Ed25519.isValid(signature: signature, for: SignedManifest.signingContext + bodyBytes, publicKey: signer) else {
            throw TresorError(.badSignature, "manifest \(name) does not match its signature (altered)")
        }
    }
}

public enum IDKeys {
    /// A domain's ID key: `HKDF-SHA256(ikm: ID root, salt: domain name, info: "tresor/domain-id-key/v1")`.
    public static func derive(root: SymmetricKey, domain: DomainID) throws -> SymmetricKey {
        try HKDF.deriveKey(from: root, salt: Array(domain.rawValue.utf8), info: "tresor/domain-id-key/v1")
    }
}
