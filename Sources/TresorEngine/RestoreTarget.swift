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
    /// A regular file is mapped shared: workers decrypt and decompress straight into its page cache,
    /// which saves the copy of every byte that pwrite(2) makes and the file lock that serialises
    /// concurrent pwrites. Block devices are written with pwrite.
    private let mappingAddress: UInt
    private let size: Int64

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
        let isBlockDevice = exists && mode == S_IFBLK
        let flags = exists ? (isBlockDevice ? O_RDWR : O_RDWR | O_TRUNC) : (O_RDWR | O_CREAT | O_EXCL)
        let fd = open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TresorError(.targetUnwritable, "cannot open \(path) for writing: \(String(cString: strerror(errno)))")
        }
        if isBlockDevice {
            let deviceSize = tresor_block_device_size(fd)
            guard deviceSize >= size else {
                close(fd)
                throw TresorError(.targetUnwritable, "block device \(path) holds \(deviceSize) bytes, the disk needs \(size)")
            }
        } else if ftruncate(fd, off_t(size)) != 0 {
            let failure = POSIX.error("truncate", path)
            close(fd)
            if !exists { unlink(path) }
            throw failure
        }
        var address: UInt = 0
        if !isBlockDevice && size > 0 {
            let mapped = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            if mapped != MAP_FAILED, let mapped { address = UInt(bitPattern: mapped) }
        }
        self.path = path
        self.isBlockDevice = isBlockDevice
        self.createdHere = !exists
        self.descriptor = fd
        self.size = size
        self.mappingAddress = address
    }

    private var mapping: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: self.mappingAddress) }

    deinit {
        if let mapping { munmap(mapping, Int(self.size)) }
        close(self.descriptor)
    }

    /// The output bytes at `offset` as memory to write into, when the target is mapped. The pages are
    /// faulted in with one madvise(MADV_POPULATE_WRITE) per chunk, which also reports a full file system
    /// as an error here instead of a SIGBUS later.
    func region(at offset: Int64, length: Int) throws -> UnsafeMutableRawBufferPointer? {
        guard let mapping else { return nil }
        let start = mapping + Int(offset)
        if madvise(start, length, 23 /* MADV_POPULATE_WRITE */) != 0 {
            throw POSIX.error("allocate", self.path)
        }
        return UnsafeMutableRawBufferPointer(start: start, count: length)
    }

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

    /// Drops this process's mapping of a finished region: the pages stay in the page cache (dirty, to be
    /// written back), but no longer count against the restore's memory.
    func release(_ region: UnsafeMutableRawBufferPointer) {
        madvise(region.baseAddress, region.count, MADV_DONTNEED)
    }

    func synchronize() throws {
        if let mapping, msync(mapping, Int(self.size), MS_SYNC) != 0 { throw POSIX.error("msync", self.path) }
        if fdatasync(self.descriptor) != 0 { throw POSIX.error("fdatasync", self.path) }
    }

    /// After a failed restore: a file this restore created is removed rather than left half-written.
    func discard() {
        if self.createdHere { unlink(self.path) }
    }
}
