/// The byte layout of a stored chunk (docs/formats.md, "Chunk object"):
///
/// ```
/// offset size field
///      0    4 magic "TRCK"
///      4    1 format version (1)
///      5    1 flags: bit 0 = zstd-compressed, other bits must be 0
///      6    2 reserved, 0
///      8   32 chunk ID (keyed HMAC-SHA256 of the plaintext)
///     40   16 data-key ID
///     56    4 plaintext length (little-endian)
///     60    4 sealed length (little-endian): bytes of ciphertext that follow the header
///     64   12 AES-256-GCM nonce (random)
///     76    n ciphertext
///   76+n   16 GCM tag
/// ```
/// The whole 76-byte header is the AEAD's associated data, so the ciphertext is bound to its chunk ID,
/// data-key ID, lengths and flags: moving a chunk under another name, or flipping its compression flag,
/// fails authentication.
public struct ChunkObjectHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("TRCK".utf8)
    public static let currentVersion: UInt8 = 1
    public static let byteCount = 76
    public static let tagByteCount = 16
    public static let nonceRange = 64..<76
    /// Upper bound of a chunk's plaintext (4 MiB chunks are the largest selectable).
    public static let maximumPlaintext = 4 << 20

    public var compressed: Bool
    public var chunkID: ChunkID
    public var dataKeyID: KeyID
    public var plaintextLength: Int
    public var sealedLength: Int

    public init(compressed: Bool, chunkID: ChunkID, dataKeyID: KeyID, plaintextLength: Int, sealedLength: Int) {
        self.compressed = compressed
        self.chunkID = chunkID
        self.dataKeyID = dataKeyID
        self.plaintextLength = plaintextLength
        self.sealedLength = sealedLength
    }

    public var objectLength: Int { Self.byteCount + self.sealedLength + Self.tagByteCount }

    /// Writes the header (without the nonce, which the sealer fills) into the first 64 bytes of `out`.
    public func encode(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Self.byteCount)
        for (i, b) in Self.magic.enumerated() { out[i] = b }
        out[4] = Self.currentVersion
        out[5] = self.compressed ? 1 : 0
        out[6] = 0
        out[7] = 0
        self.chunkID.write(to: UnsafeMutableRawBufferPointer(rebasing: out[8..<40]))
        self.dataKeyID.write(to: UnsafeMutableRawBufferPointer(rebasing: out[40..<56]))
        out.storeBytes(of: UInt32(self.plaintextLength).littleEndian, toByteOffset: 56, as: UInt32.self)
        out.storeBytes(of: UInt32(self.sealedLength).littleEndian, toByteOffset: 60, as: UInt32.self)
    }

    /// Parses and checks a header; `objectLength` is the size of the whole object when known.
    public static func decode(_ bytes: UnsafeRawBufferPointer, objectLength: Int?, name: String) throws -> ChunkObjectHeader {
        guard bytes.count >= byteCount, Array(bytes[0..<4]) == magic else {
            throw TresorError(.corruptObject, "chunk \(name) is not a Tresor chunk object (bad magic or too short)")
        }
        guard bytes[4] == currentVersion else {
            throw TresorError(.unsupportedFormat, "chunk \(name) has format version \(bytes[4]); this Tresor reads version \(currentVersion)",
                              action: "upgrade Tresor")
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
            plaintextLength: plain, sealedLength: sealed)
        if !header.compressed && sealed != plain {
            throw TresorError(.corruptObject, "chunk \(name) is stored raw but its lengths differ")
        }
        if let objectLength, objectLength != header.objectLength {
            throw TresorError(.corruptObject, "chunk \(name) is \(objectLength) bytes, its header says \(header.objectLength)")
        }
        return header
    }
}
