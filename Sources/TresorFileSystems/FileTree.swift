/// What file-level restore sees of any guest file system: entries with their metadata, read by path.
public struct FileEntry: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case file, directory, symlink, characterDevice = "character-device", blockDevice = "block-device", fifo, socket
    }

    public var name: String
    public var kind: Kind
    /// Permission bits with setuid, setgid and sticky (mode & 0o7777).
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var modifiedSeconds: Int64
    public var modifiedNanoseconds: Int32
    public var accessedSeconds: Int64
    public var accessedNanoseconds: Int32
    /// A symlink's target.
    public var target: String?
    /// A device's major and minor numbers.
    public var device: [UInt32]?
    /// The file system's own handle for the entry (an inode number, a FAT cluster).
    public var handle: UInt64
}

/// A guest file system opened for reading.
public protocol FileTree: Sendable {
    var kindName: String { get }
    var root: FileEntry { get }
    /// The entries of a directory, without "." and "..".
    func list(_ directory: FileEntry) throws -> [FileEntry]
    /// Reads a regular file's bytes from `offset` (at most `buffer.count`); returns the count read.
    func read(_ file: FileEntry, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Byte ranges of a regular file that hold data (the rest reads as zeros): lets extraction keep holes.
    func dataRanges(_ file: FileEntry) throws -> [Range<Int64>]
}
