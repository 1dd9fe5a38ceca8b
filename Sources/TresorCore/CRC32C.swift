internal import CTresorSystem

/// CRC-32C of a body: the transport checksum of uploads to a vault server (docs/server.md). It catches
/// bytes damaged in transit; authenticity is the AEAD's and the signature's job, not this.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        tresor_crc32c(0, bytes.baseAddress, UInt64(bytes.count))
    }

    /// The checksum of a body continued over `bytes`, for bodies checked part by part while each part is
    /// still in cache: `update(checksum(a), b) == checksum(a ‖ b)`, starting from 0.
    public static func update(_ checksum: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        tresor_crc32c(checksum, bytes.baseAddress, UInt64(bytes.count))
    }

    /// Eight hex digits, as the x-tresor-crc32c header carries it.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        Self.hex(Self.checksum(bytes))
    }

    /// A checksum as eight hex digits.
    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
