import Foundation
import Testing
import TresorCore
import TresorFileSystems
import TresorTestSupport

/// A disk image in memory: the parsers see exactly these bytes.
struct MemorySource: BlockSource {
    let data: [UInt8]
    var size: Int64 { Int64(self.data.count) }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        buffer.copyMemory(from: UnsafeRawBufferPointer(start: self.data.withUnsafeBytes { $0.baseAddress! + Int(offset) }, count: buffer.count))
    }
}

@Suite(.serialized, .enabled(if: GuestImages.available, "needs mkfs.ext4 and sfdisk (Tools/install-deps.sh)"))
struct ParserTests {
    /// One GPT and one MBR disk, shared by the tests of this suite, and the source of one file in them. Held
    /// in memory: a static lives to the end of the process, so its directory would never be removed.
    static let images: (gpt: [UInt8], mbr: [UInt8], fs: [UInt8], bigFile: [UInt8]) = {
        let dir = TemporaryDirectory()
        try! GuestImages.makeTree(dir.file("tree"))
        try! GuestImages.ext4(from: dir.file("tree"), to: dir.file("fs.img"), sizeMiB: 24)
        try! GuestImages.disk(dir.file("gpt.img"), fileSystem: dir.file("fs.img"), gpt: true)
        try! GuestImages.disk(dir.file("mbr.img"), fileSystem: dir.file("fs.img"), gpt: false)
        func bytes(_ name: String) -> [UInt8] { [UInt8](try! Data(contentsOf: URL(fileURLWithPath: dir.file(name)))) }
        return (bytes("gpt.img"), bytes("mbr.img"), bytes("fs.img"), bytes("tree/home/alice/big.bin"))
    }()

    @Test func partitionTablesMadeBySfdiskAreReadExactly() throws {
        let gpt = try PartitionTable.read(MemorySource(data: Self.images.gpt))
        #expect(gpt.scheme == .gpt)
        #expect(gpt.partitions.map(\.number) == [1, 2])
        #expect(gpt.partitions[1].start == 10240 * 512 && gpt.partitions[1].size == 34 << 20 && gpt.partitions[1].name == "root")
        #expect(gpt.partitions[0].type == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "the EFI system partition's type GUID")
        let mbr = try PartitionTable.read(MemorySource(data: Self.images.mbr))
        #expect(mbr.scheme == .mbr)
        #expect(mbr.partitions.map(\.number) == [1, 5], "the extended partition is a container, its logical partition is 5")
        #expect(mbr.partitions[1].start == 12288 * 512 && mbr.partitions[1].size == 30 << 20)
        let bare = try PartitionTable.read(MemorySource(data: Self.images.fs))
        #expect(bare.scheme == .none)
    }

    @Test func ext4MadeByMkfsReadsBackWithMetadata() throws {
        for (disk, partition) in [(Self.images.gpt, 2), (Self.images.mbr, 5)] {
            let (_, tree) = try Volume.open(MemorySource(data: disk), partition: partition)
            let hosts = try Volume.find("/etc/hosts", in: tree)
            #expect(hosts.kind == .file && hosts.permissions == 0o640 && hosts.uid == 1000 && hosts.gid == 1001 && hosts.modifiedSeconds == 1_577_934_245)
            var text = [UInt8](repeating: 0, count: 64)
            let n = try text.withUnsafeMutableBytes { try tree.read(hosts, into: $0, at: 0) }
            #expect(String(decoding: text[0..<n], as: UTF8.self) == "127.0.0.1 localhost\n")
            #expect(try Volume.find("/home/alice/link", in: tree).target == "../etc/hosts")
            #expect(try Volume.find("/home/alice/abs", in: tree).target == "/etc/shadow")
            let sparse = try Volume.find("/home/alice/sparse.bin", in: tree)
            #expect(sparse.size == 50 << 20)
            let ranges = try tree.dataRanges(sparse)
            #expect(ranges.reduce(0) { $0 + $1.count } <= 8192, "only the block holding 'tail' has data: \(ranges)")
            var tail = [UInt8](repeating: 0, count: 4)
            _ = try tail.withUnsafeMutableBytes { try tree.read(sparse, into: $0, at: 40_000_000) }
            #expect(tail == Array("tail".utf8))
            let fragmented = try Volume.find("/home/alice/fragmented.bin", in: tree)
            #expect(try tree.dataRanges(fragmented).count == 10, "ten pieces (in more extents than the inode holds: an extent tree)")
            for piece in 0..<10 {
                var byte = [UInt8](repeating: 0, count: 2)
                _ = try byte.withUnsafeMutableBytes { try tree.read(fragmented, into: $0, at: Int64(piece << 20) + 4095) }
                #expect(byte == [UInt8(piece + 1), 0], "piece \(piece) and the hole after it")
            }
            let huge = try Volume.find("/home/alice/huge.bin", in: tree)
            #expect(huge.size == 5 << 30)
            var far = [UInt8](repeating: 0, count: 3)
            _ = try far.withUnsafeMutableBytes { try tree.read(huge, into: $0, at: 4_500_000_000) }
            #expect(far == Array("far".utf8))
            let big = try Volume.find("/home/alice/big.bin", in: tree)
            var content = [UInt8](repeating: 0, count: Int(big.size))
            _ = try content.withUnsafeMutableBytes { try tree.read(big, into: $0, at: 0) }
            #expect(content == Self.images.bigFile)
            let leaf = "/deep/" + (1...40).map { "d\($0)" }.joined(separator: "/") + "/leaf.txt"
            #expect(try Volume.find(leaf, in: tree).size == 5)
            #expect(try Volume.find("/home/suid", in: tree).permissions == 0o4755)
            #expect(try Volume.find("/home/fifo", in: tree).kind == .fifo)
            #expect(throws: TresorError.self) { try Volume.find("/home/nobody", in: tree) }
        }
    }

    func code(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as TresorError {
            return error.code.rawValue
        } catch {
            return "\(error)"
        }
    }

    @Test func craftedDamageGivesClearErrors() throws {
        let fsStart = 10240 * 512
        func walk(_ disk: [UInt8], partition: Int? = 2) throws {
            let (_, tree) = try Volume.open(MemorySource(data: disk), partition: partition)
            var stack = [tree.root]
            while let next = stack.popLast() {
                for entry in try tree.list(next) {
                    if entry.kind == .directory { stack.append(entry) }
                    if entry.kind == .file { _ = try tree.dataRanges(entry) }
                }
            }
        }
        // Both GPT headers fail their CRC.
        var gpt = Self.images.gpt
        gpt[512 + 24] ^= 0xff
        gpt[gpt.count - 512 + 24] ^= 0xff
        #expect(code { _ = try PartitionTable.read(MemorySource(data: gpt)) } == "filesystem.damaged")
        // Only the primary: the backup header is used.
        var primary = Self.images.gpt
        primary[512 + 24] ^= 0xff
        #expect(try PartitionTable.read(MemorySource(data: primary)).partitions.count == 2)
        // A block size of 2^30.
        var blockSize = Self.images.gpt
        blockSize[fsStart + 1024 + 24] = 20
        #expect(code { try walk(blockSize) } == "filesystem.damaged")
        // An unknown incompatible feature.
        var feature = Self.images.gpt
        feature[fsStart + 1024 + 96 + 3] |= 0x80
        #expect(code { try walk(feature) } == "filesystem.unsupported")
        // No file system at all.
        var blank = Self.images.gpt
        blank.replaceSubrange(fsStart..<fsStart + 4096, with: [UInt8](repeating: 0, count: 4096))
        #expect(code { try walk(blank) } == "filesystem.unsupported")
        // A partition running past the end of the disk.
        var mbr = Self.images.mbr
        mbr[446 + 14] = 0xff
        #expect(code { _ = try PartitionTable.read(MemorySource(data: mbr)) } == "filesystem.damaged")
        // An extended boot record chain that points at itself.
        var loop = Self.images.mbr
        let ebr = 10240 * 512
        loop[ebr + 462 + 4] = 0x05
        loop.replaceSubrange(ebr + 462 + 8..<ebr + 462 + 12, with: [0, 0, 0, 0])
        #expect(code { _ = try PartitionTable.read(MemorySource(data: loop)) } == "filesystem.damaged")
    }

    /// Seeded mutation fuzzing: bytes of the metadata (partition tables, superblock, group descriptors, inode
    /// tables, directories, extent nodes) are changed at random and the whole tree is walked and read. Any
    /// outcome but a crash or a hang is acceptable: a TresorError, or a tree that reads.
    @Test func randomlyDamagedImagesNeverCrashTheParsers() throws {
        var generator = SyntheticRandom(seed: 20261122)
        // Half the rounds damage the GPT disk, half the MBR disk (with its extended boot record). Metadata lives in
        // the first megabytes of the file system and in the disk's first and last sectors.
        var outcomes = (read: 0, refused: 0)
        for round in 0..<400 {
            let gpt = round % 2 == 0
            let base = gpt ? Self.images.gpt : Self.images.mbr
            let fsStart = (gpt ? 10240 : 12288) * 512
            let regions = [0..<(34 * 512), (10240 * 512)..<(10240 * 512 + 512), fsStart..<(fsStart + (3 << 20)), (base.count - 34 * 512)..<base.count]
            var disk = base
            for _ in 0..<(1 + Int(generator.next() % 16)) {
                let region = regions[Int(generator.next() % UInt64(regions.count))]
                let at = region.lowerBound + Int(generator.next() % UInt64(region.count))
                disk[at] = round % 3 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : disk[at] ^ (1 << UInt8(generator.next() % 8))
            }
            do {
                let (_, tree) = try Volume.open(MemorySource(data: disk), partition: gpt ? 2 : 5)
                var stack = [(tree.root, 0)]
                var visited = 0
                var scratch = [UInt8](repeating: 0, count: 1 << 16)
                while let (next, depth) = stack.popLast(), visited < 5000 {
                    for entry in try tree.list(next) {
                        visited += 1
                        if entry.kind == .directory && depth < 64 { stack.append((entry, depth + 1)) }
                        if entry.kind == .file {
                            for range in try tree.dataRanges(entry).prefix(64) {
                                _ = try scratch.withUnsafeMutableBytes { try tree.read(entry, into: $0, at: range.lowerBound) }
                            }
                        }
                    }
                }
                outcomes.read += 1
            } catch is TresorError {
                outcomes.refused += 1
            }
        }
        #expect(outcomes.read + outcomes.refused == 400)
        #expect(outcomes.read > 0 && outcomes.refused > 0, "the damage both passed unnoticed and was caught: \(outcomes)")
    }
}

@Suite(.serialized, .enabled(if: GuestImages.available && FileManager.default.fileExists(atPath: "/usr/bin/mcopy"), "needs dosfstools and mtools"))
struct FATTests {
    @Test func fatVolumesMadeByMkfsVfatAndMcopyReadBack() throws {
        let dir = TemporaryDirectory()
        var generator = SystemRandomNumberGenerator()
        let payload = Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try payload.write(to: URL(fileURLWithPath: dir.file("payload.bin")))
        try "hello\n".write(toFile: dir.file("hello.txt"), atomically: false, encoding: .utf8)
        let files = [("/hello.txt", dir.file("hello.txt")), ("/Long Folder Name/A file with a long name.bin", dir.file("payload.bin"))]
        for (bits, size) in [(12, 4), (16, 24), (32, 48)] {
            try GuestImages.fat(dir.file("fat\(bits).img"), sizeMiB: size, bits: bits, files: files)
            let image = MemorySource(data: [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("fat\(bits).img")))))
            let (table, tree) = try Volume.open(image, partition: nil)
            #expect(table.scheme == .none, "a FAT volume's boot sector is not taken for an MBR")
            #expect(tree.kindName == "fat\(bits)")
            #expect(try tree.list(tree.root).map(\.name).sorted() == ["Long Folder Name", "hello.txt"])
            let file = try Volume.find("/Long Folder Name/A file with a long name.bin", in: tree)
            var bytes = [UInt8](repeating: 0, count: Int(file.size))
            _ = try bytes.withUnsafeMutableBytes { try tree.read(file, into: $0, at: 0) }
            #expect(Data(bytes) == payload, "FAT\(bits)")
            #expect(abs(file.modifiedSeconds - Int64(Date().timeIntervalSince1970)) < 86400 * 2, "a FAT time near now (it has no zone)")
        }
        // Damage: a cluster chain that loops on itself (FAT32: the file's first cluster points at itself).
        var damaged = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("fat32.img"))))
        let (_, tree) = try Volume.open(MemorySource(data: damaged), partition: nil)
        let file = try Volume.find("/Long Folder Name/A file with a long name.bin", in: tree)
        let reserved = Int(damaged.littleEndian(UInt16.self, at: 14)) * 512
        let cluster = Int(file.handle)
        damaged.replaceSubrange(reserved + 4 * cluster..<reserved + 4 * cluster + 4, with: withUnsafeBytes(of: UInt32(cluster).littleEndian, Array.init))
        let (_, broken) = try Volume.open(MemorySource(data: damaged), partition: nil)
        let looping = try Volume.find("/Long Folder Name/A file with a long name.bin", in: broken)
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        #expect(throws: TresorError.self) { _ = try scratch.withUnsafeMutableBytes { try broken.read(looping, into: $0, at: 0) } }

        // Seeded mutation of the boot sector, FATs and directories of each kind; errors are fine, crashes are not.
        var random = SyntheticRandom(seed: 4242)
        var outcomes = (read: 0, refused: 0)
        for bits in [12, 16, 32] {
            let base = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("fat\(bits).img"))))
            let metadata = min(base.count, 1 << 20)
            for _ in 0..<150 {
                var disk = base
                for _ in 0..<(1 + Int(random.next() % 12)) { disk[Int(random.next() % UInt64(metadata))] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
                do {
                    let (_, tree) = try Volume.open(MemorySource(data: disk), partition: nil)
                    var stack = [(tree.root, 0)]
                    while let (next, depth) = stack.popLast() {
                        for entry in try tree.list(next).prefix(1000) {
                            if entry.kind == .directory && depth < 32 { stack.append((entry, depth + 1)) }
                            if entry.kind == .file { _ = try scratch.withUnsafeMutableBytes { try tree.read(entry, into: $0, at: 0) } }
                        }
                    }
                    outcomes.read += 1
                } catch is TresorError {
                    outcomes.refused += 1
                }
            }
        }
        #expect(outcomes.read + outcomes.refused == 450 && outcomes.refused > 0, "\(outcomes)")
    }
}

/// A small deterministic generator (xorshift64*), so a failing round can be replayed.
struct SyntheticRandom {
    var state: UInt64
    init(seed: UInt64) { self.state = seed | 1 }
    mutating func next() -> UInt64 {
        self.state ^= self.state >> 12
        self.state ^= self.state << 25
        self.state ^= self.state >> 27
        return self.state &* 2_685_821_657_736_338_717
    }
}
