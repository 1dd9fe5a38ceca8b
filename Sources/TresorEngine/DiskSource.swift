#if canImport(Glibc)
import Glibc
#endif
import CTresorSystem
import TresorCore

/// A disk to back up: a raw image file or a block device, read with pread(2) from many threads.
final class DiskSource: Sendable {
    let path: String
    /// The disk as the VM knows it, which names it in the vault; `path` differs when a snapshot is read.
    let identity: String
    let size: Int64
    private let descriptor: Int32
    /// The same disk opened for direct I/O (-1 where it is not offered): whole aligned chunks are read
    /// by DMA into the worker's buffer, with no copy through the page cache and no page-cache pages to
    /// fill. Hypervisors read live disks the same way (QEMU's cache=none).
    private let directDescriptor: Int32

    init(path: String, identity: String? = nil) throws {
        // O_NONBLOCK: opening a named pipe would otherwise wait for a writer forever, before the type
        // check below could refuse it. It changes nothing for the files and devices that pass that check.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw TresorError(.diskUnreadable, "cannot open disk \(path): \(String(cString: strerror(errno)))",
                              action: "check the path and that this user may read it")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw TresorError(.diskUnreadable, "cannot stat disk \(path): \(String(cString: strerror(errno)))")
        }
        let mode = st.st_mode & S_IFMT
        if mode == S_IFBLK {
            let size = tresor_block_device_size(fd)
            guard size >= 0 else {
                close(fd)
                throw TresorError(.diskUnreadable, "cannot read the size of block device \(path)")
            }
            self.size = size
        } else if mode == S_IFREG {
            self.size = Int64(st.st_size)
        } else {
            close(fd)
            throw TresorError(.diskUnreadable, "\(path) is neither a raw image file nor a block device")
        }
        self.path = path
        self.identity = identity ?? path
        self.descriptor = fd
        self.directDescriptor = tresor_open_direct(path, O_RDONLY | O_CLOEXEC, 0)
        // Sequential-ish reads from several threads: ask for aggressive read-ahead.
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    deinit {
        if self.directDescriptor >= 0 { close(self.directDescriptor) }
        close(self.descriptor)
    }

    /// Whether `length` bytes at `offset` are a hole of a sparse image (lseek SEEK_DATA). Such a chunk
    /// is all zeros without being read: reading holes would make the kernel allocate and zero page-cache
    /// pages for nothing. Block devices and file systems without SEEK_DATA simply say "no".
    func isHole(at offset: Int64, length: Int) -> Bool {
        let next = tresor_seek_data(self.descriptor, offset)
        if next < 0 { return errno == ENXIO }
        return Int64(next) >= offset + Int64(length)
    }

    /// Reads exactly `buffer.count` bytes at `offset`: what the page cache already holds is copied from
    /// it (preadv2 RWF_NOWAIT, no waiting and no new pages), the rest is read with direct I/O where it is
    /// aligned, and through the page cache otherwise.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var cached = 0
        while cached < buffer.count {
            let n = tresor_pread_cached(self.descriptor, buffer.baseAddress! + cached, UInt64(buffer.count - cached),
                                        offset + Int64(cached))
            if n <= 0 { break }
            cached += Int(n)
        }
        if cached == buffer.count { return }
        let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[cached...])
        let restOffset = offset + Int64(cached)
        let alignment = POSIX.directIOAlignment
        if self.directDescriptor >= 0, rest.count % alignment == 0, restOffset % Int64(alignment) == 0,
           UInt(bitPattern: rest.baseAddress) % UInt(alignment) == 0,
           self.readFully(self.directDescriptor, at: restOffset, into: rest) {
            return
        }
        try self.readBuffered(at: restOffset, into: rest)
    }

    private func readFully(_ fd: Int32, at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    private func readBuffered(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(self.descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw TresorError(.diskUnreadable, "reading disk \(self.path) at \(offset + Int64(done)): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw TresorError(.diskUnreadable, "disk \(self.path) ended at \(offset + Int64(done)) while being read (did it shrink?)")
            }
            done += n
        }
    }
}
