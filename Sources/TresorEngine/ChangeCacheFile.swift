import Glibc
import Synchronization
import TresorCore
import TresorCrypto

/// One disk's cache file, read and updated in place record by record. Every record states facts about a
/// content (its ID, its blocks' tags, how it relates to a whole chunk), true whatever the vault holds, so a
/// record written by a backup that then fails is as good as any; a record torn by a crash fails its MAC and
/// is ignored. Workers use the file at once without a lock: each writes only the positions it was handed.
final class ChangeCacheFile: Sendable {
    let cache: ChangeCache
    let path: String
    let header: [UInt8]
    let layout: ChangeRecordLayout
    private let fd: Int32
    /// The first write that failed (a full file system), reported by `finish`: the backup goes on, since the
    /// cache is advisory.
    private let failure = Mutex<TresorError?>(nil)

    init(cache: ChangeCache, fd: Int32, path: String, header: [UInt8], layout: ChangeRecordLayout) {
        self.cache = cache
        self.fd = fd
        self.path = path
        self.header = header
        self.layout = layout
    }

    deinit { close(self.fd) }

    /// Reads the record of `position` into `record`; false when there is none or its MAC fails.
    func read(position: Int, into record: UnsafeMutableRawBufferPointer) -> Bool {
        let count = self.layout.byteCount
        let offset = Int64(ChangeCache.headerByteCount + position * count)
        guard (try? POSIX.preadAll(self.fd, into: UnsafeMutableRawBufferPointer(rebasing: record[0..<count]), at: offset, path: self.path)) == count,
              record[self.layout.nonce].contains(where: { $0 != 0 })
        else { return false }
        var mac = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &mac) {
            self.cache.mac(header: self.header, position: position, record: UnsafeRawBufferPointer(rebasing: record[0..<self.layout.mac.lowerBound]), into: $0)
        }
        return withUnsafeBytes(of: mac) { ConstantTime.equals($0, UnsafeRawBufferPointer(rebasing: record[self.layout.mac])) }
    }

    /// Writes `record` at `position` with its MAC. A failure is kept for `finish` to report, not thrown:
    /// the backup does not depend on its cache.
    func write(position: Int, record: UnsafeMutableRawBufferPointer) {
        guard self.failure.withLock({ $0 == nil }) else { return }
        let count = self.layout.byteCount
        self.cache.mac(header: self.header, position: position, record: UnsafeRawBufferPointer(rebasing: record[0..<self.layout.mac.lowerBound]),
                       into: UnsafeMutableRawBufferPointer(rebasing: record[self.layout.mac]))
        do {
            try POSIX.pwriteAll(self.fd, UnsafeRawBufferPointer(rebasing: record[0..<count]),
                                at: Int64(ChangeCache.headerByteCount + position * count), path: self.path)
        } catch {
            let failed = error as? TresorError ?? TresorError(.storageIO, "\(error)")
            self.failure.withLock { if $0 == nil { $0 = failed } }
        }
    }

    /// Throws the first write that failed.
    func finish() throws {
        if let failed = self.failure.withLock({ $0 }) { throw failed }
    }
}
