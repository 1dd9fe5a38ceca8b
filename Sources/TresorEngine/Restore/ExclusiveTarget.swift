#if canImport(Glibc)
import Glibc
#endif
import CTresorSystem
import TresorCore

/// Which disk a file or device is, independent of the name it was reached by: a regular file's device and
/// inode, or a block device's device number (inode 0).
struct TargetIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ st: stat) {
        if st.st_mode & S_IFMT == S_IFBLK {
            self.init(device: UInt64(st.st_rdev), inode: 0)
        } else {
            self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        }
    }
}

/// An existing disk image or block device opened for rollback, and held so that nothing else uses it while
/// its blocks are rewritten: a block device with O_EXCL (the kernel refuses it while a file system on it is
/// mounted or another program holds it so), a file under an open-file-description write lock (QEMU locks
/// the images it runs on, so a running VM's disk is refused) and not attached to a loop device.
final class ExclusiveTarget: Sendable {
    let path: String
    let isBlockDevice: Bool
    let size: Int64
    let identity: TargetIdentity
    let descriptor: Int32

    init(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw TresorError(.targetUnwritable, "\(path) does not exist", action: "a rollback rewrites an existing disk; use 'tresor-restore disk' for a new one")
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else {
            throw TresorError(.targetUnwritable, "\(path) is neither a regular file nor a block device")
        }
        let isBlockDevice = kind == S_IFBLK
        let fd = open(path, O_RDWR | O_CLOEXEC | (isBlockDevice ? O_EXCL : 0))
        guard fd >= 0 else {
            if errno == EBUSY {
                throw TresorError(.targetInUse, "\(path) is in use (a file system on it is mounted, or another program holds it)",
                                  action: "unmount it or stop what uses it, then retry")
            }
            throw TresorError(.targetUnwritable, "cannot open \(path) for reading and writing: \(String(cString: strerror(errno)))")
        }
        do {
            if isBlockDevice {
                self.size = tresor_block_device_size(fd)
            } else {
                let locked = tresor_lock_whole_file(fd)
                if locked == EAGAIN || locked == EACCES {
                    throw TresorError(.targetInUse, "\(path) is in use (another program, e.g. a running VM, holds a lock on it)",
                                      action: "stop the VM or program using it, then retry")
                }
                if let loop = Self.loopDevice(backedBy: TargetIdentity(st)) {
                    throw TresorError(.targetInUse, "\(path) is attached to \(loop)", action: "unmount and detach it (losetup -d \(loop)), then retry")
                }
                self.size = Int64(st.st_size)
            }
        } catch {
            close(fd)
            throw error
        }
        self.path = path
        self.isBlockDevice = isBlockDevice
        self.identity = TargetIdentity(st)
        self.descriptor = fd
    }

    deinit { close(self.descriptor) }

    /// The loop device whose backing file is this file, if any (the kernel takes no lock on it).
    static func loopDevice(backedBy identity: TargetIdentity) -> String? {
        guard let devices = try? POSIX.directoryEntries("/sys/block") else { return nil }
        for device in devices where device.name.hasPrefix("loop") {
            guard let bytes = try? AtomicFile.read("/sys/block/\(device.name)/loop/backing_file") else { continue }
            var backing = String(decoding: bytes, as: UTF8.self)
            while backing.hasSuffix("\n") { backing.removeLast() }
            if backing.hasSuffix(" (deleted)") { backing.removeLast(" (deleted)".count) }
            var st = stat()
            if stat(backing, &st) == 0, TargetIdentity(st) == identity { return "/dev/\(device.name)" }
        }
        return nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try POSIX.preadAll(self.descriptor, into: buffer, at: offset, path: self.path)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try POSIX.pwriteAll(self.descriptor, bytes, at: offset, path: self.path)
    }

    func resize(to size: Int64) throws {
        guard !self.isBlockDevice else { return }
        if ftruncate(self.descriptor, off_t(size)) != 0 { throw POSIX.error("truncate", self.path) }
    }

    func synchronize() throws {
        if fdatasync(self.descriptor) != 0 { throw POSIX.error("fdatasync", self.path) }
    }
}
