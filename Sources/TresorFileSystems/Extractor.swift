import Glibc
import TresorCore

/// What `tresor-restore extract --json` prints.
public struct ExtractResult: Codable, Sendable {
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var special = 0
    public var bytes: Int64 = 0
    /// Entries not extracted, each with the reason (unsafe name, device without --devices, …).
    public var skipped: [String] = []
}

/// Writes guest files into an output folder, treating every name and number as hostile: names are single
/// path components (no "/", no "." or "..", no NUL), everything is created relative to folder descriptors
/// this extraction opened itself with O_NOFOLLOW and O_EXCL, so no symlink (from the guest or planted in
/// the output) is ever followed and nothing lands outside the folder. Device nodes and setuid/setgid bits
/// only when asked; owners only when running as root. Recursion and entry counts are bounded.
public final class Extractor {
    public struct Options: Sendable {
        public var devices: Bool
        public var setuid: Bool
        /// Told of the bytes of each piece of file written.
        public var progress: @Sendable (Int) -> Void
        /// Asked before each piece: true stops the extraction with `operation.cancelled`.
        public var isCancelled: @Sendable () -> Bool
        public init(devices: Bool = false, setuid: Bool = false, progress: @escaping @Sendable (Int) -> Void = { _ in },
                    isCancelled: @escaping @Sendable () -> Bool = { false }) {
            self.devices = devices
            self.setuid = setuid
            self.progress = progress
            self.isCancelled = isCancelled
        }
    }

    static let maximumDepth = 256
    static let maximumEntries = 10_000_000

    let tree: any FileTree
    let options: Options
    let asRoot = getuid() == 0
    public private(set) var result = ExtractResult()
    private var entries = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)

    public init(tree: any FileTree, options: Options) {
        self.tree = tree
        self.options = options
    }

    deinit { self.buffer.deallocate() }

    /// Extracts `entry` (a directory's contents recursively) into `folder`, created if missing.
    public func extract(_ entry: FileEntry, into folder: String) throws -> ExtractResult {
        try POSIX.makeDirectories(folder)
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIX.error("open", folder) }
        defer { close(fd) }
        let name = entry.name == "/" ? "root" : entry.name
        try self.extract(entry, as: name, in: fd, path: "/" + (entry.name == "/" ? "" : entry.name), depth: 0)
        return self.result
    }

    static func isSafe(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.utf8.contains(0) && name.utf8.count <= 255
    }

    private func extract(_ entry: FileEntry, as name: String, in folder: Int32, path: String, depth: Int) throws {
        self.entries += 1
        if self.options.isCancelled() { throw TresorError(.cancelled, "the extraction was cancelled at \(path)") }
        guard self.entries <= Self.maximumEntries else { throw TresorError(.fileSystemDamaged, "more than \(Self.maximumEntries) entries") }
        guard Self.isSafe(name) else {
            self.result.skipped.append("\(path): unsafe name")
            return
        }
        switch entry.kind {
        case .file:
            try self.writeFile(entry, name: name, in: folder, path: path)
        case .directory:
            guard depth < Self.maximumDepth else { throw TresorError(.fileSystemDamaged, "directories nest deeper than \(Self.maximumDepth) at \(path)") }
            guard mkdirat(folder, name, 0o700) == 0 else { throw self.failure("mkdir", path) }
            let fd = openat(folder, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw self.failure("open", path) }
            defer { close(fd) }
            self.result.directories += 1
            for child in try self.tree.list(entry) {
                try self.extract(child, as: child.name, in: fd, path: path == "/" ? "/" + child.name : path + "/" + child.name, depth: depth + 1)
            }
            self.apply(entry, fd: fd)
        case .symlink:
            guard let target = entry.target, !target.utf8.contains(0) else {
                self.result.skipped.append("\(path): symlink without a target")
                return
            }
            guard symlinkat(target, folder, name) == 0 else { throw self.failure("symlink", path) }
            if self.asRoot { fchownat(folder, name, entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) }
            var times = self.times(entry)
            utimensat(folder, name, &times, AT_SYMLINK_NOFOLLOW)
            self.result.symlinks += 1
        case .characterDevice, .blockDevice, .fifo:
            guard self.options.devices || entry.kind == .fifo else {
                self.result.skipped.append("\(path): \(entry.kind.rawValue) (pass --devices to create it)")
                return
            }
            let type: mode_t = entry.kind == .fifo ? S_IFIFO : entry.kind == .blockDevice ? S_IFBLK : S_IFCHR
            let numbers = entry.device ?? [0, 0]
            let device = numbers.count == 2 ? makeDevice(numbers[0], numbers[1]) : 0
            guard mknodat(folder, name, type | 0o600, device) == 0 else { throw self.failure("mknod", path) }
            if self.asRoot { fchownat(folder, name, entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) }
            fchmodat(folder, name, mode_t(self.permissions(entry)), 0)
            var times = self.times(entry)
            utimensat(folder, name, &times, AT_SYMLINK_NOFOLLOW)
            self.result.special += 1
        case .socket:
            self.result.skipped.append("\(path): socket")
        }
    }

    private func writeFile(_ entry: FileEntry, name: String, in folder: Int32, path: String) throws {
        let fd = openat(folder, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw self.failure("create", path) }
        defer { close(fd) }
        // Holes stay holes: only the ranges holding data are read and written.
        guard ftruncate(fd, off_t(entry.size)) == 0 else { throw self.failure("truncate", path) }
        for range in try self.tree.dataRanges(entry) {
            var offset = range.lowerBound
            while offset < range.upperBound {
                if self.options.isCancelled() { throw TresorError(.cancelled, "the extraction was cancelled at \(path)") }
                let want = Int(min(Int64(self.buffer.count), range.upperBound - offset))
                let got = try self.tree.read(entry, into: UnsafeMutableRawBufferPointer(rebasing: self.buffer[0..<want]), at: offset)
                guard got > 0 else { break }
                try POSIX.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: self.buffer[0..<got]), at: offset, path: path)
                offset += Int64(got)
                self.result.bytes += Int64(got)
                self.options.progress(got)
            }
        }
        self.apply(entry, fd: fd)
        self.result.files += 1
    }

    /// Owner, mode and times, through the descriptor (never the name, which could have been swapped).
    private func apply(_ entry: FileEntry, fd: Int32) {
        if self.asRoot { fchown(fd, entry.uid, entry.gid) }
        fchmod(fd, mode_t(self.permissions(entry)))
        var times = self.times(entry)
        futimens(fd, &times)
    }

    private func permissions(_ entry: FileEntry) -> UInt32 {
        self.options.setuid ? entry.permissions & 0o7777 : entry.permissions & 0o1777
    }

    private func times(_ entry: FileEntry) -> [timespec] {
        [timespec(tv_sec: Int(entry.accessedSeconds), tv_nsec: Int(entry.accessedNanoseconds)),
         timespec(tv_sec: Int(entry.modifiedSeconds), tv_nsec: Int(entry.modifiedNanoseconds))]
    }

    private func failure(_ operation: String, _ path: String) -> TresorError {
        let code = errno
        if code == EEXIST {
            return TresorError(.targetExists, "\(path) already exists in the output folder", action: "extract into an empty folder")
        }
        return TresorError(.targetUnwritable, "cannot \(operation) \(path) in the output folder: \(String(cString: strerror(code)))")
    }
}

/// Linux's device number encoding (gnu_dev_makedev).
func makeDevice(_ major: UInt32, _ minor: UInt32) -> dev_t {
    let major = UInt64(major)
    let minor = UInt64(minor)
    return dev_t((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32))
}
