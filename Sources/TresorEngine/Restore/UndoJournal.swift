#if canImport(Glibc)
import Glibc
#endif
import CTresorSystem
import Synchronization
import TresorCore

/// What an undo record was made for: checked before it is resumed or applied, so that it never touches
/// another disk than the one it saved blocks of.
struct UndoHeader: Equatable, Sendable {
    static let length = 128
    static let magic = Array("TRSRUNDO".utf8)
    static let version: UInt32 = 1

    var recoveryPointID: String
    var disk: Int
    var diskSize: Int64
    /// The target's size before the rollback; a file that was shorter than the disk is cut back on undo.
    var originalSize: Int64
    var identity: TargetIdentity

    func encoded() -> [UInt8] {
        var out = UndoHeader.magic
        out.appendLittleEndian(UndoHeader.version)
        out.appendLittleEndian(UInt32(self.disk))
        out.appendLittleEndian(UInt64(self.diskSize))
        out.appendLittleEndian(UInt64(self.originalSize))
        out.appendLittleEndian(self.identity.device)
        out.appendLittleEndian(self.identity.inode)
        var id = Array(self.recoveryPointID.utf8.prefix(64))
        id += [UInt8](repeating: 0, count: 64 - id.count)
        out += id
        out.appendLittleEndian(out.withUnsafeBytes { CRC32C.checksum($0) })
        out += [UInt8](repeating: 0, count: UndoHeader.length - out.count)
        return out
    }

    static func decode(_ bytes: [UInt8], name: String) throws -> UndoHeader {
        guard bytes.count >= length, Array(bytes[0..<8]) == magic else {
            throw TresorError(.undoInvalid, "\(name) is not a Tresor undo record (or a rollback was stopped before it wrote one, so nothing was changed)",
                              action: "remove it if no rollback is running")
        }
        guard bytes.littleEndian(UInt32.self, at: 112) == bytes.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<112])) }) else {
            throw TresorError(.undoInvalid, "the header of undo record \(name) is damaged", action: "remove it if no rollback is running")
        }
        guard bytes.littleEndian(UInt32.self, at: 8) == version else {
            throw TresorError(.unsupportedFormat, "undo record \(name) has format version \(bytes.littleEndian(UInt32.self, at: 8)), this Tresor reads \(version)")
        }
        let id = bytes[48..<112].prefix { $0 != 0 }
        return UndoHeader(
            recoveryPointID: String(decoding: id, as: UTF8.self), disk: Int(bytes.littleEndian(UInt32.self, at: 12)),
            diskSize: Int64(bytes.littleEndian(UInt64.self, at: 16)), originalSize: Int64(bytes.littleEndian(UInt64.self, at: 24)),
            identity: TargetIdentity(device: bytes.littleEndian(UInt64.self, at: 32), inode: bytes.littleEndian(UInt64.self, at: 40)))
    }
}

/// The undo record of a rollback (docs/formats.md, "Rollback undo record"): a header, then the previous
/// contents of every block range before it is overwritten. A range reaches the target only after its
/// record is durable (`saveDurably`), so a rollback killed at any moment can be undone exactly. Workers
/// append concurrently; one fdatasync covers every record written before it (group commit).
final class UndoJournal: Sendable {
    static let recordHeaderLength = 16

    struct Record: Sendable {
        let offset: Int64
        let length: Int
        /// Where the saved bytes sit in the journal file.
        let position: Int64
    }

    let path: String
    let header: UndoHeader
    private let descriptor: Int32
    /// End of the records written (under the lock, in order) and the end known durable.
    private let ends: Mutex<(written: Int64, synced: Int64)>
    private let syncing = Mutex<Void>(())

    private init(path: String, header: UndoHeader, descriptor: Int32, end: Int64) {
        self.path = path
        self.header = header
        self.descriptor = descriptor
        self.ends = Mutex((end, end))
    }

    deinit { close(self.descriptor) }

    /// A new record (mode 0600), its header durable before this returns.
    static func create(path: String, header: UndoHeader) throws -> UndoJournal {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw TresorError(.undoPending, "undo record \(path) exists: a rollback of this target was interrupted",
                                  action: "run the rollback again with --resume to finish it, or 'tresor-restore undo' to put the target back")
            }
            throw TresorError(.targetUnwritable, "cannot create undo record \(path): \(String(cString: strerror(errno)))")
        }
        do {
            try header.encoded().withUnsafeBytes { try POSIX.pwriteAll(fd, $0, at: 0, path: path) }
            try POSIX.fsync(fd, path: path)
            try POSIX.syncFolder(of: path)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        return UndoJournal(path: path, header: header, descriptor: fd, end: Int64(UndoHeader.length))
    }

    /// An existing record and the ranges it saved. A torn last record (the process died while writing it, so
    /// its range was never overwritten) is cut off.
    static func open(path: String) throws -> (UndoJournal, [Record]) {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw TresorError(.undoInvalid, "there is no undo record \(path)", action: "check --undo-file") }
            throw TresorError(.undoInvalid, "cannot open undo record \(path): \(String(cString: strerror(errno)))")
        }
        do {
            var head = [UInt8](repeating: 0, count: UndoHeader.length)
            let n = try head.withUnsafeMutableBytes { try POSIX.preadAll(fd, into: $0, at: 0, path: path) }
            let header = try UndoHeader.decode(Array(head[0..<n]), name: path)
            let (records, end) = try Self.scan(fd, path: path)
            if ftruncate(fd, off_t(end)) != 0 { throw POSIX.error("truncate", path) }
            return (UndoJournal(path: path, header: header, descriptor: fd, end: end), records)
        } catch {
            close(fd)
            throw error
        }
    }

    private static func scan(_ fd: Int32, path: String) throws -> ([Record], Int64) {
        var records: [Record] = []
        var position = Int64(UndoHeader.length)
        var head = [UInt8](repeating: 0, count: recordHeaderLength)
        var data = [UInt8]()
        while true {
            let n = try head.withUnsafeMutableBytes { try POSIX.preadAll(fd, into: $0, at: position, path: path) }
            guard n == recordHeaderLength else { break }
            let offset = Int64(head.littleEndian(UInt64.self, at: 0))
            let length = Int(head.littleEndian(UInt32.self, at: 8))
            guard length > 0, length <= 64 << 20, offset >= 0 else { break }
            if data.count < length { data = [UInt8](repeating: 0, count: length) }
            let got = try data.withUnsafeMutableBytes {
                try POSIX.preadAll(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length]), at: position + Int64(recordHeaderLength), path: path)
            }
            guard got == length else { break }
            let crc = head.withUnsafeBytes { h in
                data.withUnsafeBytes { d in tresor_crc32c(tresor_crc32c(0, h.baseAddress, 12), d.baseAddress, UInt64(length)) }
            }
            guard crc == head.littleEndian(UInt32.self, at: 12) else { break }
            records.append(Record(offset: offset, length: length, position: position + Int64(recordHeaderLength)))
            position += Int64(recordHeaderLength + length)
        }
        return (records, position)
    }

    /// Saves the previous contents of `ranges` (slices of `current`, which starts at disk offset `base`) and
    /// returns once they are durable.
    func saveDurably(_ ranges: [Range<Int>], of current: UnsafeRawBufferPointer, base: Int64) throws {
        let end: Int64 = try self.ends.withLock { ends in
            for range in ranges {
                var head = [UInt8]()
                head.appendLittleEndian(UInt64(base + Int64(range.lowerBound)))
                head.appendLittleEndian(UInt32(range.count))
                let bytes = UnsafeRawBufferPointer(rebasing: current[range])
                let crc = head.withUnsafeBytes { tresor_crc32c(tresor_crc32c(0, $0.baseAddress, 12), bytes.baseAddress, UInt64(bytes.count)) }
                head.appendLittleEndian(crc)
                try head.withUnsafeBytes { try POSIX.pwriteAll(self.descriptor, $0, at: ends.written, path: self.path) }
                try POSIX.pwriteAll(self.descriptor, bytes, at: ends.written + Int64(Self.recordHeaderLength), path: self.path)
                ends.written += Int64(Self.recordHeaderLength + range.count)
            }
            return ends.written
        }
        try self.sync(through: end)
    }

    /// Group commit: whoever syncs covers every record written before the call.
    private func sync(through end: Int64) throws {
        try self.syncing.withLock { _ in
            if self.ends.withLock({ $0.synced }) >= end { return }
            let written = self.ends.withLock { $0.written }
            while fdatasync(self.descriptor) != 0 {
                if errno != EINTR { throw POSIX.error("fdatasync", self.path) }
            }
            self.ends.withLock { $0.synced = max($0.synced, written) }
        }
    }

    /// The saved bytes of a record.
    func read(_ record: Record, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard try POSIX.preadAll(self.descriptor, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<record.length]),
                                 at: record.position, path: self.path) == record.length else {
            throw TresorError(.undoInvalid, "undo record \(self.path) ended early")
        }
    }

    var bytesSaved: Int64 { self.ends.withLock { $0.written } - Int64(UndoHeader.length) }

    /// After the target is durable in its final state: the record is no longer needed.
    func remove() throws {
        if unlink(self.path) != 0 { throw POSIX.error("unlink", self.path) }
        try POSIX.syncFolder(of: self.path)
    }
}
