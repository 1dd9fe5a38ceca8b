import Foundation
import TresorEngine

/// Small deterministic disk images for tests: zero, compressible and random extents of 64 KiB–2 MiB.
public enum TestImages {
    public static func write(_ path: String, size: Int, seed: UInt64) throws {
        var layout = SyntheticData.Generator(seed: seed)
        var content = SyntheticData.Generator(seed: seed &+ 1000)
        let synthetic = SyntheticData()
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        bytes.withUnsafeMutableBytes { buffer in
            while offset < size {
                let extent = min(size - offset, Int(1 + layout.next() % 32) * 65536)
                let region = UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + extent])
                switch layout.next() % 3 {
                case 0: break
                case 1: synthetic.fillCompressible(region, generator: &content)
                default: SyntheticData.fillRandom(region, generator: &content)
                }
                offset += extent
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Overwrites `count` scattered 4 KiB blocks with random bytes.
    public static func scribble(_ path: String, blocks count: Int, seed: UInt64) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        var generator = SyntheticData.Generator(seed: seed)
        for _ in 0..<count {
            let offset = (generator.next() % (size / 4096)) * 4096
            var block = [UInt8](repeating: 0, count: 4096)
            block.withUnsafeMutableBytes { SyntheticData.fillRandom($0, generator: &generator) }
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: block)
        }
    }

    public static func equal(_ a: String, _ b: String) -> Bool {
        FileManager.default.contentsEqual(atPath: a, andPath: b)
    }
}
