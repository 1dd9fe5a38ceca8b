import TresorCompression
import TresorCore
import TresorCrypto

/// Turns a plaintext chunk, or a delta of one (ChunkDelta), into a chunk object (ChunkObjectHeader):
/// zstd when it shrinks the payload, then AES-256-GCM under the data key with a fresh random nonce and
/// the header as associated data. One per worker: it owns a reusable cipher context and output buffers,
/// and borrows a zstd context from the pipeline's pool for each chunk.
final class ChunkSealer {
    private let compressors: ZstdCompressorPool
    private let cipher = AESGCM()
    private let compressed: UnsafeMutableRawBufferPointer
    /// The object being built: header, ciphertext, tag.
    let object: UnsafeMutableRawBufferPointer

    init(maximumChunk: Int, compressors: ZstdCompressorPool) {
        self.compressors = compressors
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

    /// Seals `payload`, charging compression and encryption to `times`. The payload is the chunk itself,
    /// or with `base` its delta over that chunk; `chunkLength` is the chunk's length either way.
    func seal(_ payload: UnsafeRawBufferPointer, chunkLength: Int? = nil, base: ChunkID? = nil, id: ChunkID, dataKey: SymmetricKey,
              dataKeyID: KeyID, times: inout StageTimes, clock: inout ThreadCPUClock) throws -> Int {
        // Keep the compressed form only when it saves at least 1/64 of the payload: below that, the
        // decompression cost on restore buys almost nothing.
        let worthwhile = payload.count - payload.count / 64
        let compressedLength = self.compressors.withCompressor {
            $0.compress(payload, into: self.compressed, maximumOutput: worthwhile)
        }
        times.compress += clock.lap()
        let sealed = compressedLength.map { UnsafeRawBufferPointer(rebasing: self.compressed[0..<$0]) } ?? payload
        let header = ChunkObjectHeader(compressed: compressedLength != nil, chunkID: id, dataKeyID: dataKeyID,
                                       plaintextLength: chunkLength ?? payload.count, sealedLength: sealed.count, base: base)
        header.encode(into: self.object)
        let nonce = UnsafeMutableRawBufferPointer(rebasing: self.object[header.nonceRange])
        try SecureRandom.fill(nonce)
        let bodyStart = header.headerLength
        let tagStart = bodyStart + sealed.count
        try self.cipher.seal(
            key: dataKey, nonce: UnsafeRawBufferPointer(nonce),
            associatedData: UnsafeRawBufferPointer(rebasing: self.object[0..<bodyStart]),
            plaintext: sealed,
            ciphertext: UnsafeMutableRawBufferPointer(rebasing: self.object[bodyStart..<tagStart]),
            tag: UnsafeMutableRawBufferPointer(rebasing: self.object[tagStart..<tagStart + ChunkObjectHeader.tagByteCount]))
        times.encrypt += clock.lap()
        return header.objectLength
    }
}

/// Reads a chunk object by ID into a buffer and returns its length.
typealias ChunkObjectRead = (_ id: ChunkID, _ into: UnsafeMutableRawBufferPointer) throws -> Int

/// The reverse: checks a chunk object's header, authenticates and decrypts it, decompresses it, rebuilds
/// a delta over its base, and recomputes the keyed ID. One per worker.
final class ChunkOpener {
    private let decompressor = ZstdDecompressor()
    private let cipher = AESGCM()
    private let maximumChunk: Int
    private let scratch: UnsafeMutableRawBufferPointer
    /// Where objects are read to.
    let object: UnsafeMutableRawBufferPointer
    /// A delta's payload, allocated at the first delta.
    private var deltaPayload: UnsafeMutableRawBufferPointer?
    /// CPU seconds spent in each stage of every object opened so far (a restore reports them).
    private(set) var times = RestoreStageTimes()
    private var clock = ThreadCPUClock()

    init(maximumChunk: Int) {
        self.maximumChunk = maximumChunk
        self.scratch = .allocate(byteCount: maximumChunk, alignment: 64)
        self.object = .allocate(byteCount: objectCapacity(maximumChunk: maximumChunk), alignment: POSIX.directIOAlignment)
    }

    deinit {
        self.scratch.deallocate()
        self.object.deallocate()
        self.deltaPayload?.deallocate()
    }

    /// Reads chunk `id` with `read` (and, for a delta, its base) into `plain`, checks it, and returns the
    /// bytes fetched.
    func fetch(_ id: ChunkID, name: String, read: ChunkObjectRead, idKey: SymmetricKey, keyFor: (KeyID) throws -> SymmetricKey,
               into plain: UnsafeMutableRawBufferPointer) throws -> Int {
        _ = self.clock.lap()
        let length = try read(id, self.object)
        self.times.fetch += self.clock.lap()
        return try length + self.open(length: length, expectedID: id, name: name, read: read, idKey: idKey, keyFor: keyFor, into: plain)
    }

    /// Opens the object of `length` bytes in `object` into `plain` (exactly `plain.count` bytes expected)
    /// and returns the bytes of base fetched for a delta. `keyFor` returns the data key for a key ID the
    /// recovery point names, or throws; `read` fetches a delta's base.
    @discardableResult
    func open(length: Int, expectedID: ChunkID, name: String, read: ChunkObjectRead = ChunkOpener.noBases, idKey: SymmetricKey,
              keyFor: (KeyID) throws -> SymmetricKey, into plain: UnsafeMutableRawBufferPointer) throws -> Int {
        try self.open(UnsafeRawBufferPointer(rebasing: self.object[0..<length]), expectedID: expectedID, name: name, read: read,
                      idKey: idKey, keyFor: keyFor, into: plain)
    }

    /// The same for an object read elsewhere (a batch of several); a delta's base is read into `object`.
    @discardableResult
    func open(_ objectBytes: UnsafeRawBufferPointer, expectedID: ChunkID, name: String, read: ChunkObjectRead = ChunkOpener.noBases,
              idKey: SymmetricKey, keyFor: (KeyID) throws -> SymmetricKey, into plain: UnsafeMutableRawBufferPointer) throws -> Int {
        let length = objectBytes.count
        _ = self.clock.lap()
        let header = try ChunkObjectHeader.decode(objectBytes, objectLength: length, name: name)
        guard header.chunkID == expectedID else {
            throw TresorError(.integrity, "chunk \(name) carries the ID \(header.chunkID) in its header")
        }
        guard header.plaintextLength == plain.count else {
            throw TresorError(.integrity, "chunk \(name) holds \(header.plaintextLength) bytes where the index expects \(plain.count)")
        }
        var baseFetched = 0
        if let base = header.base {
            let payload = self.deltaPayloadAllocated()
            let payloadLength = try self.unseal(objectBytes, header: header, name: name, keyFor: keyFor, into: payload)
            // The delta's object is no longer needed: its base goes into the same buffer, and its
            // plaintext straight into `plain`, where the delta's blocks then land. The base is opened
            // without its keyed ID: the rebuilt chunk's ID, checked below, covers it.
            _ = self.clock.lap()
            baseFetched = try read(base, self.object)
            self.times.fetch += self.clock.lap()
            try self.openBase(length: baseFetched, expectedID: base, name: "\(name)'s base \(base)", keyFor: keyFor, into: plain)
            try ChunkDelta.apply(UnsafeRawBufferPointer(rebasing: payload[0..<payloadLength]), onto: plain, name: name)
            self.times.delta += self.clock.lap()
        } else {
            _ = try self.unseal(objectBytes, header: header, name: name, keyFor: keyFor, into: plain)
        }
        let id = idKey.withUnsafeBytes { chunkID(of: UnsafeRawBufferPointer(plain), idKey: $0) }
        self.times.chunkID += self.clock.lap()
        guard id == expectedID else {
            throw TresorError(.integrity, "chunk \(name) decrypts to data whose keyed ID is \(id)")
        }
        return baseFetched
    }

    /// The reader for objects that must be whole chunks.
    static func noBases(_ id: ChunkID, _ into: UnsafeMutableRawBufferPointer) throws -> Int {
        throw TresorError(.integrity, "a delta chunk names base \(id) where a whole chunk is expected")
    }

    /// Opens a whole chunk object without checking its keyed ID: a delta's base, on restore (the rebuilt
    /// chunk's ID covers it) and when a backup diffs against it (a delta made from it is rebuilt from these
    /// same authenticated bytes on restore, and checked then).
    func openBase(length: Int, expectedID: ChunkID, name: String, keyFor: (KeyID) throws -> SymmetricKey,
                  into plain: UnsafeMutableRawBufferPointer) throws {
        _ = self.clock.lap()
        let objectBytes = UnsafeRawBufferPointer(rebasing: self.object[0..<length])
        let header = try ChunkObjectHeader.decode(objectBytes, objectLength: length, name: name)
        guard header.chunkID == expectedID, header.base == nil, header.plaintextLength == plain.count else {
            throw TresorError(.integrity, "chunk \(name) is not the whole chunk of \(plain.count) bytes its ID names")
        }
        _ = try self.unseal(objectBytes, header: header, name: name, keyFor: keyFor, into: plain)
    }

    /// Authenticates, decrypts and decompresses an object's payload into `out` and returns its length:
    /// the chunk's for a whole chunk (exactly `out.count`), at most `out.count` for a delta.
    private func unseal(_ objectBytes: UnsafeRawBufferPointer, header: ChunkObjectHeader, name: String,
                        keyFor: (KeyID) throws -> SymmetricKey, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        let key = try keyFor(header.dataKeyID)
        let bodyStart = header.headerLength
        let tagStart = bodyStart + header.sealedLength
        guard header.compressed || header.sealedLength <= out.count else {
            throw TresorError(.integrity, "chunk \(name) holds more than its chunk's length")
        }
        let target = header.compressed ? UnsafeMutableRawBufferPointer(rebasing: self.scratch[0..<header.sealedLength])
                                       : UnsafeMutableRawBufferPointer(rebasing: out[0..<header.sealedLength])
        do {
            try self.cipher.open(
                key: key, nonce: UnsafeRawBufferPointer(rebasing: objectBytes[header.nonceRange]),
                associatedData: UnsafeRawBufferPointer(rebasing: objectBytes[0..<bodyStart]),
                ciphertext: UnsafeRawBufferPointer(rebasing: objectBytes[bodyStart..<tagStart]),
                tag: UnsafeRawBufferPointer(rebasing: objectBytes[tagStart..<tagStart + ChunkObjectHeader.tagByteCount]),
                plaintext: target)
        } catch {
            throw TresorError(.integrity, "chunk \(name) fails authentication (altered, or sealed under another key)")
        }
        self.times.decrypt += self.clock.lap()
        guard header.compressed else { return header.sealedLength }
        defer { self.times.decompress += self.clock.lap() }
        do {
            if header.base == nil {
                try self.decompressor.decompress(UnsafeRawBufferPointer(target), into: out)
                return out.count
            }
            return try self.decompressor.decompress(UnsafeRawBufferPointer(target), intoAtMost: out)
        } catch {
            throw TresorError(.integrity, "chunk \(name) does not decompress: \(error)")
        }
    }

    private func deltaPayloadAllocated() -> UnsafeMutableRawBufferPointer {
        if let payload = self.deltaPayload { return payload }
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: self.maximumChunk, alignment: 64)
        self.deltaPayload = payload
        return payload
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
public func objectCapacity(maximumChunk: Int) -> Int {
    let alignment = POSIX.directIOAlignment
    return (ChunkObjectHeader.deltaByteCount + maximumChunk + ChunkObjectHeader.tagByteCount + alignment - 1) & ~(alignment - 1)
}
