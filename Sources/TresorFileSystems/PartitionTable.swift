import TresorCore

/// One partition of a disk, numbered as Linux names them (GPT and MBR primaries 1–4, MBR logicals from 5).
public struct Partition: Codable, Sendable, Equatable {
    public var number: Int
    public var start: Int64
    public var size: Int64
    /// A GPT type GUID, or an MBR type as two hex digits.
    public var type: String
    /// GPT's partition name.
    public var name: String?
}

/// The partition table of a VM disk (512-byte sectors): GPT (checked by its CRCs; the backup header when
/// the primary is damaged), MBR with extended partitions, or none (the disk is one file system).
public struct PartitionTable: Codable, Sendable {
    public enum Scheme: String, Codable, Sendable {
        case gpt
        case mbr
        case none
    }

    public var scheme: Scheme
    public var partitions: [Partition]

    static let sector: Int64 = 512
    /// Bounds on what untrusted tables may make the parser do.
    static let maximumGPTEntries = 4096
    static let maximumLogicalPartitions = 128

    public static func read(_ disk: any BlockSource) throws -> PartitionTable {
        guard disk.size >= 2 * sector else { return PartitionTable(scheme: .none, partitions: []) }
        let first = try disk.bytes(at: 0, count: Int(sector))
        guard first[510] == 0x55, first[511] == 0xAA, !Self.looksLikeFATBootSector(first) else {
            return PartitionTable(scheme: .none, partitions: [])
        }
        let entries = (0..<4).map { Array(first[446 + 16 * $0..<446 + 16 * ($0 + 1)]) }
        if entries.contains(where: { $0[4] == 0xEE }) {
            return PartitionTable(scheme: .gpt, partitions: try Self.readGPT(disk))
        }
        return PartitionTable(scheme: .mbr, partitions: try Self.readMBR(disk, entries: entries))
    }

    /// A FAT volume without a partition table also ends its first sector with 55 AA; its jump instruction and
    /// BPB tell it apart from an MBR.
    static func looksLikeFATBootSector(_ sector: [UInt8]) -> Bool {
        let jump = sector[0] == 0xEB || sector[0] == 0xE9
        let bytesPerSector = Int(sector.littleEndian(UInt16.self, at: 11))
        let label = String(decoding: sector[54..<59], as: UTF8.self) == "FAT12" || String(decoding: sector[54..<59], as: UTF8.self) == "FAT16"
            || String(decoding: sector[82..<87], as: UTF8.self) == "FAT32"
        return jump && [512, 1024, 2048, 4096].contains(bytesPerSector) && label
    }

    // MARK: GPT

    static func readGPT(_ disk: any BlockSource) throws -> [Partition] {
        let lastSector = disk.size / sector - 1
        var failure: (any Error)?
        for headerSector in [Int64(1), lastSector] {
            do {
                return try self.readGPT(disk, headerAt: headerSector, lastSector: lastSector)
            } catch {
                failure = failure ?? error
            }
        }
        throw failure!
    }

    static func readGPT(_ disk: any BlockSource, headerAt headerSector: Int64, lastSector: Int64) throws -> [Partition] {
        let raw = try disk.bytes(at: headerSector * sector, count: Int(sector))
        let header = Fields(raw, "the GPT header at sector \(headerSector)")
        guard try header.slice(0, 8) == Array("EFI PART".utf8) else {
            throw TresorError(.fileSystemDamaged, "the protective MBR announces a GPT, but sector \(headerSector) holds no GPT header")
        }
        let headerSize = Int(try header.u32(12))
        guard (92...Int(sector)).contains(headerSize) else { throw TresorError(.fileSystemDamaged, "the GPT header claims \(headerSize) bytes") }
        var zeroed = Array(raw[0..<headerSize])
        zeroed.replaceSubrange(16..<20, with: [0, 0, 0, 0])
        guard CRC32.checksum(zeroed) == (try header.u32(16)) else {
            throw TresorError(.fileSystemDamaged, "the GPT header at sector \(headerSector) fails its CRC")
        }
        let entriesSector = Int64(try header.u64(72))
        let count = Int(try header.u32(80))
        let entrySize = Int(try header.u32(84))
        guard count <= maximumGPTEntries, (128...4096).contains(entrySize), entrySize % 8 == 0,
              entriesSector >= 2, entriesSector <= lastSector else {
            throw TresorError(.fileSystemDamaged, "the GPT header describes \(count) entries of \(entrySize) bytes at sector \(entriesSector)")
        }
        let array = try disk.bytes(at: entriesSector * sector, count: count * entrySize)
        guard CRC32.checksum(array) == (try header.u32(88)) else {
            throw TresorError(.fileSystemDamaged, "the GPT partition entries fail their CRC")
        }
        var partitions: [Partition] = []
        for index in 0..<count {
            let entry = Fields(Array(array[index * entrySize..<(index + 1) * entrySize]), "GPT entry \(index + 1)")
            let type = try entry.slice(0, 16)
            guard type.contains(where: { $0 != 0 }) else { continue }
            let firstLBA = Int64(bitPattern: try entry.u64(32))
            let lastLBA = Int64(bitPattern: try entry.u64(40))
            guard firstLBA > 0, firstLBA <= lastLBA, lastLBA <= lastSector else {
                throw TresorError(.fileSystemDamaged, "GPT entry \(index + 1) spans sectors \(firstLBA)…\(lastLBA) of a \(lastSector + 1)-sector disk")
            }
            let nameUnits = (0..<36).map { entry.bytes.littleEndian(UInt16.self, at: 56 + 2 * $0) }.prefix { $0 != 0 }
            partitions.append(Partition(number: index + 1, start: firstLBA * sector, size: (lastLBA - firstLBA + 1) * sector,
                                        type: Self.guidString(type), name: String(decoding: nameUnits, as: UTF16.self)))
        }
        return partitions
    }

    /// GUIDs as written: the first three fields little-endian, the rest in order.
    static func guidString(_ b: [UInt8]) -> String {
        let hex = { (bytes: [UInt8]) in bytes.map { String($0, radix: 16).leftPadded(2) }.joined() }
        return [hex(b[0..<4].reversed()), hex(b[4..<6].reversed()), hex(b[6..<8].reversed()), hex(Array(b[8..<10])), hex(Array(b[10..<16]))]
            .joined(separator: "-").uppercased()
    }

    // MARK: MBR

    static let extendedTypes: Set<UInt8> = [0x05, 0x0F, 0x85]

    static func readMBR(_ disk: any BlockSource, entries: [[UInt8]]) throws -> [Partition] {
        let sectors = disk.size / sector
        var partitions: [Partition] = []
        func checked(_ number: Int, start: Int64, count: Int64, type: UInt8) throws -> Partition {
            guard start > 0, count > 0, start + count <= sectors else {
                throw TresorError(.fileSystemDamaged, "MBR partition \(number) spans sectors \(start)…\(start + count - 1) of a \(sectors)-sector disk")
            }
            return Partition(number: number, start: start * sector, size: count * sector, type: String(type, radix: 16).leftPadded(2), name: nil)
        }
        var extended: Int64?
        for (index, entry) in entries.enumerated() where entry[4] != 0 {
            let start = Int64(entry.littleEndian(UInt32.self, at: 8))
            let count = Int64(entry.littleEndian(UInt32.self, at: 12))
            let partition = try checked(index + 1, start: start, count: count, type: entry[4])
            if Self.extendedTypes.contains(entry[4]) {
                extended = start
            } else {
                partitions.append(partition)
            }
        }
        // Logical partitions: a chain of extended boot records, each naming one partition (relative to
        // itself) and the next record (relative to the extended partition). Loops and long chains stop.
        if let extended {
            var next: Int64? = extended
            var visited = Set<Int64>()
            var number = 5
            while let record = next {
                guard visited.insert(record).inserted, visited.count <= maximumLogicalPartitions else {
                    throw TresorError(.fileSystemDamaged, "the chain of extended boot records loops or passes \(maximumLogicalPartitions) entries")
                }
                let ebr = try disk.bytes(at: record * sector, count: Int(sector))
                guard ebr[510] == 0x55, ebr[511] == 0xAA else {
                    throw TresorError(.fileSystemDamaged, "the extended boot record at sector \(record) has no signature")
                }
                let logical = Array(ebr[446..<462])
                let link = Array(ebr[462..<478])
                if logical[4] != 0 {
                    partitions.append(try checked(number, start: record + Int64(logical.littleEndian(UInt32.self, at: 8)),
                                                  count: Int64(logical.littleEndian(UInt32.self, at: 12)), type: logical[4]))
                    number += 1
                }
                next = link[4] != 0 && Self.extendedTypes.contains(link[4]) ? extended + Int64(link.littleEndian(UInt32.self, at: 8)) : nil
            }
        }
        return partitions.sorted { $0.number < $1.number }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - self.count)) + self }
}
