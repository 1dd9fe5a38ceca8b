import TresorCore

/// A read-only ext2/3/4 reader (docs/file-restore.md): superblock, group descriptors, inodes, extent trees and
/// block maps, linear and hashed directories, fast and slow symlinks. Every on-disk number is checked against
/// the file system's bounds before use; trees are bounded in depth and size.
public final class Ext4: FileTree {
    public var kindName: String { "ext4" }

    let source: any BlockSource
    let blockSize: Int
    let blocksCount: UInt64
    let inodesCount: UInt32
    let inodesPerGroup: UInt32
    let inodeSize: Int
    let firstDataBlock: UInt64
    let descriptorSize: Int
    let is64Bit: Bool
    let hasFileType: Bool

    static let magic: UInt16 = 0xEF53
    static let rootInode: UInt32 = 2
    static let maximumExtentDepth = 5
    /// Extents (or mapped blocks) one file may have before it counts as damaged.
    static let maximumExtents = 1 << 22
    static let maximumDirectoryBytes: Int64 = 256 << 20

    // Incompatible features this reader understands; any other is refused as unsupported.
    static let knownIncompatible: UInt32 = 0x0002 /* filetype */ | 0x0004 /* recover */ | 0x0040 /* extents */ | 0x0080 /* 64bit */
        | 0x0100 /* mmp */ | 0x0200 /* flex_bg */ | 0x2000 /* csum_seed */ | 0x4000 /* largedir */ | 0x8000 /* inline_data */
        | 0x20000 /* casefold */

    public init(_ source: any BlockSource) throws {
        guard source.size >= 2048 else { throw TresorError(.fileSystemUnsupported, "the volume is too small to be ext4") }
        let superblock = Fields(try source.bytes(at: 1024, count: 1024), "the ext4 superblock")
        guard try superblock.u16(56) == Self.magic else {
            throw TresorError(.fileSystemUnsupported, "no ext2/3/4 superblock (magic 0xEF53) at byte 1024")
        }
        let logBlockSize = try superblock.u32(24)
        guard logBlockSize <= 6 else { throw TresorError(.fileSystemDamaged, "the superblock claims blocks of 2^\(10 + logBlockSize) bytes") }
        self.source = source
        self.blockSize = 1024 << Int(logBlockSize)
        let incompatible = try superblock.u32(96)
        let unknown = incompatible & ~Self.knownIncompatible
        guard unknown == 0 else {
            throw TresorError(.fileSystemUnsupported, "the ext4 file system uses features this reader does not know (incompat 0x\(String(unknown, radix: 16)); e.g. encryption or meta_bg)")
        }
        self.is64Bit = incompatible & 0x80 != 0
        self.hasFileType = incompatible & 0x2 != 0
        self.blocksCount = UInt64(try superblock.u32(4)) | (self.is64Bit ? UInt64(try superblock.u32(0x150)) << 32 : 0)
        self.inodesCount = try superblock.u32(0)
        self.inodesPerGroup = try superblock.u32(40)
        self.firstDataBlock = UInt64(try superblock.u32(20))
        let revision = try superblock.u32(76)
        self.inodeSize = revision >= 1 ? Int(try superblock.u16(88)) : 128
        self.descriptorSize = self.is64Bit ? Int(try superblock.u16(254)) : 32
        guard self.inodesPerGroup > 0, self.inodeSize >= 128, self.inodeSize <= self.blockSize, self.inodeSize & (self.inodeSize - 1) == 0,
              self.descriptorSize >= 32, self.descriptorSize <= 1024, self.blocksCount > 0,
              self.blocksCount <= UInt64(source.size) / UInt64(self.blockSize) + 1 else {
            throw TresorError(.fileSystemDamaged, "the ext4 superblock's geometry is inconsistent with the volume")
        }
    }

    // MARK: Inodes

    struct Inode {
        let number: UInt32
        let fields: Fields
        var mode: UInt16 { (try? self.fields.u16(0)) ?? 0 }
        var flags: UInt32 { (try? self.fields.u32(32)) ?? 0 }
        var usesExtents: Bool { self.flags & 0x80000 != 0 }
        var hasInlineData: Bool { self.flags & 0x1000_0000 != 0 }
        var blockArea: [UInt8] { (try? self.fields.slice(40, 60)) ?? [] }
    }

    func inode(_ number: UInt32) throws -> Inode {
        guard number >= 1, number <= self.inodesCount else {
            throw TresorError(.fileSystemDamaged, "inode \(number) is outside 1…\(self.inodesCount)")
        }
        let group = UInt64((number - 1) / self.inodesPerGroup)
        let index = UInt64((number - 1) % self.inodesPerGroup)
        let descriptorBlock = self.firstDataBlock + 1
        let descriptorOffset = Int64(descriptorBlock) * Int64(self.blockSize) + Int64(group) * Int64(self.descriptorSize)
        let descriptor = Fields(try self.source.bytes(at: descriptorOffset, count: self.descriptorSize), "group descriptor \(group)")
        var table = UInt64(try descriptor.u32(8))
        if self.is64Bit && self.descriptorSize >= 64 { table |= UInt64(try descriptor.u32(0x28)) << 32 }
        guard table > 0, table < self.blocksCount else {
            throw TresorError(.fileSystemDamaged, "group \(group)'s inode table is at block \(table), outside the file system")
        }
        let offset = Int64(table) * Int64(self.blockSize) + Int64(index) * Int64(self.inodeSize)
        return Inode(number: number, fields: Fields(try self.source.bytes(at: offset, count: self.inodeSize), "inode \(number)"))
    }

    func entry(_ inode: Inode, name: String) throws -> FileEntry {
        let f = inode.fields
        let mode = try f.u16(0)
        let kind: FileEntry.Kind
        switch mode & 0xF000 {
        case 0x8000: kind = .file
        case 0x4000: kind = .directory
        case 0xA000: kind = .symlink
        case 0x2000: kind = .characterDevice
        case 0x6000: kind = .blockDevice
        case 0x1000: kind = .fifo
        case 0xC000: kind = .socket
        default: throw TresorError(.fileSystemDamaged, "inode \(inode.number) has the unknown type 0o\(String(mode >> 12, radix: 8))")
        }
        let size = Int64(bitPattern: UInt64(try f.u32(4)) | UInt64(try f.u32(108)) << 32)
        guard size >= 0 else { throw TresorError(.fileSystemDamaged, "inode \(inode.number) claims a negative size") }
        let extra = self.inodeSize > 128 ? Int(try f.u16(128)) : 0
        func time(_ base: Int, extraAt: Int) throws -> (Int64, Int32) {
            let seconds = Int64(Int32(bitPattern: try f.u32(base)))
            guard 128 + extra >= extraAt + 4, extraAt + 4 <= self.inodeSize else { return (seconds, 0) }
            let more = try f.u32(extraAt)
            return (seconds + Int64(more & 3) << 32, Int32(more >> 2))
        }
        let modified = try time(16, extraAt: 136)
        let accessed = try time(8, extraAt: 140)
        var entry = FileEntry(name: name, kind: kind, permissions: UInt32(mode & 0o7777),
                              uid: UInt32(try f.u16(2)) | UInt32(try f.u16(120)) << 16, gid: UInt32(try f.u16(24)) | UInt32(try f.u16(122)) << 16,
                              size: size, modifiedSeconds: modified.0, modifiedNanoseconds: modified.1,
                              accessedSeconds: accessed.0, accessedNanoseconds: accessed.1, target: nil, device: nil, handle: UInt64(inode.number))
        switch kind {
        case .symlink:
            entry.target = try self.symlinkTarget(inode, size: size)
        case .characterDevice, .blockDevice:
            // Old encoding in i_block[0], new (large numbers) in i_block[1].
            let area = Fields(inode.blockArea, "inode \(inode.number)'s device number")
            let old = try area.u32(0)
            let new = try area.u32(4)
            entry.device = old != 0 ? [(old >> 8) & 0xff, old & 0xff] : [(new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00)]
        default:
            break
        }
        return entry
    }

    func symlinkTarget(_ inode: Inode, size: Int64) throws -> String {
        guard size <= 4096 else { throw TresorError(.fileSystemDamaged, "symlink inode \(inode.number) claims a \(size)-byte target") }
        // A fast symlink keeps its target in the block area (no blocks, no extents).
        if size < 60 && !inode.usesExtents && !inode.hasInlineData {
            return String(decoding: inode.blockArea.prefix(Int(size)), as: UTF8.self)
        }
        return String(decoding: try self.readAll(inode, size: size), as: UTF8.self)
    }

    public var root: FileEntry {
        (try? self.entry(try self.inode(Self.rootInode), name: "/"))
            ?? FileEntry(name: "/", kind: .directory, permissions: 0o755, uid: 0, gid: 0, size: 0, modifiedSeconds: 0, modifiedNanoseconds: 0,
                         accessedSeconds: 0, accessedNanoseconds: 0, target: nil, device: nil, handle: UInt64(Self.rootInode))
    }

    // MARK: Block mapping

    /// A run of a file's blocks: logical block, physical block, count; unwritten runs read as zeros.
    struct Run {
        let logical: UInt64
        let physical: UInt64
        let count: UInt64
        let unwritten: Bool
    }

    func runs(_ inode: Inode) throws -> [Run] {
        guard !inode.hasInlineData else {
            throw TresorError(.fileSystemUnsupported, "inode \(inode.number) keeps its data inline (the inline_data feature), which this reader does not read")
        }
        var runs: [Run] = []
        if inode.usesExtents {
            try self.extentRuns(inode.blockArea, depth: 0, into: &runs, inode: inode.number)
        } else {
            try self.mappedRuns(inode, into: &runs)
        }
        return runs.sorted { $0.logical < $1.logical }
    }

    private func extentRuns(_ node: [UInt8], depth: Int, into runs: inout [Run], inode: UInt32) throws {
        let f = Fields(node, "an extent node of inode \(inode)")
        guard try f.u16(0) == 0xF30A else { throw TresorError(.fileSystemDamaged, "inode \(inode) has an extent node without its magic") }
        let entries = Int(try f.u16(2))
        let treeDepth = Int(try f.u16(6))
        guard depth <= Self.maximumExtentDepth, treeDepth <= Self.maximumExtentDepth, 12 + 12 * entries <= node.count else {
            throw TresorError(.fileSystemDamaged, "inode \(inode)'s extent tree is deeper or fuller than its node allows")
        }
        for i in 0..<entries {
            let at = 12 + 12 * i
            if treeDepth == 0 {
                let logical = UInt64(try f.u32(at))
                var length = UInt64(try f.u16(at + 4))
                let unwritten = length > 32768
                if unwritten { length -= 32768 }
                let physical = UInt64(try f.u16(at + 6)) << 32 | UInt64(try f.u32(at + 8))
                guard length > 0, physical + length <= self.blocksCount else {
                    throw TresorError(.fileSystemDamaged, "inode \(inode) maps blocks \(physical)…\(physical + length) outside the file system")
                }
                runs.append(Run(logical: logical, physical: physical, count: length, unwritten: unwritten))
                guard runs.count <= Self.maximumExtents else { throw TresorError(.fileSystemDamaged, "inode \(inode) has too many extents") }
            } else {
                let child = UInt64(try f.u16(at + 8)) << 32 | UInt64(try f.u32(at + 4))
                guard child > 0, child < self.blocksCount else {
                    throw TresorError(.fileSystemDamaged, "inode \(inode)'s extent index points at block \(child), outside the file system")
                }
                try self.extentRuns(try self.source.bytes(at: Int64(child) * Int64(self.blockSize), count: self.blockSize),
                                    depth: depth + 1, into: &runs, inode: inode)
            }
        }
    }

    /// ext2/3 block maps: 12 direct blocks, then single, double and triple indirect blocks.
    private func mappedRuns(_ inode: Inode, into runs: inout [Run]) throws {
        let area = Fields(inode.blockArea, "inode \(inode.number)'s block map")
        let perBlock = UInt64(self.blockSize / 4)
        var logical: UInt64 = 0
        func add(_ physical: UInt64, at logical: UInt64) throws {
            guard physical != 0 else { return }
            guard physical < self.blocksCount else { throw TresorError(.fileSystemDamaged, "inode \(inode.number) maps block \(physical) outside the file system") }
            if let last = runs.last, last.physical + last.count == physical, last.logical + last.count == logical {
                runs[runs.count - 1] = Run(logical: last.logical, physical: last.physical, count: last.count + 1, unwritten: false)
            } else {
                runs.append(Run(logical: logical, physical: physical, count: 1, unwritten: false))
                guard runs.count <= Self.maximumExtents else { throw TresorError(.fileSystemDamaged, "inode \(inode.number) maps too many blocks") }
            }
        }
        func walk(_ block: UInt64, level: Int, logical: inout UInt64) throws {
            let span = (0..<level).reduce(UInt64(1)) { r, _ in r * perBlock }
            guard block != 0 else {
                logical += span * perBlock
                return
            }
            guard block < self.blocksCount else { throw TresorError(.fileSystemDamaged, "inode \(inode.number)'s indirect block \(block) is outside the file system") }
            let table = Fields(try self.source.bytes(at: Int64(block) * Int64(self.blockSize), count: self.blockSize), "an indirect block")
            for i in 0..<Int(perBlock) {
                let entry = UInt64(try table.u32(4 * i))
                if level == 0 {
                    try add(entry, at: logical)
                    logical += 1
                } else {
                    try walk(entry, level: level - 1, logical: &logical)
                }
            }
        }
        for i in 0..<12 {
            try add(UInt64(try area.u32(4 * i)), at: logical)
            logical += 1
        }
        for level in 0..<3 { try walk(UInt64(try area.u32(48 + 4 * level)), level: level, logical: &logical) }
    }

    // MARK: Reading

    public func read(_ file: FileEntry, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        let inode = try self.inode(UInt32(file.handle))
        return try self.read(inode, size: file.size, runs: try self.runs(inode), into: buffer, at: offset)
    }

    func read(_ inode: Inode, size: Int64, runs: [Run], into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard offset < size else { return 0 }
        let count = Int(min(Int64(buffer.count), size - offset))
        let out = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        out.initializeMemory(as: UInt8.self, repeating: 0)
        let block = Int64(self.blockSize)
        for run in runs where !run.unwritten {
            let runStart = Int64(run.logical) * block
            let runEnd = runStart + Int64(run.count) * block
            let from = max(runStart, offset)
            let to = min(runEnd, offset + Int64(count))
            guard from < to else { continue }
            let physical = Int64(run.physical) * block + (from - runStart)
            try self.source.read(into: UnsafeMutableRawBufferPointer(rebasing: out[Int(from - offset)..<Int(to - offset)]), at: physical)
        }
        return count
    }

    func readAll(_ inode: Inode, size: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let runs = try self.runs(inode)
        _ = try bytes.withUnsafeMutableBytes { try self.read(inode, size: size, runs: runs, into: $0, at: 0) }
        return bytes
    }

    /// The file's written extents as byte ranges, neighbours merged.
    public func dataRanges(_ file: FileEntry) throws -> [Range<Int64>] {
        let block = Int64(self.blockSize)
        var ranges: [Range<Int64>] = []
        for run in try self.runs(try self.inode(UInt32(file.handle))) where !run.unwritten {
            let start = Int64(run.logical) * block
            let end = min(start + Int64(run.count) * block, file.size)
            guard start < end else { continue }
            if let last = ranges.last, last.upperBound >= start {
                ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, end)
            } else {
                ranges.append(start..<end)
            }
        }
        return ranges
    }

    // MARK: Directories

    public func list(_ directory: FileEntry) throws -> [FileEntry] {
        guard directory.kind == .directory else { throw TresorError(.invalidArgument, "\(directory.name) is not a directory") }
        guard directory.size <= Self.maximumDirectoryBytes else {
            throw TresorError(.fileSystemDamaged, "directory inode \(directory.handle) claims \(directory.size) bytes")
        }
        let inode = try self.inode(UInt32(directory.handle))
        let bytes = try self.readAll(inode, size: directory.size)
        var entries: [FileEntry] = []
        // Hashed directories keep ordinary entries in their leaf blocks; their index blocks look like one
        // empty entry spanning the block, so a linear walk of every block sees each name once.
        var blockStart = 0
        while blockStart < bytes.count {
            let blockEnd = min(blockStart + self.blockSize, bytes.count)
            var at = blockStart
            while at + 8 <= blockEnd {
                let number = bytes.littleEndian(UInt32.self, at: at)
                let recordLength = Int(bytes.littleEndian(UInt16.self, at: at + 4))
                let nameLength = Int(bytes[at + 6])
                guard recordLength >= 8, at + recordLength <= blockEnd, 8 + nameLength <= recordLength else {
                    throw TresorError(.fileSystemDamaged, "directory inode \(directory.handle) has a malformed entry at byte \(at)")
                }
                if number != 0 && nameLength > 0 {
                    let name = String(decoding: bytes[at + 8..<at + 8 + nameLength], as: UTF8.self)
                    if name != "." && name != ".." {
                        entries.append(try self.entry(try self.inode(number), name: name))
                    }
                }
                at += recordLength
            }
            blockStart = blockEnd
        }
        return entries
    }
}
