/// The byte layout of a stored chunk (docs/formats.md, "Chunk object"). Version 1 holds a whole chunk;
/// version 2 holds a delta: the chunk as the 4 KiB blocks that differ from a base chunk (ChunkDelta).
///
/// ```
/// offset size field
///      0    4 magic "TRCK"
///      4    1 format version (1: whole chunk, 2: delta)
///      5    1 flags: bit 0 = zstd-compressed, other bits must be 0
///      6    2 reserved, 0
///      8   32 chunk ID (keyed HMAC-SHA256 of the plaintext)
///     40   16 data-key ID
///     56    4 plaintext length (little-endian): of the chunk, also for a delta
///     60    4 sealed length (little-endian): bytes of ciphertext that follow the header
///  version 1:
///     64   12 AES-256-GCM nonce (random)
///  version 2:
///     64   32 base chunk ID: a version 1 chunk of the same domain and plaintext length
///     96   12 AES-256-GCM nonce (random)
///  then:
///      h    n ciphertext (h = 76 or 108)
///    h+n   16 GCM tag
/// ```
/// The whole header is the AEAD's associated data, so the ciphertext is bound to its chunk ID, base,
/// data-key ID, lengths and flags: moving a chunk under another name, pointing a delta at another base,
/// or flipping its compression flag, fails authentication. The base is in the clear so that the vault,
/// which holds no keys, keeps it while a delta needs it.
public struct ChunkObjectHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("TRCK".utf8)
    public static let wholeVersion: UInt8 = 1
    public static let deltaVersion: UInt8 = 2
    /// The header of a whole chunk; a delta's is `deltaByteCount`.
    public static let byteCount = 76
    public static let deltaByteCount = 108
    public static let tagByteCount = 16
    /// Upper bound of a chunk's plaintext (4 MiB chunks are the largest selectable).
    public static let maximumPlaintext = 4 << 20
    /// The largest chunk object: a delta's header, the largest plaintext stored raw, the tag.
    public static let maximumObjectByteCount = deltaByteCount + maximumPlaintext + tagByteCount

    public var compressed: Bool
    public var chunkID: ChunkID
    public var dataKeyID: KeyID
    public var plaintextLength: Int
    public var sealedLength: Int
    /// For a delta: the whole chunk its unchanged blocks come from.
    public var base: ChunkID?

    public init(compressed: Bool, chunkID: ChunkID, dataKeyID: KeyID, plaintextLength: Int, sealedLength: Int, base: ChunkID? = nil) {
        self.compressed = compressed
        self.chunkID = chunkID
        self.dataKeyID = dataKeyID
        self.plaintextLength = plaintextLength
        self.sealedLength = sealedLength
        self.base = base
    }

    public var headerLength: Int { self.base == nil ? Self.byteCount : Self.deltaByteCount }
    public var nonceRange: Range<Int> { self.headerLength - 12..<self.headerLength }
    public var objectLength: Int { self.headerLength + self.sealedLength + Self.tagByteCount }

    /// Writes the header (without the nonce, which the sealer fills) into the first bytes of `out`.
    public func encode(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= self.headerLength)
        for (i, b) in Self.magic.enumerated() { out[i] = b }
        out[4] = self.base == nil ? Self.wholeVersion : Self.deltaVersion
        out[5] = self.compressed ? 1 : 0
        out[6] = 0
        out[7] = 0
        self.chunkID.write(to: UnsafeMutableRawBufferPointer(rebasing: out[8..<40]))
        self.dataKeyID.write(to: UnsafeMutableRawBufferPointer(rebasing: out[40..<56]))
        out.storeBytes(of: UInt32(self.plaintextLength).littleEndian, toByteOffset: 56, as: UInt32.self)
        out.storeBytes(of: UInt32(self.sealedLength).littleEndian, toByteOffset: 60, as: UInt32.self)
        self.base?.write(to: UnsafeMutableRawBufferPointer(rebasing: out[64..<96]))
    }

    /// Parses and checks a header; `objectLength` is the size of the whole object when known. `bytes`
    /// needs `deltaByteCount` bytes when the object is that long (a delta's header is longer).
    public static func decode(_ bytes: UnsafeRawBufferPointer, objectLength: Int?, name: String) throws -> ChunkObjectHeader {
        guard bytes.count >= byteCount, Array(bytes[0..<4]) == magic else {
            throw TresorError(.corruptObject, "chunk \(name) is not a Tresor chunk object (bad magic or too short)")
        }
        guard bytes[4] == wholeVersion || bytes[4] == deltaVersion else {
            throw TresorError(.unsupportedFormat, "chunk \(name) has format version \(bytes[4]); this Tresor reads versions 1 and 2",
                              action: "upgrade Tresor")
        }
        let isDelta = bytes[4] == deltaVersion
        guard !isDelta || bytes.count >= deltaByteCount else {
            throw TresorError(.corruptObject, "chunk \(name) is a delta too short for its header")
        }
        guard bytes[5] & ~1 == 0, bytes[6] == 0, bytes[7] == 0 else {
            throw TresorError(.corruptObject, "chunk \(name) has unknown flags")
        }
        let plain = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 56, as: UInt32.self)))
        let sealed = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 60, as: UInt32.self)))
        guard plain > 0, plain <= maximumPlaintext, sealed > 0, sealed <= plain else {
            throw TresorError(.corruptObject, "chunk \(name) has impossible lengths (plain \(plain), sealed \(sealed))")
        }
        let header = ChunkObjectHeader(
            compressed: bytes[5] & 1 == 1,
            chunkID: ChunkID(bytes: UnsafeRawBufferPointer(rebasing: bytes[8..<40])),
            dataKeyID: KeyID(bytes: UnsafeRawBufferPointer(rebasing: bytes[40..<56])),
            plaintextLength: plain, sealedLength: sealed,
            base: isDelta ? ChunkID(bytes: UnsafeRawBufferPointer(rebasing: bytes[64..<96])) : nil)
        if header.base == header.chunkID || header.base?.isZero == true {
            throw TresorError(.corruptObject, "chunk \(name) is a delta over itself or over nothing")
        }
        if !isDelta && !header.compressed && sealed != plain {
            throw TresorError(.corruptObject, "chunk \(name) is stored raw but its lengths differ")
        }
        if let objectLength, objectLength != header.objectLength {
            throw TresorError(.corruptObject, "chunk \(name) is \(objectLength) bytes, its header says \(header.objectLength)")
        }
        return header
    }
}
