import TresorCore

/// A read-only FAT12/16/32 reader: boot sector, the first FAT (read whole, bounded), cluster chains with
/// loop detection, 8.3 and long (VFAT) names. FAT has no owners or modes: files read as 0644 (0444 when
/// read-only), directories 0755, owned by root; times are local times without a zone, taken as UTC.
public final class FAT: FileTree {
    public var kindName: String { "fat\(self.bits)" }

    let source: any BlockSource
    let bits: Int
    let bytesPerSector: Int
    let clusterSize: Int
    let fatOffset: Int64
    let fat: [UInt8]
    let clusterCount: UInt32
    let dataOffset: Int64
    /// FAT12/16: the fixed root directory area; FAT32: nil (the root is a cluster chain).
    let fixedRoot: (offset: Int64, bytes: Int)?
    let rootCluster: UInt32

    static let maximumFATBytes = 64 << 20
    static let maximumDirectoryBytes = 64 << 20

    public init(_ source: any BlockSource) throws {
        let boot = Fields(try source.bytes(at: 0, count: 512), "the FAT boot sector")
        let bytesPerSector = Int(try boot.u16(11))
        let sectorsPerCluster = Int(try boot.u8(13))
        let reserved = Int(try boot.u16(14))
        let fats = Int(try boot.u8(16))
        let rootEntries = Int(try boot.u16(17))
        let total = try boot.u16(19) != 0 ? Int(try boot.u16(19)) : Int(try boot.u32(32))
        let fatSectors = try boot.u16(22) != 0 ? Int(try boot.u16(22)) : Int(try boot.u32(36))
        guard [512, 1024, 2048, 4096].contains(bytesPerSector), sectorsPerCluster > 0, sectorsPerCluster & (sectorsPerCluster - 1) == 0,
              reserved >= 1, fats >= 1, fats <= 4, fatSectors > 0, total > 0, Int64(total) * Int64(bytesPerSector) <= source.size else {
            throw TresorError(.fileSystemUnsupported, "no FAT boot sector with a consistent BPB")
        }
        let rootSectors = (rootEntries * 32 + bytesPerSector - 1) / bytesPerSector
        let dataStart = reserved + fats * fatSectors + rootSectors
        guard dataStart < total else { throw TresorError(.fileSystemDamaged, "the FAT's metadata is larger than the volume") }
        let clusters = (total - dataStart) / sectorsPerCluster
        self.bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32
        self.source = source
        self.bytesPerSector = bytesPerSector
        self.clusterSize = bytesPerSector * sectorsPerCluster
        self.clusterCount = UInt32(clusters)
        self.fatOffset = Int64(reserved) * Int64(bytesPerSector)
        let fatBytes = fatSectors * bytesPerSector
        guard fatBytes <= Self.maximumFATBytes else { throw TresorError(.fileSystemDamaged, "a FAT of \(fatBytes) bytes") }
        self.fat = try source.bytes(at: self.fatOffset, count: fatBytes)
        self.dataOffset = Int64(dataStart) * Int64(bytesPerSector)
        if self.bits == 32 {
            self.fixedRoot = nil
            self.rootCluster = try boot.u32(44) & 0x0FFF_FFFF
        } else {
            self.fixedRoot = (Int64(reserved + fats * fatSectors) * Int64(bytesPerSector), rootEntries * 32)
            self.rootCluster = 0
        }
        guard (self.bits == 32) == (try boot.u16(17) == 0) else {
            throw TresorError(.fileSystemDamaged, "a FAT\(self.bits) volume with \(rootEntries) fixed root entries")
        }
    }

    // MARK: Chains

    func next(_ cluster: UInt32) throws -> UInt32? {
        let value: UInt32
        switch self.bits {
        case 12:
            let at = Int(cluster) + Int(cluster) / 2
            guard at + 1 < self.fat.count else { throw TresorError(.fileSystemDamaged, "cluster \(cluster) is past the FAT") }
            let pair = UInt32(self.fat[at]) | UInt32(self.fat[at + 1]) << 8
            value = cluster & 1 == 0 ? pair & 0xFFF : pair >> 4
            if value >= 0xFF8 { return nil }
        case 16:
            guard Int(cluster) * 2 + 1 < self.fat.count else { throw TresorError(.fileSystemDamaged, "cluster \(cluster) is past the FAT") }
            value = UInt32(self.fat.littleEndian(UInt16.self, at: Int(cluster) * 2))
            if value >= 0xFFF8 { return nil }
        default:
            guard Int(cluster) * 4 + 3 < self.fat.count else { throw TresorError(.fileSystemDamaged, "cluster \(cluster) is past the FAT") }
            value = self.fat.littleEndian(UInt32.self, at: Int(cluster) * 4) & 0x0FFF_FFFF
            if value >= 0x0FFF_FFF8 { return nil }
        }
        return value
    }

    /// The clusters of a chain; free, bad, out-of-range or looping links are damage.
    func chain(_ first: UInt32) throws -> [UInt32] {
        var clusters: [UInt32] = []
        var cluster: UInt32? = first
        while let current = cluster {
            guard current >= 2, current < self.clusterCount + 2 else {
                throw TresorError(.fileSystemDamaged, "a cluster chain reaches cluster \(current), outside 2…\(self.clusterCount + 1)")
            }
            clusters.append(current)
            guard clusters.count <= Int(self.clusterCount) else { throw TresorError(.fileSystemDamaged, "a cluster chain loops") }
            cluster = try self.next(current)
        }
        return clusters
    }

    func clusterOffset(_ cluster: UInt32) -> Int64 { self.dataOffset + Int64(cluster - 2) * Int64(self.clusterSize) }

    // MARK: Entries

    public var root: FileEntry {
        FileEntry(name: "/", kind: .directory, permissions: 0o755, uid: 0, gid: 0, size: 0, modifiedSeconds: 0, modifiedNanoseconds: 0,
                  accessedSeconds: 0, accessedNanoseconds: 0, target: nil, device: nil, handle: UInt64(self.rootCluster))
    }

    func directoryBytes(_ directory: FileEntry) throws -> [UInt8] {
        if directory.handle == 0, let fixed = self.fixedRoot {
            return try self.source.bytes(at: fixed.offset, count: fixed.bytes)
        }
        let clusters = try self.chain(UInt32(truncatingIfNeeded: directory.handle))
        guard clusters.count * self.clusterSize <= Self.maximumDirectoryBytes else {
            throw TresorError(.fileSystemDamaged, "a directory of \(clusters.count) clusters")
        }
        var bytes: [UInt8] = []
        for cluster in clusters { bytes += try self.source.bytes(at: self.clusterOffset(cluster), count: self.clusterSize) }
        return bytes
    }

    public func list(_ directory: FileEntry) throws -> [FileEntry] {
        guard directory.kind == .directory else { throw TresorError(.invalidArgument, "\(directory.name) is not a directory") }
        let bytes = try self.directoryBytes(directory)
        var entries: [FileEntry] = []
        var longName: [UInt16: [UInt16]] = [:]
        var longChecksum: UInt8?
        for at in stride(from: 0, to: bytes.count - 31, by: 32) {
            let first = bytes[at]
            if first == 0 { break }
            if first == 0xE5 {
                longName = [:]
                continue
            }
            let attributes = bytes[at + 11]
            if attributes & 0x3F == 0x0F {
                // A long-name piece: 13 UTF-16 units, numbered from 1 at the end of the name backwards.
                let order = UInt16(first & 0x1F)
                let units = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30].map { bytes.littleEndian(UInt16.self, at: at + $0) }
                if first & 0x40 != 0 { longName = [:] }
                longName[order] = units
                longChecksum = bytes[at + 13]
                continue
            }
            defer { longName = [:] }
            if attributes & 0x08 != 0 { continue }   // the volume label
            let short = Array(bytes[at..<at + 11])
            var name: String
            if !longName.isEmpty, longChecksum == Self.shortNameChecksum(short),
               let count = longName.keys.max(), (1...count).allSatisfy({ longName[$0] != nil }) {
                let units = (1...count).flatMap { longName[$0]! }.prefix { $0 != 0 && $0 != 0xFFFF }
                name = String(decoding: units, as: UTF16.self)
            } else {
                name = Self.shortName(short, caseFlags: bytes[at + 12])
            }
            if name == "." || name == ".." { continue }
            let cluster = (self.bits == 32 ? UInt32(bytes.littleEndian(UInt16.self, at: at + 20)) << 16 : 0) | UInt32(bytes.littleEndian(UInt16.self, at: at + 26))
            let isDirectory = attributes & 0x10 != 0
            let modified = Self.time(date: bytes.littleEndian(UInt16.self, at: at + 24), time: bytes.littleEndian(UInt16.self, at: at + 22))
            let accessed = Self.time(date: bytes.littleEndian(UInt16.self, at: at + 18), time: 0)
            if name.isEmpty { name = "?" }
            entries.append(FileEntry(name: name, kind: isDirectory ? .directory : .file,
                                     permissions: isDirectory ? 0o755 : (attributes & 0x01 != 0 ? 0o444 : 0o644), uid: 0, gid: 0,
                                     size: isDirectory ? 0 : Int64(bytes.littleEndian(UInt32.self, at: at + 28)),
                                     modifiedSeconds: modified, modifiedNanoseconds: 0, accessedSeconds: accessed, accessedNanoseconds: 0,
                                     target: nil, device: nil, handle: UInt64(cluster)))
        }
        return entries
    }

    static func shortNameChecksum(_ name: [UInt8]) -> UInt8 {
        name.reduce(UInt8(0)) { sum, byte in ((sum & 1) << 7 &+ (sum >> 1)) &+ byte }
    }

    /// "NAME    EXT" as name.ext, lower-cased where the entry's case flags say (as Linux and Windows write them).
    static func shortName(_ raw: [UInt8], caseFlags: UInt8) -> String {
        var base = String(decoding: raw[0..<8], as: UTF8.self).trimmingTrailingSpaces()
        var ext = String(decoding: raw[8..<11], as: UTF8.self).trimmingTrailingSpaces()
        if raw[0] == 0x05 { base = "\u{E5}" + base.dropFirst() }
        if caseFlags & 0x08 != 0 { base = base.lowercased() }
        if caseFlags & 0x10 != 0 { ext = ext.lowercased() }
        return ext.isEmpty ? base : base + "." + ext
    }

    /// Seconds since 1970 of a FAT date and time (two-second resolution), taken as UTC.
    static func time(date: UInt16, time: UInt16) -> Int64 {
        let year = Int64(date >> 9) + 1980
        let month = Int64(max(1, min(12, (date >> 5) & 0xF)))
        let day = Int64(max(1, date & 0x1F))
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86400 + Int64(time >> 11) * 3600 + Int64((time >> 5) & 0x3F) * 60 + Int64(time & 0x1F) * 2
    }

    // MARK: Reading

    public func read(_ file: FileEntry, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard offset < file.size, file.handle != 0 else { return 0 }
        let clusters = try self.chain(UInt32(truncatingIfNeeded: file.handle))
        guard Int64(clusters.count) * Int64(self.clusterSize) >= file.size else {
            throw TresorError(.fileSystemDamaged, "\(file.name) claims \(file.size) bytes but its chain holds \(clusters.count) clusters")
        }
        let count = Int(min(Int64(buffer.count), file.size - offset))
        var done = 0
        while done < count {
            let position = offset + Int64(done)
            let index = Int(position / Int64(self.clusterSize))
            let within = Int(position % Int64(self.clusterSize))
            let take = min(count - done, self.clusterSize - within)
            try self.source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + take]),
                                 at: self.clusterOffset(clusters[index]) + Int64(within))
            done += take
        }
        return count
    }

    public func dataRanges(_ file: FileEntry) throws -> [Range<Int64>] {
        file.size > 0 ? [0..<file.size] : []
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
