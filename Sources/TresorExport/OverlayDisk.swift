import Glibc
import Synchronization
import TresorCore

/// A writable disk over a read-only base (a recovery point in the vault): a copy-on-write overlay file the
/// size of the disk, and a map of which 4 KiB blocks it holds. Reads take held blocks from the file and
/// the rest from the base; writes go to the file (a partly written block is first filled from the base).
/// Migration copies every block not yet held, after which the file is the whole disk and the base (the
/// vault) is no longer read. docs/nbd.md, "Overlay and migration", has the map's format.
public final class OverlayDisk: ExportedDisk {
    public static let blockSize = 4096

    public let size: Int64
    public let path: String
    public var isWritable: Bool { true }
    private let base: any ExportedDisk
    private let descriptor: Int32
    private let map: OverlayMap
    /// Held blocks, and whether the map file is behind them. Writes and migration copy under it, so a
    /// migrated block never overwrites a newer write.
    private let held: Mutex<(bits: [UInt64], dirty: Bool)>
    /// A continued overlay may hold bytes of writes that were never flushed (so never mapped) in blocks it
    /// does not hold; migration then writes the zeros of holes instead of trusting the file's.
    private let reopened: Bool

    /// Opens `path` (created mode 0600 if missing) over `base`; an existing overlay continues, after its map
    /// is checked to belong to `baseName` (the recovery point) and the same size.
    public init(path: String, base: any ExportedDisk, baseName: String) throws {
        self.size = base.size
        self.path = path
        self.base = base
        self.map = OverlayMap(path: path + ".map", diskSize: base.size, baseName: baseName)
        let existing = access(path, F_OK) == 0
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIX.error("open", path) }
        do {
            let bits: [UInt64]
            if existing {
                bits = try self.map.load()
            } else {
                if ftruncate(fd, off_t(base.size)) != 0 { throw POSIX.error("truncate", path) }
                bits = [UInt64](repeating: 0, count: OverlayMap.words(diskSize: base.size))
                try self.map.save(bits)
            }
            self.held = Mutex((bits, false))
        } catch {
            close(fd)
            throw error
        }
        self.descriptor = fd
        self.reopened = existing
    }

    deinit { close(self.descriptor) }

    private var blockCount: Int { Int((self.size + Int64(Self.blockSize) - 1) / Int64(Self.blockSize)) }

    private static func isHeld(_ bits: [UInt64], _ block: Int) -> Bool { bits[block >> 6] & (1 << UInt64(block & 63)) != 0 }
    private static func hold(_ bits: inout [UInt64], _ block: Int) { bits[block >> 6] |= 1 << UInt64(block & 63) }

    /// Blocks held so far, and the disk's block count.
    public var progress: (held: Int, blocks: Int) {
        let count = self.held.withLock { $0.bits.reduce(0) { $0 + $1.nonzeroBitCount } }
        return (count, self.blockCount)
    }

    public var isComplete: Bool { self.progress.held == self.blockCount }

    /// The range as runs of blocks the overlay holds and blocks it does not, looked up under the lock
    /// (only the range's bits are visited); the reads themselves happen outside it.
    private func runs(from offset: Int64, length: Int64) -> [(offset: Int64, length: Int64, held: Bool)] {
        self.held.withLock { held in
            var runs: [(offset: Int64, length: Int64, held: Bool)] = []
            let end = min(offset + length, self.size)
            var position = offset
            while position < end {
                let block = Int(position / Int64(Self.blockSize))
                let blockEnd = min(Int64(block + 1) * Int64(Self.blockSize), end)
                let isHeld = Self.isHeld(held.bits, block)
                if let last = runs.last, last.held == isHeld {
                    runs[runs.count - 1].length += blockEnd - position
                } else {
                    runs.append((position, blockEnd - position, isHeld))
                }
                position = blockEnd
            }
            return runs
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        for run in self.runs(from: offset, length: Int64(buffer.count)) {
            let from = Int(run.offset - offset)
            let part = UnsafeMutableRawBufferPointer(rebasing: buffer[from..<from + Int(run.length)])
            if run.held {
                guard try POSIX.preadAll(self.descriptor, into: part, at: run.offset, path: self.path) == part.count else {
                    throw TresorError(.storageIO, "overlay \(self.path) is shorter than the disk")
                }
            } else {
                try self.base.read(into: part, at: run.offset)
            }
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        guard bytes.count > 0 else { return }
        let first = Int(offset / Int64(Self.blockSize))
        let last = Int((offset + Int64(bytes.count) - 1) / Int64(Self.blockSize))
        try self.held.withLock { held in
            // A block written only in part must hold the base's other bytes first.
            for block in Set([first, last]) where !Self.isHeld(held.bits, block) {
                let start = Int64(block) * Int64(Self.blockSize)
                let covered = offset <= start && offset + Int64(bytes.count) >= min(start + Int64(Self.blockSize), self.size)
                if !covered { try self.copyFromBase(block: block) }
            }
            try POSIX.pwriteAll(self.descriptor, bytes, at: offset, path: self.path)
            for block in first...last { Self.hold(&held.bits, block) }
            held.dirty = true
        }
    }

    /// Data first, then the map: the map never names a block whose bytes are not durable.
    public func flush() throws {
        if fdatasync(self.descriptor) != 0 { throw POSIX.error("fdatasync", self.path) }
        try self.held.withLock { held in
            guard held.dirty else { return }
            try self.map.save(held.bits)
            held.dirty = false
        }
    }

    /// Held blocks are data; the rest is whatever the base says.
    public func allocation(from offset: Int64, length: Int64) -> [(length: Int64, hole: Bool)] {
        var result: [(length: Int64, hole: Bool)] = []
        for run in self.runs(from: offset, length: length) {
            let pieces = run.held ? [(length: run.length, hole: false)] : self.base.allocation(from: run.offset, length: run.length)
            for piece in pieces {
                if let last = result.last, last.hole == piece.hole { result[result.count - 1].length += piece.length } else { result.append(piece) }
            }
        }
        return result
    }

    /// Copies one block from the base into the overlay; the caller holds the lock and marks it held.
    private func copyFromBase(block: Int) throws {
        let start = Int64(block) * Int64(Self.blockSize)
        let length = Int(min(Int64(Self.blockSize), self.size - start))
        var bytes = [UInt8](repeating: 0, count: length)
        try bytes.withUnsafeMutableBytes { try self.base.read(into: $0, at: start) }
        try bytes.withUnsafeBytes { try POSIX.pwriteAll(self.descriptor, $0, at: start, path: self.path) }
    }

    /// Migration: copies every block not yet held from the base, a base-sized stretch at a time (so the
    /// vault is read chunk by chunk), flushing as it goes; stops early when `shouldStop` says so. Blocks of
    /// holes are marked held without writing (the overlay file reads zeros there).
    public func migrate(stretch: Int = 1 << 20, shouldStop: () -> Bool = { false }) throws {
        var buffer = [UInt8](repeating: 0, count: stretch)
        let blocksPerStretch = stretch / Self.blockSize
        var start: Int64 = 0
        var sinceFlush = 0
        while start < self.size, !shouldStop() {
            let length = Int(min(Int64(stretch), self.size - start))
            let firstBlock = Int(start / Int64(Self.blockSize))
            let blocks = (length + Self.blockSize - 1) / Self.blockSize
            let missing = self.held.withLock { held in (0..<blocks).contains { !Self.isHeld(held.bits, firstBlock + $0) } }
            if missing {
                let hole = self.base.allocation(from: start, length: Int64(length)).allSatisfy(\.hole) && !self.reopened
                if !hole { try buffer.withUnsafeMutableBytes { try self.base.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length]), at: start) } }
                try self.held.withLock { held in
                    for i in 0..<blocks where !Self.isHeld(held.bits, firstBlock + i) {
                        if !hole {
                            let from = i * Self.blockSize
                            let to = min(from + Self.blockSize, length)
                            try buffer.withUnsafeBytes { try POSIX.pwriteAll(self.descriptor, UnsafeRawBufferPointer(rebasing: $0[from..<to]), at: start + Int64(from), path: self.path) }
                        }
                        Self.hold(&held.bits, firstBlock + i)
                    }
                    held.dirty = true
                }
                sinceFlush += 1
                if sinceFlush >= 64 {
                    try self.flush()
                    sinceFlush = 0
                }
            }
            start += Int64(blocksPerStretch * Self.blockSize)
        }
        try self.flush()
    }
}
