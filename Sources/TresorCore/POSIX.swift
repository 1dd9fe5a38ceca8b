#if canImport(Glibc)
public import Glibc
#endif
internal import CTresorSystem

/// Thin, EINTR-safe wrappers over the few syscalls the directory store needs, each turning errno into a
/// `TresorError` that names the path (never file contents).
public enum POSIX {
    public static func error(_ operation: String, _ path: String, errno code: Int32? = nil) -> TresorError {
        let code = code ?? errno
        let reason = String(cString: strerror(code))
        if code == ENOSPC || code == EDQUOT {
            return TresorError(.storageFull, "\(operation) \(path): \(reason)", action: "free space on the vault's file system")
        }
        if code == ENOENT { return TresorError(.missingObject, "\(path) does not exist") }
        return TresorError(.storageIO, "\(operation) \(path): \(reason)")
    }

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error("open", path) }
        }
    }

    /// Writes all of `bytes` at the current offset.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write", path)
            }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset`.
    public static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write", path)
            }
            done += n
        }
    }

    /// The alignment direct I/O needs for buffers, offsets and lengths here.
    public static let directIOAlignment = 4096

    /// Evicts a buffer the device has just read with a direct write from every cache of the machine, so
    /// that the next writes into it (the next chunk decompressed or sealed into the same buffer) start
    /// from memory. On the virtual machines measured here, writing into memory the device had just read
    /// cost up to twice as much: a restore's zstd took 0.48-0.94 CPU s for the 2 GiB benchmark image
    /// where it takes 0.40, and 0.40-0.42 s once its buffer was flushed after each write, for 0.05 s of
    /// flushing (docs/performance.md, "Buffers a device has read").
    public static func flushAfterDirectWrite(_ bytes: UnsafeRawBufferPointer) {
        tresor_flush_cache_lines(bytes.baseAddress, UInt64(bytes.count))
    }

    /// Reads up to `buffer.count` bytes from offset 0 until end of file; returns the count.
    public static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        try preadAll(fd, into: buffer, at: 0, path: path)
    }

    /// Reads up to `buffer.count` bytes at `offset`, stopping early only at end of file; returns the count.
    public static func preadAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw error("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// fsync of the folder holding `path`, so that a file created or removed there stays so after a crash.
    public static func syncFolder(of path: String) throws {
        let folder = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = try open(folder, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: folder)
    }

    public static func fsync(_ fd: Int32, path: String) throws {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw error("fsync", path) }
        }
    }

    public static func fileSize(_ fd: Int32, path: String) throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("stat", path) }
        return Int(st.st_size)
    }

    /// The entries of a folder, without "." and "..", and whether each is a folder; empty when the
    /// folder does not exist.
    public static func directoryEntries(_ path: String) throws -> [(name: String, isDirectory: Bool)] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw error("opendir", path)
        }
        defer { closedir(dir) }
        var out: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append((name, entry.pointee.d_type == DT_DIR)) }
        }
        return out
    }

    /// Creates `path` and any missing parents (mode 0700: the store is the vault's alone).
    public static func makeDirectories(_ path: String) throws {
        if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw error("mkdir", path) }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw error("mkdir", path) }
    }
}

/// Replaces a small file atomically and durably: temporary file, fsync, rename, fsync of the folder.
/// Key stores and vault configuration use it; a crash leaves the old or the new file, never a mix.
public enum AtomicFile {
    /// `temporaryFolder` (on the same file system) holds the file until the rename; by default the
    /// target's own folder.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600, temporaryFolder: String? = nil) throws {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let temporary = temporaryFolder.map { "\($0)/atomic-\(getpid())-\(UInt64.random(in: 0...UInt64.max))" }
            ?? "\(path).tmp-\(getpid())"
        let fd = try POSIX.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode)
        do {
            try bytes.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: temporary) }
            try POSIX.fsync(fd, path: temporary)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let failure = POSIX.error("rename", path)
            unlink(temporary)
            throw failure
        }
        let folderFD = try POSIX.open(folder, O_RDONLY | O_DIRECTORY)
        defer { close(folderFD) }
        try POSIX.fsync(folderFD, path: folder)
    }

    public static func read(_ path: String) throws -> [UInt8] {
        let fd = try POSIX.open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw POSIX.error("stat", path) }
        if st.st_mode & S_IFMT != S_IFREG { return try Self.readStream(fd, path: path) }
        let size = Int(st.st_size)
        var out = [UInt8](repeating: 0, count: size)
        let n = try out.withUnsafeMutableBytes { try POSIX.readAll(fd, into: $0, path: path) }
        if n < size { out.removeSubrange(n...) }
        return out
    }

    /// The most `read` takes from a pipe: secrets (a passphrase, a token) are far smaller.
    public static let streamLimit = 64 << 10

    /// A pipe has no size and no offsets (a secret handed over as `--token-file <(command)`): read it to
    /// its end with read(2), up to `streamLimit` bytes.
    private static func readStream(_ fd: Int32, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.streamLimit + 1)
        var filled = 0
        while filled < out.count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIX.error("read", path)
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= Self.streamLimit else {
            out.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            throw TresorError(.invalidArgument, "\(path) gives more than \(Self.streamLimit) bytes")
        }
        out.removeSubrange(filled...)
        return out
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
