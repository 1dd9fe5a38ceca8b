#if canImport(Glibc)
import Glibc
#endif
import TresorCore
internal import CTresorSystem

/// Thin, EINTR-safe wrappers over the few syscalls the directory store needs, each turning errno into a
/// `TresorError` that names the path (never file contents).
enum POSIX {
    static func error(_ operation: String, _ path: String, errno code: Int32 = errno) -> TresorError {
        let reason = String(cString: strerror(code))
        if code == ENOSPC || code == EDQUOT {
            return TresorError(.storageFull, "\(operation) \(path): \(reason)", action: "free space on the vault's file system")
        }
        if code == ENOENT { return TresorError(.missingObject, "\(path) does not exist") }
        return TresorError(.storageIO, "\(operation) \(path): \(reason)")
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error("open", path) }
        }
    }

    /// Writes all of `bytes` at the current offset.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
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

    /// Reads up to `buffer.count` bytes from offset 0 until end of file; returns the count.
    static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw error("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    static func fsync(_ fd: Int32, path: String) throws {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw error("fsync", path) }
        }
    }

    static func fileSize(_ fd: Int32, path: String) throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("stat", path) }
        return Int(st.st_size)
    }

    /// Creates `path` and any missing parents (mode 0700: the store is the vault's alone).
    static func makeDirectories(_ path: String) throws {
        if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw error("mkdir", path) }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw error("mkdir", path) }
    }
}
