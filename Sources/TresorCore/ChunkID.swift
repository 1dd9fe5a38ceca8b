/// A keyed chunk ID: HMAC-SHA256 of the chunk's plaintext under its key domain's ID key.
///
/// Stored inline as four words so that sets of millions of IDs cost no allocation per ID. The all-zero
/// value is reserved for "this chunk is all zeros and was not stored".
public struct ChunkID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let byteCount = 32
    public static let zero = ChunkID(words: (0, 0, 0, 0))

    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// Reads 32 bytes in order (big-endian words, so hex and byte order agree).
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= Self.byteCount)
        func word(_ i: Int) -> UInt64 { UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        self.words = (word(0), word(1), word(2), word(3))
    }

    public init(bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { ChunkID(bytes: $0) }
    }

    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.init(bytes: bytes)
    }

    public var isZero: Bool { self == .zero }

    public func write(to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Self.byteCount)
        out.storeBytes(of: self.words.0.bigEndian, toByteOffset: 0, as: UInt64.self)
        out.storeBytes(of: self.words.1.bigEndian, toByteOffset: 8, as: UInt64.self)
        out.storeBytes(of: self.words.2.bigEndian, toByteOffset: 16, as: UInt64.self)
        out.storeBytes(of: self.words.3.bigEndian, toByteOffset: 24, as: UInt64.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.withUnsafeMutableBytes { self.write(to: $0) }
        return out
    }

    public var hex: String { Hex.encode(self.bytes) }
    public var description: String { self.hex }

    public static func == (a: ChunkID, b: ChunkID) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        // The ID is already a uniform MAC output; one word spreads buckets well.
        hasher.combine(self.words.0)
    }

    public static func < (a: ChunkID, b: ChunkID) -> Bool {
        (a.words.0, a.words.1, a.words.2, a.words.3) < (b.words.0, b.words.1, b.words.2, b.words.3)
    }
}

/// In JSON (wire messages), a chunk ID is its 64 hex digits.
extension ChunkID: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ChunkID(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a chunk ID (64 hex digits)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.hex)
    }
}
