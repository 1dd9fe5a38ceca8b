import TresorCore
import TresorCrypto

/// The chunk IDs of the VM's previous recovery point: chunks with these IDs need neither an upload nor a
/// question to the vault. Chunks verify marked bad are left out, so they are uploaded again.
struct PreviousIndex: Sendable {
    var ids: Set<ChunkID> = []
    /// The data keys the previous manifest names: a chunk reused from it is sealed under one of them.
    var dataKeys: Set<KeyID> = []
    /// Each disk's chunk IDs in order (zero IDs for zero chunks), by disk ID, and the chunk size they
    /// were cut at: what a chunk known unchanged since that point had.
    var idsByDisk: [String: (ids: [ChunkID], size: Int64)] = [:]
    var chunkSize = 0
    var recoveryPointID: String?
    /// Chunks verify found damaged: never reused by position either.
    var bad: Set<ChunkID> = []

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
        var index = PreviousIndex(dataKeys: Set(body.dataKeys.map(\.id)), chunkSize: body.chunkSize, recoveryPointID: previous.id)
        for disk in body.disks {
            var ordered = [ChunkID]()
            ordered.reserveCapacity(disk.chunkCount)
            for hash in disk.indexPages {
                let page = try destination.indexPage(session: session.id, sha256: hash)
                ordered += try verifiedIndexPage(page, sha256: hash, name: "\(hash) of recovery point \(previous.id)")
            }
            index.ids.formUnion(ordered.lazy.filter { !$0.isZero })
            if ordered.count == disk.chunkCount { index.idsByDisk[disk.id] = (ordered, disk.size) }
        }
        index.ids.subtract(session.badChunks)
        index.bad = Set(session.badChunks)
        return index
    }
}
