import CTresorSystem
import Glibc
import TresorCore

/// Instant restore from the snapshot tier: a usable copy of a kept disk snapshot, made on the host without
/// the vault. A reflink clone where the file system can (milliseconds, whatever the size); otherwise a
/// sparse copy of the data ranges only (holes stay holes).
public enum InstantCopy {
    public enum Method: String, Codable, Sendable {
        case reflink
        case sparseCopy = "sparse-copy"
    }

    /// Copies `source` to `destination` (mode 0600). An existing destination is refused unless `force`.
    public static func make(from source: String, to destination: String, force: Bool) throws -> Method {
        if access(destination, F_OK) == 0 {
            guard force else {
                throw TresorError(.targetExists, "\(destination) already exists", action: "pass --force to replace it")
            }
            var st = stat()
            guard stat(destination, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                throw TresorError(.targetUnwritable, "\(destination) is not a regular file", action: "instant copies go to files")
            }
            if unlink(destination) != 0 { throw POSIX.error("unlink", destination) }
        }
        if (try? Reflink.clone(source, to: destination)) != nil { return .reflink }
        try self.sparseCopy(source, to: destination)
        return .sparseCopy
    }

    static func sparseCopy(_ source: String, to destination: String) throws {
        let input = try POSIX.open(source, O_RDONLY)
        defer { close(input) }
        let size = Int64(try POSIX.fileSize(input, path: source))
        let output = try POSIX.open(destination, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        var finished = false
        defer {
            close(output)
            if !finished { unlink(destination) }
        }
        if ftruncate(output, off_t(size)) != 0 { throw POSIX.error("truncate", destination) }
        var offset: Int64 = 0
        while offset < size {
            let data = tresor_seek_data(input, offset)
            if data < 0 { break }   // ENXIO: only a hole remains
            let hole = min(max(tresor_seek_hole(input, data), data), size)
            try copyRange(input, output, from: data, to: hole, path: destination)
            offset = max(hole, offset + 1)
        }
        try POSIX.fsync(output, path: destination)
        finished = true
    }

    /// In the kernel where it can (copy_file_range); through a buffer where it cannot, as between file
    /// systems of different kinds (EXDEV since Linux 5.19).
    private static func copyRange(_ input: Int32, _ output: Int32, from start: Int64, to end: Int64, path: String) throws {
        var position = start
        while position < end {
            let copied = tresor_copy_range(input, output, position, UInt64(min(end - position, 1 << 30)))
            if copied > 0 {
                position += copied
                continue
            }
            if copied < 0 && errno == EINTR { continue }
            if copied < 0 && ![EXDEV, EOPNOTSUPP, EINVAL, ENOSYS].contains(errno) { throw POSIX.error("copy", path) }
            break
        }
        guard position < end else { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        while position < end {
            let want = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(end - position, 1 << 20))])
            let got = try POSIX.preadAll(input, into: want, at: position, path: path)
            guard got > 0 else { break }
            try POSIX.pwriteAll(output, UnsafeRawBufferPointer(rebasing: want[0..<got]), at: position, path: path)
            position += Int64(got)
        }
    }
}
