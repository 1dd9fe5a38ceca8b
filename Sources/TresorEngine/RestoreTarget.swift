#if canImport(Glibc)
import Glibc
#endif
import CTresorSystem
import TresorCore

/// Where a disk is restored to: a new or replaced raw file (sparse), or a block device.
///
/// An existing target is refused unless `force`; then a file is truncated to nothing first and a block
/// device has its zero ranges zeroed, so no byte of what was there survives.
final class RestoreTarget: Sendable {
    let path: String
    let isBlockDevice: Bool
    private let createdHere: Bool
    private let descriptor: Int32

    init(path: String, size: Int64, force: Bool) throws {
        var st = stat()
        let exists = stat(path, &st) == 0
        if exists && !force {
            throw TresorError(.targetExists, "\(path) already exists", action: "pass --force to overwrite it")
        }
        let mode = st.st_mode & S_IFMT
        if exists && mode != S_IFREG && mode != S_IFBLK {
            throw TresorError(.targetUnwritable, "\(path) is neither a regular file nor a block device")
        }
        self.path = path
        self.isBlockDevice = exists && mode == S_IFBLK
        self.createdHere = !exists
        let flags = exists ? (self.isBlockDevice ? O_WRONLY : O_WRONLY | O_TRUNC) : (O_WRONLY | O_CREAT | O_EXCL)
        let fd = open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TresorError(.targetUnwritable, "cannot open \(path) for writing: \(String(cString: strerror(errno)))")
        }
        self.descriptor = fd
        if self.isBlockDevice {
            let deviceSize = tresor_block_device_size(fd)
            guard deviceSize >= size else {
                close(fd)
                throw TresorError(.targetUnwritable, "block device \(path) holds \(deviceSize) bytes, the disk needs \(size)")
            }
        } else if ftruncate(fd, off_t(size)) != 0 {
            let failure = POSIX.error("truncate", path)
            close(fd)
            if self.createdHere { unlink(path) }
            throw failure
        }
    }

    deinit { close(self.descriptor) }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(self.descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIX.error("write", self.path)
            }
            done += n
        }
    }

    /// A zero chunk: nothing to do in a freshly truncated file (it is a hole); zeroed on a device.
    func zero(at offset: Int64, length: Int) throws {
        guard self.isBlockDevice else { return }
        if tresor_block_zero_out(self.descriptor, UInt64(offset), UInt64(length)) != 0 {
            throw POSIX.error("zero", self.path)
        }
    }

    func synchronize() throws {
        if fdatasync(self.descriptor) != 0 { throw POSIX.error("fdatasync", self.path) }
    }

    /// After a failed restore: a file this restore created is removed rather than left half-written.
    func discard() {
        if self.createdHere { unlink(self.path) }
    }
}
