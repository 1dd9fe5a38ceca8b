/// Where a backup pipeline worker puts the new chunk objects it seals (`BackupDestination.chunkUploader`).
/// One worker owns one uploader and calls it from its own thread only. An object may sit gathered until a
/// later `put` or `finish` sends it: only `finish` returning means every object put is stored.
public protocol ChunkUploader: AnyObject {
    /// Stores the object, or gathers it to go with others; `object` is not used after the call returns.
    func put(id: ChunkID, object: UnsafeRawBufferPointer) throws
    /// Stores what is still gathered.
    func finish() throws
}

/// Stores each object as it comes: a directory vault, where a call costs little more than its write.
public final class ChunkByChunkUploader: ChunkUploader {
    private let destination: any BackupDestination
    private let session: String

    public init(destination: any BackupDestination, session: String) {
        self.destination = destination
        self.session = session
    }

    public func put(id: ChunkID, object: UnsafeRawBufferPointer) throws {
        try self.destination.putChunk(session: self.session, id: id, object: object)
    }

    public func finish() throws {}
}
