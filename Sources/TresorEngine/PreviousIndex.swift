import TresorCore
import TresorCrypto

/// The chunk IDs of the VM's previous recovery point: chunks with these IDs need neither an upload nor a
/// question to the vault. Chunks verify marked bad are left out, so they are uploaded again.
struct PreviousIndex: Sendable {
    var ids: Set<ChunkID> = []
    /// The data keys the previous manifest names: a chunk reused from it is sealed under one of them.
    var dataKeys: Set<KeyID> = []

    static func load(session: BackupSession, destination: any BackupDestination) throws -> PreviousIndex {
        guard let previous = session.previous else { return PreviousIndex() }
        let bytes = try destination.manifest(session: session.id, recoveryPointID: previous.id)
        // The vault could hand over anything: the manifest must be the one the catalog chains to, and each
        // page the one it names. A vault that lies here only makes the commit fail (it checks every chunk
        // the new index names), never a recovery point that lacks data.
        guard Hex.encode(SHA256.hash(bytes)) == previous.manifestSHA256 else {
            throw TresorError(.integrity, "the previous recovery point's manifest \(previous.id) does not match its recorded hash")
        }
        let (_, _, body) = try SignedManifest.parse(bytes, name: previous.id)
        var index = PreviousIndex(dataKeys: Set(body.dataKeys.map(\.id)))
        for disk in body.disks {
            for hash in disk.indexPages {
                let page = try destination.indexPage(session: session.id, sha256: hash)
                for id in try verifiedIndexPage(page, sha256: hash, name: "\(hash) of recovery point \(previous.id)") where !id.isZero {
                    index.ids.insert(id)
                }
            }
        }
        index.ids.subtract(session.badChunks)
        return index
    }
}
