#if canImport(Glibc)
import Glibc
#endif
import TresorCore
import TresorCrypto

/// The 512-byte footer that makes a raw disk a fixed VHD, the format Azure takes for uploaded disks
/// (docs/formats.md, "VHD output"). A fixed VHD is the raw disk followed by this footer; nothing else.
public struct VHDFooter: Sendable, Equatable {
    public static let length = 512
    /// Seconds from 1970-01-01 to 2000-01-01, the VHD epoch.
    static let epochOffset: Int64 = 946_684_800
    /// The largest geometry the format can state. Readers that follow the CHS fields (Virtual PC, and qemu for
    /// creators it does not know) take the size from `currentSize` when they see it (see `geometry`).
    static let maximumGeometry = Geometry(cylinders: 65535, heads: 16, sectorsPerTrack: 255)

    public struct Geometry: Sendable, Equatable {
        public var cylinders: UInt16
        public var heads: UInt8
        public var sectorsPerTrack: UInt8
        var sectors: Int64 { Int64(self.cylinders) * Int64(self.heads) * Int64(self.sectorsPerTrack) }
    }

    public var size: Int64
    public var createdAtUnixSeconds: Int64
    public var uniqueID: [UInt8]

    public init(size: Int64, createdAtUnixSeconds: Int64, uniqueID: [UInt8]) {
        self.size = size
        self.createdAtUnixSeconds = createdAtUnixSeconds
        self.uniqueID = uniqueID
    }

    /// A footer for a disk of `size` bytes made now, with a random unique ID.
    public static func fresh(size: Int64) throws -> VHDFooter {
        VHDFooter(size: size, createdAtUnixSeconds: Int64(time(nil)), uniqueID: try SecureRandom.bytes(16))
    }

    /// The VHD specification's geometry for the size, when it states the size exactly; otherwise the maximum
    /// geometry, which tells readers to trust `currentSize`. A disk that is not a whole number of sectors
    /// cannot be a VHD at all (checked by `check`).
    public static func geometry(size: Int64) -> Geometry {
        let sectors = size / 512
        let specified = specificationGeometry(totalSectors: sectors)
        return specified.sectors == sectors ? specified : maximumGeometry
    }

    /// The CHS algorithm of the VHD specification (appendix "CHS Calculation").
    static func specificationGeometry(totalSectors: Int64) -> Geometry {
        let total = min(totalSectors, 65535 * 16 * 255)
        var sectorsPerTrack: Int64
        var heads: Int64
        var cylinderTimesHeads: Int64
        if total >= 65535 * 16 * 63 {
            sectorsPerTrack = 255
            heads = 16
            cylinderTimesHeads = total / sectorsPerTrack
        } else {
            sectorsPerTrack = 17
            cylinderTimesHeads = total / sectorsPerTrack
            heads = max((cylinderTimesHeads + 1023) / 1024, 4)
            if cylinderTimesHeads >= heads * 1024 || heads > 16 {
                sectorsPerTrack = 31
                heads = 16
                cylinderTimesHeads = total / sectorsPerTrack
            }
            if cylinderTimesHeads >= heads * 1024 {
                sectorsPerTrack = 63
                heads = 16
                cylinderTimesHeads = total / sectorsPerTrack
            }
        }
        return Geometry(cylinders: UInt16(min(cylinderTimesHeads / heads, 65535)), heads: UInt8(heads),
                        sectorsPerTrack: UInt8(sectorsPerTrack))
    }

    /// Refuses disks a VHD cannot describe: the format counts whole 512-byte sectors.
    public static func check(size: Int64) throws {
        guard size > 0, size % 512 == 0 else {
            throw TresorError(.invalidArgument, "a VHD holds whole 512-byte sectors; this disk is \(size) bytes", action: "restore it as raw")
        }
    }

    public func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.length)
        func put(_ bytes: [UInt8], at offset: Int) { out.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        func put32(_ value: UInt32, at offset: Int) { put((0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }, at: offset) }
        func put64(_ value: UInt64, at offset: Int) { put((0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }, at: offset) }
        put(Array("conectix".utf8), at: 0)
        put32(0x0000_0002, at: 8)                       // features: the "reserved" bit the format requires
        put32(0x0001_0000, at: 12)                      // file format version 1.0
        put64(.max, at: 16)                             // data offset: none, a fixed disk has no header
        put32(UInt32(truncatingIfNeeded: max(0, self.createdAtUnixSeconds - Self.epochOffset)), at: 24)
        put(Array("trsr".utf8), at: 28)                 // creator application
        put32(0x0001_0000, at: 32)                      // creator version
        put(Array("Wi2k".utf8), at: 36)                 // creator host OS, as the format knows only Windows and Mac
        put64(UInt64(self.size), at: 40)                // original size
        put64(UInt64(self.size), at: 48)                // current size
        let geometry = Self.geometry(size: self.size)
        put([UInt8(geometry.cylinders >> 8), UInt8(geometry.cylinders & 0xff), geometry.heads, geometry.sectorsPerTrack], at: 56)
        put32(2, at: 60)                                // disk type: fixed
        put(self.uniqueID, at: 68)
        put32(Self.checksum(out), at: 64)
        return out
    }

    /// The one's complement of the byte sum, the checksum field itself counted as zero.
    static func checksum(_ footer: [UInt8]) -> UInt32 {
        var sum: UInt32 = 0
        for (offset, byte) in footer.enumerated() where !(64..<68).contains(offset) { sum &+= UInt32(byte) }
        return ~sum
    }
}
