#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import TresorEngine

/// `tresor-diskgen`: synthetic VM disk images for demos, tests and benchmarks, and a mutator that
/// applies a day of scattered writes. Deterministic for a given seed.
@main
struct DiskImageGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tresor-diskgen",
        abstract: "Make synthetic VM disk images and mutate them.",
        subcommands: [Generate.self, Mutate.self])
}

/// Sizes like 2G, 512M, 64K or plain bytes.
struct Size: ExpressibleByArgument {
    let bytes: Int64
    init?(argument: String) {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var text = argument.uppercased()
        if text.hasSuffix("IB") { text.removeLast(2) } else if text.hasSuffix("B") { text.removeLast() }
        if let unit = text.last.flatMap({ units[$0] }) {
            guard let value = Double(text.dropLast()) else { return nil }
            self.bytes = Int64(value * Double(unit))
        } else {
            guard let value = Int64(text) else { return nil }
            self.bytes = value
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tresor-diskgen: error: \(message)\n".utf8))
    exit(1)
}

func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int64) {
    var done = 0
    while done < buffer.count {
        let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
        if n < 0 { fail("write failed: \(String(cString: strerror(errno)))") }
        done += n
    }
}

extension DiskImageGen {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gen",
            abstract: "Write an image: about a third zero extents (left as holes), a third compressible (~3:1), a third random, in 1–16 MiB extents.")

        @Argument(help: "Output image path.") var output: String
        @Option(help: "Image size, e.g. 2G.") var size = Size(argument: "2G")!
        @Option(help: "Seed.") var seed: UInt64 = 1
        @Flag(help: "Write zero extents instead of leaving holes.") var noSparse = false

        func run() throws {
            let fd = open(self.output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { fail("cannot create \(self.output): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            guard ftruncate(fd, off_t(self.size.bytes)) == 0 else { fail("cannot size \(self.output)") }
            var layout = SyntheticData.Generator(seed: self.seed)
            var content = SyntheticData.Generator(seed: self.seed &* 31 &+ 7)
            let synthetic = SyntheticData()
            let piece = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 64)
            defer { buffer.deallocate() }
            var offset: Int64 = 0
            var written = [Int64](repeating: 0, count: 3)
            while offset < self.size.bytes {
                let extent = min(self.size.bytes - offset, Int64(1 + layout.next() % 16) << 20 - Int64(layout.next() % 256) * 4096)
                // Pick the class furthest below its third.
                let kind = (0..<3).min { written[$0] < written[$1] || (written[$0] == written[$1] && layout.next() % 2 == 0) }!
                written[kind] += extent
                var position = offset
                while position < offset + extent {
                    let length = Int(min(Int64(piece), offset + extent - position))
                    let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
                    switch kind {
                    case 0:
                        if self.noSparse {
                            chunk.initializeMemory(as: UInt8.self, repeating: 0)
                            writeAll(fd, UnsafeRawBufferPointer(chunk), at: position)
                        }
                    case 1:
                        synthetic.fillCompressible(chunk, generator: &content)
                        writeAll(fd, UnsafeRawBufferPointer(chunk), at: position)
                    default:
                        SyntheticData.fillRandom(chunk, generator: &content)
                        writeAll(fd, UnsafeRawBufferPointer(chunk), at: position)
                    }
                    position += Int64(length)
                }
                offset += extent
            }
            print("wrote \(self.output): \(self.size.bytes) bytes; zero \(written[0]), compressible \(written[1]), random \(written[2])")
        }
    }

    struct Mutate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply scattered writes of 4–64 KiB (4 KiB aligned) totalling a percentage of the image: 60% random, 30% compressible, 10% zero.")

        @Argument(help: "Image to change in place.") var image: String
        @Option(help: "Percentage of the image size to write.") var percent = 1.0
        @Option(help: "Seed.") var seed: UInt64 = 2

        func run() throws {
            let fd = open(self.image, O_RDWR)
            guard fd >= 0 else { fail("cannot open \(self.image): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var st = stat()
            fstat(fd, &st)
            let size = Int64(st.st_size)
            guard size >= 1 << 20 else { fail("\(self.image) is smaller than 1 MiB") }
            var generator = SyntheticData.Generator(seed: self.seed)
            let synthetic = SyntheticData()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 64)
            defer { buffer.deallocate() }
            let target = Int64(Double(size) * self.percent / 100)
            var written: Int64 = 0
            var touched: [Int: Set<Int64>] = [256 << 10: [], 1 << 20: [], 4 << 20: []]
            var writes = 0
            while written < target {
                let length = Int(1 + generator.next() % 16) * 4096
                let offset = Int64(generator.next() % UInt64((size - Int64(length)) / 4096)) * 4096
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
                switch generator.next() % 10 {
                case 0..<6: SyntheticData.fillRandom(chunk, generator: &generator)
                case 6..<9: synthetic.fillCompressible(chunk, generator: &generator)
                default: chunk.initializeMemory(as: UInt8.self, repeating: 0)
                }
                writeAll(fd, UnsafeRawBufferPointer(chunk), at: offset)
                for region in touched.keys {
                    for r in (offset / Int64(region))...((offset + Int64(length) - 1) / Int64(region)) { touched[region]!.insert(r) }
                }
                written += Int64(length)
                writes += 1
            }
            fsync(fd)
            print("wrote \(written) bytes in \(writes) writes; regions touched: 256 KiB \(touched[256 << 10]!.count), 1 MiB \(touched[1 << 20]!.count), 4 MiB \(touched[4 << 20]!.count)")
        }
    }
}
