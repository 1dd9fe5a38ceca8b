import TresorCompression
import TresorCore
import TresorCrypto

/// Turns a plaintext chunk into a chunk object (ChunkObjectHeader): zstd when it shrinks the chunk,
/// then AES-256-GCM under the data key with a fresh random nonce and the header as associated data.
/// One per worker: it owns reusable zstd and cipher contexts and output buffers.
final class ChunkSealer {
    private let compressor: ZstdCompressor
    private let cipher = AESGCM()
    private let compressed: UnsafeMutableRawBufferPointer
    /// The object being built: header, ciphertext, tag.
    let object: UnsafeMutableRawBufferPointer

    init(maximumChunk: Int, compression: ZstdSetting) {
        self.compressor = ZstdCompressor(compression)
        self.compressed = .allocate(byteCount: ZstdCompressor.bound(maximumChunk), alignment: 64)
        self.object = .allocate(byteCount: objectCapacity(maximumChunk: maximumChunk), alignment: POSIX.directIOAlignment)
    }

    deinit {
        self.compressed.deallocate()
        self.object.deallocate()
    }

    /// Seals `plain` and returns the object's length in `object`.
    func seal(_ plain: UnsafeRawBufferPointer, id: ChunkID, dataKey: SymmetricKey, dataKeyID: KeyID) throws -> Int {
        var ignored = StageTimes()
        var clock = ThreadCPUClock()
        return try self.seal(plain, id: id, dataKey: dataKey, dataKeyID: dataKeyID, times: &ignored, clock: &clock)
    }

    /// Seals `plain`, charging compression and encryption to `times`.
    func seal(_ plain: UnsafeRawBufferPointer, id: ChunkID, dataKey: SymmetricKey, dataKeyID: KeyID,
              times: inout StageTimes, clock: inout ThreadCPUClock) throws -> Int {
        // Keep the compressed form only when it saves at least 1/64 of the chunk: below that, the
        // decompression cost on restore buys almost nothing.
        let worthwhile = plain.count - plain.count / 64
        let compressedLength = self.compressor.compress(plain, into: self.compressed, maximumOutput: worthwhile)
        times.compress += clock.lap()
        let payload = compressedLength.map { UnsafeRawBufferPointer(rebasing: self.compressed[0..<$0]) } ?? plain
        let header = ChunkObjectHeader(compressed: compressedLength != nil, chunkID: id, dataKeyID: dataKeyID,
                                       plaintextLength: plain.count, sealedLength: payload.count)
        header.encode(into: self.object)
        let nonce = UnsafeMutableRawBufferPointer(rebasing: self.object[ChunkObjectHeader.nonceRange])
        try SecureRandom.fill(nonce)
        let bodyStart = ChunkObjectHeader.byteCount
        let tagStart = bodyStart + payload.count
        try self.cipher.seal(
            key: dataKey, nonce: UnsafeRawBufferPointer(nonce),
            associatedData: UnsafeRawBufferPointer(rebasing: self.object[0..<ChunkObjectHeader.byteCount]),
            plaintext: payload,
            ciphertext: UnsafeMutableRawBufferPointer(rebasing: self.object[bodyStart..<tagStart]),
            tag: UnsafeMutableRawBufferPointer(rebasing: self.object[tagStart..<tagStart + ChunkObjectHeader.tagByteCount]))
        times.encrypt += clock.lap()
        return header.objectLength
    }
}

/// The reverse: checks a chunk object's header, authenticates and decrypts it, decompresses it and
/// recomputes its keyed ID. One per worker.
final class ChunkOpener {
    private let decompressor = ZstdDecompressor()
    private let cipher = AESGCM()
    private let scratch: UnsafeMutableRawBufferPointer
    /// Where objects are read to.
    let object: UnsafeMutableRawBufferPointer

    init(maximumChunk: Int) {
        self.scratch = .allocate(byteCount: maximumChunk, alignment: 64)
        self.object = .allocate(byteCount: objectCapacity(maximumChunk: maximumChunk), alignment: POSIX.directIOAlignment)
    }

    deinit {
        self.scratch.deallocate()
        self.object.deallocate()
    }

    /// Opens the object of `length` bytes in `object` into `plain` (exactly `plain.count` bytes expected).
    /// `keyFor` returns the data key for a key ID the recovery point names, or throws.
    func open(length: Int, expectedID: ChunkID, name: String, idKey: SymmetricKey,
              keyFor: (KeyID) throws -> SymmetricKey, into plain: UnsafeMutableRawBufferPointer) throws {
        let objectBytes = UnsafeRawBufferPointer(rebasing: self.object[0..<length])
        let header = try ChunkObjectHeader.decode(objectBytes, objectLength: length, name: name)
        guard header.chunkID == expectedID else {
            throw TresorError(.integrity, "chunk \(name) carries the ID \(header.chunkID) in its header")
        }
        guard header.plaintextLength == plain.count else {
            throw TresorError(.integrity, "chunk \(name) holds \(header.plaintextLength) bytes where the index expects \(plain.count)")
        }
        let key = try keyFor(header.dataKeyID)
        let bodyStart = ChunkObjectHeader.byteCount
        let tagStart = bodyStart + header.sealedLength
        let target = header.compressed ? UnsafeMutableRawBufferPointer(rebasing: self.scratch[0..<header.sealedLength]) : plain
        do {
            try self.cipher.open(
                key: key, nonce: UnsafeRawBufferPointer(rebasing: objectBytes[ChunkObjectHeader.nonceRange]),
                associatedData: UnsafeRawBufferPointer(rebasing: objectBytes[0..<ChunkObjectHeader.byteCount]),
                ciphertext: UnsafeRawBufferPointer(rebasing: objectBytes[bodyStart..<tagStart]),
                tag: UnsafeRawBufferPointer(rebasing: objectBytes[tagStart..<tagStart + ChunkObjectHeader.tagByteCount]),
                plaintext: target)
        } catch {
            throw TresorError(.integrity, "chunk \(name) fails authentication (altered, or sealed under another key)")
        }
        if header.compressed {
            do {
                try self.decompressor.decompress(UnsafeRawBufferPointer(target), into: plain)
            } catch {
                throw TresorError(.integrity, "chunk \(name) does not decompress: \(error)")
            }
        }
        var computed = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &computed) { out in
            idKey.withUnsafeBytes { HMACSHA256.authenticate(UnsafeRawBufferPointer(plain), key: $0, into: out) }
        }
        let id = withUnsafeBytes(of: computed) { ChunkID(bytes: $0) }
        guard id == expectedID else {
            throw TresorError(.integrity, "chunk \(name) decrypts to data whose keyed ID is \(id)")
        }
    }
}

/// The keyed ID of a plaintext chunk.
@inline(__always)
func chunkID(of plain: UnsafeRawBufferPointer, idKey: UnsafeRawBufferPointer) -> ChunkID {
    var computed = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    withUnsafeMutableBytes(of: &computed) { HMACSHA256.authenticate(plain, key: idKey, into: $0) }
    return withUnsafeBytes(of: computed) { ChunkID(bytes: $0) }
}

/// Room for the largest chunk object, rounded up for direct I/O (objects are read and written from
/// these buffers with O_DIRECT, in whole aligned blocks).
func objectCapacity(maximumChunk: Int) -> Int {
    let alignment = POSIX.directIOAlignment
    return (ChunkObjectHeader.byteCount + maximumChunk + ChunkObjectHeader.tagByteCount + alignment - 1) & ~(alignment - 1)
}
