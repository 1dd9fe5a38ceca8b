import TresorCore
import TresorCrypto

/// What the vault checks before it commits a recovery point, without keys: the manifest parses and
/// belongs to this vault, session, VM and domain; it continues the VM's chain (so a replayed or forked
/// commit is refused); its disks are the session's; every index page, every chunk the pages name and
/// every data key the manifest names is stored. The signature and the plaintext behind the IDs are for
/// key holders to check, on restore and verify.
struct CommitCheck {
    let vault: Vault
    let session: VaultSession
    let loaded: LoadedManifest
    var body: ManifestBody { self.loaded.body }

    init(vault: Vault, session: VaultSession, manifestBytes: [UInt8]) throws {
        self.vault = vault
        self.session = session
        let (signed, bodyBytes, body) = try SignedManifest.parse(manifestBytes, name: nil)
        self.loaded = LoadedManifest(signed: signed, bodyBytes: bodyBytes, body: body,
                                     sha256: Hex.encode(SHA256.hash(manifestBytes)))
    }

    func run() throws {
        let info = self.session.info
        let body = self.body
        func reject(_ message: String) -> TresorError { TresorError(.commitRejected, message) }
        guard body.vaultID == info.vaultID else { throw reject("the manifest names vault \(body.vaultID), not this one") }
        guard body.vm.id == info.vm.id, body.vm.name == info.vm.name, body.vm.host == info.vm.host else {
            throw reject("the manifest names VM \(body.vm.id), the session is for \(info.vm.id)")
        }
        guard body.domainID == info.vm.domainID.rawValue else { throw reject("the manifest names another key domain") }
        guard ObjectKey.isValidManifestID(body.recoveryPointID) else {
            throw reject("'\(body.recoveryPointID)' is not a recovery point ID")
        }
        guard try self.vault.catalog.recoveryPoint(id: body.recoveryPointID) == nil else {
            throw reject("recovery point \(body.recoveryPointID) is already committed")
        }
        // The chain as the catalog has it now, not as it was when the session opened.
        let latest = try self.vault.catalog.recoveryPoints(vmID: info.vm.id).max(by: { $0.sequence < $1.sequence })
        guard body.sequence == (latest?.sequence ?? 0) + 1, body.previousManifest == latest?.manifestSHA256 else {
            throw reject("the manifest continues sequence \(body.sequence - 1), the VM's latest recovery point is \(latest?.sequence ?? 0)")
        }
        guard body.disks.map(\.id) == info.disks.map(\.id), body.disks.enumerated().allSatisfy({ $0.offset == $0.element.position }) else {
            throw reject("the manifest's disks are not the session's, in order")
        }
        guard BackupRequest.chunkSizes.contains(body.chunkSize) else { throw reject("chunk size \(body.chunkSize) is out of range") }
        let domainKeys = Set(try self.vault.catalog.dataKeys(domain: self.session.domain).map(\.keyID))
        for named in body.dataKeys where !domainKeys.contains(named.id) {
            throw TresorError(.missingObject, "data key \(named.id) named by the manifest has no stored wrap")
        }
        for disk in body.disks { try self.checkIndex(of: disk) }
    }

    private func checkIndex(of disk: DiskEntry) throws {
        let expectedCount = Int((disk.size + Int64(self.body.chunkSize) - 1) / Int64(self.body.chunkSize))
        guard disk.chunkCount == expectedCount else {
            throw TresorError(.commitRejected, "disk \(disk.position) lists \(disk.chunkCount) chunks, its size needs \(expectedCount)")
        }
        var count = 0
        for hash in disk.indexPages {
            guard let raw = Hex.decode(hash), raw.count == 32 else {
                throw TresorError(.commitRejected, "'\(hash)' is not an index page hash")
            }
            let key = ObjectKey.indexPage(domain: self.session.domain, sha256: hash)
            guard try self.vault.store.size(of: key) != nil else {
                throw TresorError(.missingObject, "index page \(key.path) named by the manifest is not stored")
            }
            let ids = try IndexPage.decode(try self.vault.store.get(key), name: key.path)
            count += ids.count
            for id in ids where !id.isZero && self.session.keyID(of: id) == nil {
                throw TresorError(.missingObject, "chunk \(ObjectKey.chunk(domain: self.session.domain, id: id).path) named by disk \(disk.position) is not stored")
            }
        }
        guard count == disk.chunkCount else {
            throw TresorError(.commitRejected, "disk \(disk.position)'s index pages hold \(count) chunks, its entry says \(disk.chunkCount)")
        }
    }
}
