/// Deterministic data that looks like what VM disks hold, for the disk-image generator and benchmarks:
/// incompressible bytes, and text-and-records data that zstd shrinks about 3:1.
public struct SyntheticData: Sendable {
    /// SplitMix64: fast, seedable, good enough to fill disks (not for keys).
    public struct Generator: RandomNumberGenerator, Sendable {
        var state: UInt64
        public init(seed: UInt64) { self.state = seed &+ 0x9E37_79B9_7F4A_7C15 }
        public mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private let words: [[UInt8]]

    public init() {
        var generator = Generator(seed: 0x7E50_0000)
        let letters = Array("etaoinshrdlcumwfgypbvkjxqz".utf8)
        self.words = (0..<2048).map { _ in
            let length = 2 + Int(generator.next() % 9)
            // Skewed letter choice, like natural text.
            return (0..<length).map { _ in letters[Int(Double(generator.next() % 1000) / 1000 * Double(generator.next() % 1000) / 1000 * 26)] }
        }
    }

    public static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer, generator: inout Generator) {
        var offset = 0
        while offset + 8 <= buffer.count {
            buffer.storeBytes(of: generator.next(), toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < buffer.count {
            buffer[offset] = UInt8(truncatingIfNeeded: generator.next())
            offset += 1
        }
    }

    /// Log-like lines of Zipf-distributed words, mixed per 64 KiB with table-like records.
    public func fillCompressible(_ buffer: UnsafeMutableRawBufferPointer, generator: inout Generator) {
        var offset = 0
        var recordID = generator.next() % 1_000_000
        while offset < buffer.count {
            let pieceEnd = min(buffer.count, offset + 65536)
            if generator.next() % 3 == 0 {
                // 64-byte records: incrementing id and time, a few small fields, some random bytes.
                while offset < pieceEnd {
                    var record = [UInt8](repeating: 0, count: 64)
                    recordID += 1
                    record.withUnsafeMutableBytes { r in
                        r.storeBytes(of: recordID.littleEndian, toByteOffset: 0, as: UInt64.self)
                        r.storeBytes(of: (1_700_000_000 + recordID * 7).littleEndian, toByteOffset: 8, as: UInt64.self)
                        r.storeBytes(of: UInt32(generator.next() % 100).littleEndian, toByteOffset: 16, as: UInt32.self)
                        r.storeBytes(of: generator.next(), toByteOffset: 24, as: UInt64.self)
                        r.storeBytes(of: UInt16(generator.next() % 16).littleEndian, toByteOffset: 32, as: UInt16.self)
                    }
                    for b in record where offset < pieceEnd {
                        buffer[offset] = b
                        offset += 1
                    }
                }
            } else {
                while offset < pieceEnd {
                    let u = Double(generator.next() % 1_000_000) / 1_000_000
                    let word = self.words[Int(u * u * u * Double(self.words.count - 1))]
                    for b in word where offset < pieceEnd {
                        buffer[offset] = b
                        offset += 1
                    }
                    if offset < pieceEnd {
                        buffer[offset] = generator.next() % 12 == 0 ? 0x0a : 0x20
                        offset += 1
                    }
                }
            }
        }
    }
}
