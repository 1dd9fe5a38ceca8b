import Hummingbird
import NIOCore
import TresorChunkStore
import TresorCore

/// Receives an upload's body part by part straight into a page-aligned buffer from a pool, checks its
/// length and CRC-32C on the way, and hands it on. A single object lands at the buffer's start; a chunk
/// batch's objects each land at an aligned offset (ChunkBatchPlacement). The store then writes every object
/// with direct I/O without another copy, and no per-upload allocation the size of a chunk is made: memory
/// stays at one buffer per upload slot whatever the number of clients.
struct UploadReceiver: Sendable {
    let buffers: AlignedBufferPool

    /// Receives `request`'s body, a chunk batch when `batch`, and runs `use` on it. Until the body is in,
    /// its connection `channel` takes several reads per wake-up (`ReadSizeLimit.widened`).
    func receive<T: Sendable>(_ request: Request, limit: Int, channel: any Channel, batch: Bool,
                              _ use: (ReceivedBody) async throws -> T) async throws -> T {
        try HTTPCoding.requireOctets(request)
        guard let expected = request.headers[.tresorCRC32C] else {
            throw TresorError(.requestInvalid, "uploads carry their CRC-32C in x-tresor-crc32c")
        }
        // The announced length sizes the buffer; a body without one may be as large as the limit.
        let announced = request.headers[.contentLength].flatMap { Int($0) }
        if let announced, announced > limit {
            throw TresorError(.requestTooLarge, "the request body is larger than \(limit) bytes")
        }
        let bodyCapacity = max(announced ?? limit, 1)
        return try await self.buffers.withBuffer(capacity: batch ? ChunkBatchPlacement.capacity(forBody: bodyCapacity) : bodyCapacity) { buffer in
            var length = 0
            var checksum: UInt32 = 0
            var placement = batch ? ChunkBatchPlacement() : nil
            try await ReadSizeLimit.widened(channel) {
                for try await part in request.body {
                    guard length + part.readableBytes <= min(bodyCapacity, limit) else {
                        throw TresorError(.requestTooLarge, "the request body is larger than \(announced ?? limit) bytes")
                    }
                    part.withUnsafeReadableBytes { bytes in
                        // Checked as it lands, while the part is still in cache: no second pass over the body.
                        checksum = CRC32C.update(checksum, bytes)
                        if placement != nil {
                            placement!.place(bytes, into: buffer)
                        } else {
                            UnsafeMutableRawBufferPointer(rebasing: buffer[length..<(length + bytes.count)]).copyMemory(from: bytes)
                        }
                    }
                    length += part.readableBytes
                }
            }
            guard CRC32C.hex(checksum) == expected.lowercased() else {
                throw TresorError(.requestInvalid, "the body's CRC-32C does not match x-tresor-crc32c (damaged in transit)",
                                  action: "send it again")
            }
            let entries = try placement?.finish()
            let end = entries.map { $0.last?.range.upperBound ?? 0 } ?? length
            return try await use(ReceivedBody(bytes: ReceivedBytes(address: UInt(bitPattern: buffer.baseAddress), count: end),
                                              length: length, entries: entries))
        }
    }
}

/// What `UploadReceiver.receive` hands on: the buffer's used bytes, the body's length on the wire, and for
/// a chunk batch where each of its objects lies in those bytes.
struct ReceivedBody: Sendable {
    let bytes: ReceivedBytes
    let length: Int
    let entries: [ChunkBatch.Entry]?
}

/// A received body, named by address so that it can be handed to a blocking thread. Valid only inside
/// the `use` closure of `UploadReceiver.receive`, which owns the buffer and awaits every use of it.
struct ReceivedBytes: Sendable {
    let address: UInt
    let count: Int

    func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: self.address), count: self.count))
    }
}
