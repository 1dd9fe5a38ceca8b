/// The file format a disk is restored to.
public enum DiskImageFormat: String, Codable, Sendable, CaseIterable {
    /// The disk's bytes alone; zero chunks become holes.
    case raw
    /// A fixed VHD: the raw bytes, then a 512-byte footer (VHDFooter), as Azure takes uploaded disks.
    case vhd

    /// Refuses a disk the format cannot hold, before anything is written.
    public func check(size: Int64) throws {
        if self == .vhd { try VHDFooter.check(size: size) }
    }

    /// What follows the disk's bytes in the file.
    func trailer(size: Int64) throws -> [UInt8] {
        try self.check(size: size)
        return self == .vhd ? try VHDFooter.fresh(size: size).encoded() : []
    }

    /// The file name suffix `tresor-restore vm` gives each disk.
    public var fileSuffix: String { self == .raw ? "" : ".vhd" }
}
