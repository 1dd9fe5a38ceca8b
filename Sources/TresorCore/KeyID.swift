/// The ID of a data key or a KEK: 16 random bytes, shown as 32 hex digits. Chunk headers name their
/// data key by it; wraps name both the key and the KEK.
public struct KeyID: Hashable, Sendable, Codable, CustomStringConvertible {
    public static let byteCount = 16
    public var high: UInt64
    public var low: UInt64

    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= Self.byteCount)
        self.high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        self.low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    public init(bytes: [UInt8]) { self = bytes.withUnsafeBytes { KeyID(bytes: $0) } }

    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.init(bytes: bytes)
    }

    public func write(to out: UnsafeMutableRawBufferPointer) {
        out.storeBytes(of: self.high.bigEndian, toByteOffset: 0, as: UInt64.self)
        out.storeBytes(of: self.low.bigEndian, toByteOffset: 8, as: UInt64.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.withUnsafeMutableBytes { self.write(to: $0) }
        return out
    }

    public var hex: String { Hex.encode(self.bytes) }
    public var description: String { self.hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = KeyID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a key ID"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(self.hex)
    }
}
