public import TresorCore
import TresorCrypto
public import TresorKeys

/// A recovery point opened for reading: its manifest verified against the operator's pinned keys, its
/// ID key and data keys unwrapped and checked against the manifest's commitments.
public final class OpenedRecoveryPoint: Sendable {
    public let manifest: LoadedManifest
    let domain: DomainID
    let idKey: SymmetricKey
    let dataKeys: [KeyID: SymmetricKey]
    let vault: Vault

    public var body: ManifestBody { self.manifest.body }

    public init(vault: Vault, keys: KeyRing, recoveryPointID: String) throws {
        let manifest = try vault.loadManifest(recoveryPointID)
        try keys.verify(manifest.signed, bodyBytes: manifest.bodyBytes, name: recoveryPointID)
        guard manifest.body.recoveryPointID == recoveryPointID else {
            throw TresorError(.integrity, "the manifest stored as \(recoveryPointID) is that of \(manifest.body.recoveryPointID)")
        }
        guard manifest.body.vaultID == vault.id else {
            throw TresorError(.integrity, "recovery point \(recoveryPointID) was made for vault \(manifest.body.vaultID), not this one")
        }
        self.manifest = manifest
        self.domain = try DomainID(manifest.body.domainID)
        self.idKey = try DomainKeys.openIDKey(vault: vault, keys: keys, manifest: manifest.body)
        self.dataKeys = try DomainKeys.openDataKeys(vault: vault, keys: keys, manifest: manifest.body)
        self.vault = vault
    }

    /// The data key for a chunk header's key ID; only keys the manifest names are accepted.
    func dataKey(_ id: KeyID) throws -> SymmetricKey {
        guard let key = self.dataKeys[id] else {
            throw TresorError(.integrity, "a chunk is sealed under data key \(id), which recovery point \(self.body.recoveryPointID) does not name")
        }
        return key
    }

    /// Reads a chunk object of the point's domain: the reader a ChunkOpener fetches chunks and bases with.
    func readChunk(_ id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try self.vault.store.read(.chunk(domain: self.domain, id: id), into: buffer)
    }

    /// How many chunks a reader asks the vault for at once (`ObjectStore.chunkReadBatch`).
    var chunkReadBatch: Int { self.vault.store.chunkReadBatch(chunkSize: self.body.chunkSize) }

    public func disk(_ position: Int) throws -> DiskEntry {
        guard let disk = self.body.disks.first(where: { $0.position == position }) else {
            throw TresorError(.invalidArgument, "recovery point \(self.body.recoveryPointID) has disks 0…\(self.body.disks.count - 1), not \(position)")
        }
        return disk
    }

    /// The disk's chunk IDs, each index page checked against the hash the manifest signed.
    public func index(of disk: DiskEntry) throws -> [ChunkID] {
        try Self.loadIndex(vault: self.vault, domain: self.domain, disk: disk)
    }

    static func loadIndex(vault: Vault, domain: DomainID, disk: DiskEntry) throws -> [ChunkID] {
        var ids: [ChunkID] = []
        ids.reserveCapacity(disk.chunkCount)
        for hash in disk.indexPages {
            let key = ObjectKey.indexPage(domain: domain, sha256: hash)
            ids += try verifiedIndexPage(try vault.store.get(key), sha256: hash, name: key.path)
        }
        guard ids.count == disk.chunkCount else {
            throw TresorError(.integrity, "disk \(disk.position) lists \(ids.count) chunks in its index, its manifest says \(disk.chunkCount)")
        }
        return ids
    }
}

/// An index page's chunk IDs, once its bytes hash to what the manifest names.
func verifiedIndexPage(_ bytes: [UInt8], sha256 hash: String, name: String) throws -> [ChunkID] {
    guard Hex.encode(SHA256.hash(bytes)) == hash else {
        throw TresorError(.integrity, "index page \(name) was altered (its hash does not match the manifest)")
    }
    return try IndexPage.decode(bytes, name: name)
}
