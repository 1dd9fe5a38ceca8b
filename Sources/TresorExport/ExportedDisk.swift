public import TresorEngine

/// What an NBD export serves: a disk's bytes, which ranges are holes, and for a writable export (a
/// copy-on-write overlay) writes and flushes.
public protocol ExportedDisk: Sendable {
    var size: Int64 { get }
    var isWritable: Bool { get }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Makes every completed write durable.
    func flush() throws
    /// The range from `offset` as runs of holes and data.
    func allocation(from offset: Int64, length: Int64) -> [(length: Int64, hole: Bool)]
}

/// A recovery point's disk straight from the vault, read-only.
extension RecoveryPointDiskReader: ExportedDisk {
    public var isWritable: Bool { false }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        throw ExportError.readOnly
    }

    public func flush() throws {}
}

enum ExportError: Error {
    case readOnly
}
