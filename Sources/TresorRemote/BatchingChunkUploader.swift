import NIOCore
import NIOHTTP1
import TresorCore

/// A backup worker's chunk objects for a served vault, gathered into chunk batches
/// (`POST /v1/sessions/{s}/chunks`) of up to `ChunkBatch.objectBytesPerBatch` each. The batch is built
/// straight in the request body, which is kept for the next batch: one buffer per worker, never a second
/// copy of the batch, and no fresh pages for each request.
final class BatchingChunkUploader: ChunkUploader {
    private let connection: VaultConnection
    private let session: String
    private var batch = ChunkBatchWriter(body: RequestBody())

    init(connection: VaultConnection, session: String) {
        self.connection = connection
        self.session = session
    }

    func put(id: ChunkID, object: UnsafeRawBufferPointer) throws {
        if !self.batch.isEmpty && !self.batch.fits(object.count, limit: ChunkBatch.objectBytesPerBatch) { try self.send() }
        self.batch.append(id: id, object: object)
    }

    func finish() throws {
        if !self.batch.isEmpty { try self.send() }
    }

    private func send() throws {
        _ = try self.connection.send(.POST, "/v1/sessions/\(self.session)/chunks", body: self.batch.body.buffer,
                                     contentType: "application/octet-stream", checksum: true)
        // A body the HTTP client still holds is copied on the next write, never overwritten.
        self.batch.removeAll()
    }
}

/// A request body a chunk batch is built in.
struct RequestBody: ChunkBatchBody {
    var buffer = ByteBuffer()

    var batchByteCount: Int { self.buffer.readableBytes }

    mutating func appendBatchBytes(_ bytes: UnsafeRawBufferPointer) {
        self.buffer.writeBytes(bytes)
    }

    mutating func setBatchUInt32(_ value: UInt32, at offset: Int) {
        self.buffer.setInteger(value, at: self.buffer.readerIndex + offset, endianness: .little)
    }

    mutating func truncateBatch(to count: Int) {
        self.buffer.moveWriterIndex(to: self.buffer.readerIndex + count)
    }
}
