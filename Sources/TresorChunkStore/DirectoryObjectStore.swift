#if canImport(Glibc)
import Glibc
#endif
import Synchronization
internal import CTresorSystem
public import TresorCore

/// The embedded chunk store: one file per object below a root directory (docs/formats.md, "Vault layout").
///
/// Writes go to a temporary file in `tmp/` and are renamed into place, so an object is never seen
/// half-written, and what a killed writer leaves behind is all in one folder. Durability is batched:
/// `synchronize()` is one `syncfs(2)` over the store's file system, which a backup calls once before its
/// manifest; `putDurably` (the manifest itself) adds `fsync(2)` of the file and of its folder.
public final class DirectoryObjectStore: ObjectStore {
    public let root: String
    private let rootDescriptor: Int32
    /// Folders known to exist, so shard folders are created once per process.
    private let knownFolders = Mutex<Set<String>>([])
    private let temporaryCounter = Atomic<Int>(0)
    /// Copies of unaligned objects large enough for direct I/O: at most a largest chunk object each.
    private let alignedBuffers = AlignedBufferPool(bufferSize: ChunkObjectHeader.maximumObjectByteCount)

    public init(root: String) throws {
        try POSIX.makeDirectories(root + "/tmp")
        self.root = root
        self.rootDescriptor = try POSIX.open(root, O_RDONLY | O_DIRECTORY)
    }

    deinit { close(self.rootDescriptor) }

    private func fullPath(_ key: ObjectKey) -> String { self.root + "/" + key.path }
    private var temporaryFolder: String { self.root + "/tmp" }

    private func ensureFolder(of path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return }
        let folder = String(path[..<slash])
        if self.knownFolders.withLock({ $0.contains(folder) }) { return }
        try POSIX.makeDirectories(folder)
        self.knownFolders.withLock { _ = $0.insert(folder) }
    }

    private func rename(_ temporary: String, to path: String) throws {
        guard Glibc.rename(temporary, path) == 0 else {
            let failure = POSIX.error("rename", path)
            unlink(temporary)
            throw failure
        }
    }

    /// Chunk-sized objects from an aligned buffer are written with direct I/O (O_DIRECT) for their
    /// aligned part: on the machines Tresor is measured on, filling fresh page-cache pages costs about
    /// 2 s of kernel time per GiB while the device takes direct writes at over 2 GB/s. The unaligned tail
    /// is written through the page cache. File systems without direct I/O (tmpfs) get plain writes, and
    /// so do small objects (delta chunks, mostly): a direct write waits for the device, which for a few
    /// KiB costs more than the page cache does.
    public func put(_ key: ObjectKey, bytes: UnsafeRawBufferPointer) throws {
        let alignment = POSIX.directIOAlignment
        let alignedLength = bytes.count & ~(alignment - 1)
        if alignedLength >= Self.smallestDirectWrite, UInt(bitPattern: bytes.baseAddress) % UInt(alignment) != 0 {
            // Bodies that arrived over the network sit at any address: a copy into a reused aligned
            // buffer costs far less than writing them through the page cache.
            return try self.alignedBuffers.withBuffer(capacity: bytes.count) { buffer in
                let aligned = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
                aligned.copyMemory(from: bytes)
                try self.put(key, bytes: UnsafeRawBufferPointer(aligned))
            }
        }
        let path = self.fullPath(key)
        try self.ensureFolder(of: path)
        let temporary = "\(self.temporaryFolder)/\(getpid())-\(self.temporaryCounter.add(1, ordering: .relaxed).newValue)"
        let aligned = alignedLength >= Self.smallestDirectWrite && UInt(bitPattern: bytes.baseAddress) % UInt(alignment) == 0
        var fd: Int32 = -1
        var direct = false
        if aligned {
            fd = tresor_open_direct(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            direct = fd >= 0
        }
        if fd < 0 { fd = try POSIX.open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600) }
        do {
            var written = 0
            if direct {
                do {
                    try POSIX.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: bytes[0..<alignedLength]), at: 0, path: temporary)
                    written = alignedLength
                    // The caller seals or receives its next object into the same buffer.
                    POSIX.flushAfterDirectWrite(UnsafeRawBufferPointer(rebasing: bytes[0..<alignedLength]))
                } catch let error as TresorError where error.code == .storageIO {
                    written = 0  // direct I/O refused after all (EINVAL): write everything through the page cache
                }
                _ = tresor_set_direct(fd, 0)
            }
            try POSIX.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: bytes[written...]), at: Int64(written), path: temporary)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        try self.rename(temporary, to: path)
    }

    static let smallestDirectWrite = 128 << 10

    public func putDurably(_ key: ObjectKey, bytes: [UInt8]) throws {
        let path = self.fullPath(key)
        try self.ensureFolder(of: path)
        try AtomicFile.write(bytes, to: path, temporaryFolder: self.temporaryFolder)
    }

    public func get(_ key: ObjectKey) throws -> [UInt8] {
        do {
            return try AtomicFile.read(self.fullPath(key))
        } catch let error as TresorError where error.code == .missingObject {
            throw TresorError(.missingObject, "object \(key) is missing from the store")
        }
    }

    /// Reads with direct I/O when `buffer` is aligned and has room for the object rounded up to the
    /// alignment (objects written with direct I/O are not in the page cache, and reading them through it
    /// would fill fresh pages); otherwise through the page cache.
    public func read(_ key: ObjectKey, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let path = self.fullPath(key)
        let alignment = POSIX.directIOAlignment
        var fd: Int32 = -1
        if UInt(bitPattern: buffer.baseAddress) % UInt(alignment) == 0 && buffer.count >= alignment {
            fd = tresor_open_direct(path, O_RDONLY | O_CLOEXEC, 0)
            if fd < 0 && errno == ENOENT { throw POSIX.error("open", path) }
        }
        let direct = fd >= 0
        if !direct { fd = try POSIX.open(path, O_RDONLY) }
        defer { close(fd) }
        let size = try POSIX.fileSize(fd, path: path)
        guard size <= buffer.count else {
            throw TresorError(.corruptObject, "\(key) is \(size) bytes, larger than any valid object of its kind")
        }
        let rounded = (size + alignment - 1) & ~(alignment - 1)
        if direct && rounded <= buffer.count {
            if Self.readDirect(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<rounded]), size: size) {
                return size
            }
            _ = tresor_set_direct(fd, 0)
        } else if direct {
            _ = tresor_set_direct(fd, 0)
        }
        return try POSIX.readAll(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]), path: path)
    }

    /// Reads `size` bytes with direct I/O into an aligned buffer of the rounded-up length. The read that
    /// reaches the end of the file comes back short, and must not be followed by another one (it would
    /// start at an unaligned offset). False when direct I/O failed, for a plain read to take over.
    private static func readDirect(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, size: Int) -> Bool {
        var done = 0
        while done < size {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
            if n % POSIX.directIOAlignment != 0 { break }
        }
        return done >= size
    }

    public func readPrefix(_ key: ObjectKey, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let path = self.fullPath(key)
        let fd = try POSIX.open(path, O_RDONLY)
        defer { close(fd) }
        return try POSIX.readAll(fd, into: buffer, path: path)
    }

    public func size(of key: ObjectKey) throws -> Int? {
        var st = stat()
        if stat(self.fullPath(key), &st) == 0 { return Int(st.st_size) }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        throw POSIX.error("stat", key.path)
    }

    public func list(folder: String) throws -> [ObjectKey] {
        var out: [ObjectKey] = []
        try self.walk(relative: folder, into: &out)
        return out
    }

    private func walk(relative: String, into out: inout [ObjectKey]) throws {
        for (name, isDirectory) in try POSIX.directoryEntries(self.root + "/" + relative) where !name.contains(".tmp-") {
            let child = relative + "/" + name
            if isDirectory {
                try self.walk(relative: child, into: &out)
            } else if let key = ObjectKey(listedPath: child) {
                out.append(key)
            }
        }
    }

    public func delete(_ key: ObjectKey) throws {
        if unlink(self.fullPath(key)) != 0 && errno != ENOENT { throw POSIX.error("delete", key.path) }
    }

    public func synchronize() throws {
        while tresor_syncfs(self.rootDescriptor) != 0 {
            if errno != EINTR { throw POSIX.error("syncfs", self.root) }
        }
    }

    /// Removes temporary files that interrupted writers left behind in `tmp/`. Call only while holding
    /// the vault's exclusive lock, when no writer can be mid-write.
    public func removeTemporaryFiles() throws -> Int {
        try POSIX.directoryEntries(self.temporaryFolder).filter { unlink(self.temporaryFolder + "/" + $0.name) == 0 }.count
    }
}
