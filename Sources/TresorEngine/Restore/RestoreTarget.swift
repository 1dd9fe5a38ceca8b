#if canImport(Glibc)
import Glibc
#endif
import CTresorSystem
import TresorCore

/// Where a disk is restored to: a new or replaced raw file (sparse), or a block device.
///
/// An existing target is refused unless `force`; then a file is truncated to nothing first and a block
/// device has its zero ranges zeroed, so no byte of what was there survives. A `trailer` (a VHD footer)
/// follows the disk's bytes in a file.
///
/// Whole aligned chunks go straight to the device (direct I/O), with or without a final fdatasync. Writing
/// through the page cache was tried for `--no-sync` restores: a little faster while the machine's free
/// memory was warm (1.43-1.48 s against 2.07-2.09 s for the 2 GiB benchmark image), but on virtual
/// machines whose host takes freed memory back, the first 2 GiB of page cache cost 5-6 s and 7 s of kernel
/// time (docs/performance.md, run T). Direct writes take about 2 s either way.
final class RestoreTarget: Sendable {
    let path: String
    let isBlockDevice: Bool
    private let createdHere: Bool
    private let descriptor: Int32
    /// A second descriptor for direct writes of whole aligned chunks (-1 where direct I/O is not offered).
    private let directDescriptor: Int32

    init(path: String, size: Int64, force: Bool, trailer: [UInt8] = []) throws {
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
        if isBlockDevice && !trailer.isEmpty {
            throw TresorError(.targetUnwritable, "\(path) is a block device; a VHD goes to a file", action: "restore as raw onto a device")
        }
        let flags = exists ? (isBlockDevice ? O_WRONLY : O_WRONLY | O_TRUNC) : (O_WRONLY | O_CREAT | O_EXCL)
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
        } else {
            do {
                if ftruncate(fd, off_t(size) + off_t(trailer.count)) != 0 { throw POSIX.error("truncate", path) }
                if !trailer.isEmpty {
                    try trailer.withUnsafeBytes { try POSIX.pwriteAll(fd, $0, at: size, path: path) }
                }
            } catch {
                close(fd)
                if !exists { unlink(path) }
                throw error
            }
        }
        self.path = path
        self.isBlockDevice = isBlockDevice
        self.createdHere = !exists
        self.descriptor = fd
        self.directDescriptor = tresor_open_direct(path, O_WRONLY | O_CLOEXEC, 0)
    }

    deinit {
        if self.directDescriptor >= 0 { close(self.directDescriptor) }
        close(self.descriptor)
    }

    /// Writes a restored chunk. In a file, which was created or truncated empty and so reads zeros
    /// wherever nothing is written, the chunk's all-zero 4 KiB blocks are skipped: they stay holes (or
    /// preallocated, unwritten extents), and the device is spared their bytes, which a restore that is
    /// bound by the device's bandwidth gains directly (free space inside a guest's file system: 13 % of
    /// the benchmark image's data-chunk blocks). A block device gets every byte.
    func writeChunk(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        guard !self.isBlockDevice else { return try self.write(bytes, at: offset) }
        let block = POSIX.directIOAlignment
        var runStart: Int?
        var position = 0
        while position < bytes.count {
            let end = min(position + block, bytes.count)
            if isAllZero(UnsafeRawBufferPointer(rebasing: bytes[position..<end])) {
                if let start = runStart {
                    try self.write(UnsafeRawBufferPointer(rebasing: bytes[start..<position]), at: offset + Int64(start))
                    runStart = nil
                }
            } else if runStart == nil {
                runStart = position
            }
            position = end
        }
        if let start = runStart {
            try self.write(UnsafeRawBufferPointer(rebasing: bytes[start...]), at: offset + Int64(start))
        }
    }

    /// Whole aligned blocks from an aligned buffer go straight to the device (direct I/O: no page-cache
    /// pages to fill; see DirectoryObjectStore.put), the rest through the page cache. After a direct
    /// write the buffer is flushed from the caches, since the worker decompresses its next chunk into it
    /// (POSIX.flushAfterDirectWrite).
    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        let alignment = POSIX.directIOAlignment
        if self.directDescriptor >= 0, bytes.count % alignment == 0, offset % Int64(alignment) == 0,
           UInt(bitPattern: bytes.baseAddress) % UInt(alignment) == 0,
           (try? POSIX.pwriteAll(self.directDescriptor, bytes, at: offset, path: self.path)) != nil {
            POSIX.flushAfterDirectWrite(bytes)
            return
        }
        try POSIX.pwriteAll(self.descriptor, bytes, at: offset, path: self.path)
    }

    /// Allocates the byte ranges that will hold data before workers write them, so their direct writes
    /// land in allocated (unwritten) extents instead of each allocating blocks under the file's lock.
    /// Holes stay holes. Best effort: where the file system cannot, writes allocate as they go.
    func preallocate(_ ranges: [(offset: Int64, length: Int64)]) {
        guard !self.isBlockDevice else { return }
        for range in ranges { _ = posix_fallocate(self.descriptor, off_t(range.offset), off_t(range.length)) }
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
