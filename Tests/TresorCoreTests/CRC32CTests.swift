import Testing
import TresorCore

/// The transport checksum against its standard check value and a bit-by-bit reference, so the fast
/// (SSE4.2) path and the table path agree with the definition.
struct CRC32CTests {
    /// The definition: reflected CRC-32 with polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF.
    func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func matchesTheCheckValue() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { CRC32C.checksum($0) } == 0xE306_9283)
        #expect(check.withUnsafeBytes { CRC32C.hex($0) } == "e3069283")
        #expect([UInt8]().withUnsafeBytes { CRC32C.checksum($0) } == 0)
    }

    @Test func matchesTheDefinitionOnEveryLength() {
        var state: UInt64 = 0x1234_5678
        let bytes = (0..<4099).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for length in [1, 7, 8, 9, 63, 64, 65, 4096, 4099] {
            let slice = Array(bytes[0..<length])
            #expect(slice.withUnsafeBytes { CRC32C.checksum($0) } == self.reference(slice), "length \(length)")
        }
    }

    /// Inputs long enough for the three-stream path (three strides of 1 KiB, many times over), at every kind of
    /// remainder and start address, against the table path's definition.
    @Test func matchesTheDefinitionOnLongInputs() {
        var state: UInt64 = 0x9E37_79B9
        let bytes = (0..<(4 * 24_576 + 4_101)).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for (start, length) in [(0, 24_575), (0, 24_576), (0, 24_577), (3, 24_576), (1, 2 * 24_576 + 13), (5, 4 * 24_576 + 4_096)] {
            let slice = Array(bytes[start..<start + length])
            #expect(slice.withUnsafeBytes { CRC32C.checksum($0) } == self.reference(slice), "start \(start), length \(length)")
        }
    }

    @Test func continuesPartByPart() {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        for cut in [0, 1, 8, 4097, 9_999, 10_000] {
            let parts = bytes.withUnsafeBytes { all in
                CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: all[0..<cut])),
                              UnsafeRawBufferPointer(rebasing: all[cut...]))
            }
            #expect(parts == whole, "cut at \(cut)")
        }
        #expect(CRC32C.hex(whole) == bytes.withUnsafeBytes { CRC32C.hex($0) })
    }
}
