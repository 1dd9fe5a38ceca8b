#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TresorCore

/// What `tresor-restore rollback --json` prints.
public struct RollbackResult: Codable, Sendable {
    public var recoveryPoint: String
    public var disk: Int
    public var target: String
    public var bytesCompared: Int64
    public var bytesWritten: Int64
    public var blocksWritten: Int
    /// Chunks where the target already held the recovery point's bytes.
    public var chunksUnchanged: Int
    public var undoFile: String
    /// The undo record stays only with --keep-undo.
    public var undoKept: Bool
    public var resumed: Bool
    public var seconds: Double
}

/// What `tresor-restore undo --json` prints.
public struct UndoResult: Codable, Sendable {
    public var target: String
    public var recoveryPoint: String
    public var disk: Int
    public var rangesRestored: Int
    public var bytesRestored: Int64
}

/// Rollback: rewrites an existing disk to a recovery point's contents by reading it, comparing every 4 KiB
/// block with the point's, and writing only the blocks that differ, each saved to the undo record first.
public enum RollbackEngine {
    public static let blockSize = 4096

    public static func rollback(_ point: OpenedRecoveryPoint, position: Int, target path: String, undoFile: String,
                                resume: Bool, keepUndo: Bool, workers: Int? = nil,
                                progress: ProgressCounter = ProgressCounter()) throws -> RollbackResult {
        let started = ContinuousClock.now
        let disk = try point.disk(position)
        let ids = try point.index(of: disk)
        let target = try ExclusiveTarget(path: path)
        if target.isBlockDevice && target.size < disk.size {
            throw TresorError(.targetUnwritable, "block device \(path) holds \(target.size) bytes, the disk needs \(disk.size)")
        }
        if !target.isBlockDevice && target.size > disk.size {
            throw TresorError(.targetUnwritable, "\(path) is \(target.size) bytes, larger than the disk's \(disk.size)",
                              action: "restore it with 'tresor-restore disk --force' instead")
        }
        let expected = UndoHeader(recoveryPointID: point.body.recoveryPointID, disk: position, diskSize: disk.size,
                                  originalSize: target.size, identity: target.identity)
        let journal: UndoJournal
        let resumed = resume && access(undoFile, F_OK) == 0
        if resumed {
            journal = try UndoJournal.open(path: undoFile).0
            let found = journal.header
            guard found.identity == expected.identity, found.recoveryPointID == expected.recoveryPointID, found.disk == position else {
                throw TresorError(.undoInvalid, "undo record \(undoFile) is from a rollback of disk \(found.disk) to \(found.recoveryPointID) on another target or point",
                                  action: "resume with the same recovery point, disk and target, or undo it first")
            }
        } else {
            journal = try UndoJournal.create(path: undoFile, header: expected)
        }
        // A file shorter than the disk grows to it; the undo record holds the old size to cut it back.
        if !target.isBlockDevice && target.size < disk.size { try target.resize(to: disk.size) }

        let plan = ChunkPlan(sizes: [disk.size], chunkSize: point.body.chunkSize)
        let queue = WorkQueue(count: plan.items.count)
        let totals = Mutex((compared: Int64(0), written: Int64(0), blocks: 0, unchanged: 0))
        progress.setTotal(disk.size)
        try WorkerPool.run(workers: workers ?? WorkerPool.defaultWorkers) { _, stop in
            let opener = ChunkOpener(maximumChunk: plan.chunkSize)
            let wanted = UnsafeMutableRawBufferPointer.allocate(byteCount: plan.chunkSize, alignment: POSIX.directIOAlignment)
            let current = UnsafeMutableRawBufferPointer.allocate(byteCount: plan.chunkSize, alignment: POSIX.directIOAlignment)
            defer { wanted.deallocate(); current.deallocate() }
            var local = (compared: Int64(0), written: Int64(0), blocks: 0, unchanged: 0)
            defer { let l = local; totals.withLock { $0.compared += l.compared; $0.written += l.written; $0.blocks += l.blocks; $0.unchanged += l.unchanged } }
            while !stop.isSet, let next = queue.take() {
                if progress.isCancelled { throw TresorError(.cancelled, "the rollback was cancelled", action: "resume it with --resume, or undo it") }
                let item = plan.items[next]
                let offset = plan.offset(item)
                let length = plan.length(item)
                defer { progress.add(length) }
                let id = ids[item.index]
                let want = UnsafeMutableRawBufferPointer(rebasing: wanted[0..<length])
                if id.isZero {
                    want.initializeMemory(as: UInt8.self, repeating: 0)
                } else {
                    let key = ObjectKey.chunk(domain: point.domain, id: id)
                    _ = try opener.fetch(id, name: key.path, read: point.readChunk, idKey: point.idKey, keyFor: point.dataKey, into: want)
                }
                let have = UnsafeMutableRawBufferPointer(rebasing: current[0..<length])
                let got = try target.read(into: have, at: offset)
                if got < length { UnsafeMutableRawBufferPointer(rebasing: have[got...]).initializeMemory(as: UInt8.self, repeating: 0) }
                local.compared += Int64(length)
                let ranges = Self.differingRanges(UnsafeRawBufferPointer(have), UnsafeRawBufferPointer(want))
                guard !ranges.isEmpty else {
                    local.unchanged += 1
                    continue
                }
                try journal.saveDurably(ranges, of: UnsafeRawBufferPointer(have), base: offset)
                for range in ranges {
                    try target.write(UnsafeRawBufferPointer(rebasing: want[range]), at: offset + Int64(range.lowerBound))
                    local.written += Int64(range.count)
                    local.blocks += (range.count + Self.blockSize - 1) / Self.blockSize
                }
            }
        }
        try target.synchronize()
        if !keepUndo { try journal.remove() }
        let t = totals.withLock { $0 }
        return RollbackResult(recoveryPoint: point.body.recoveryPointID, disk: position, target: path, bytesCompared: t.compared,
                              bytesWritten: t.written, blocksWritten: t.blocks, chunksUnchanged: t.unchanged, undoFile: undoFile,
                              undoKept: keepUndo, resumed: resumed, seconds: (ContinuousClock.now - started).seconds)
    }

    /// The byte ranges, in whole 4 KiB blocks (the last one may be short), where `have` differs from `want`;
    /// neighbouring blocks are merged.
    static func differingRanges(_ have: UnsafeRawBufferPointer, _ want: UnsafeRawBufferPointer) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < want.count {
            let end = min(start + Self.blockSize, want.count)
            if memcmp(have.baseAddress! + start, want.baseAddress! + start, end - start) != 0 {
                if let last = ranges.last, last.upperBound == start {
                    ranges[ranges.count - 1] = last.lowerBound..<end
                } else {
                    ranges.append(start..<end)
                }
            }
            start = end
        }
        return ranges
    }

    /// Puts a target back as it was before an interrupted or finished rollback whose record was kept: every
    /// saved range is written back, the latest first so that the oldest contents win, then a file is cut
    /// back to its old size and the record removed. Needs neither the vault nor keys; running it again after
    /// an interruption is harmless.
    public static func undo(undoFile: String, target path: String) throws -> UndoResult {
        let (journal, records) = try UndoJournal.open(path: undoFile)
        let target = try ExclusiveTarget(path: path)
        guard journal.header.identity == target.identity else {
            throw TresorError(.undoInvalid, "undo record \(undoFile) was made for another disk than \(path)", action: "name the target the rollback ran on")
        }
        var buffer = [UInt8](repeating: 0, count: records.map(\.length).max() ?? 0)
        var bytes: Int64 = 0
        try buffer.withUnsafeMutableBytes { buffer in
            for record in records.reversed() {
                try journal.read(record, into: buffer)
                try target.write(UnsafeRawBufferPointer(rebasing: buffer[0..<record.length]), at: record.offset)
                bytes += Int64(record.length)
            }
        }
        if !target.isBlockDevice && journal.header.originalSize < journal.header.diskSize { try target.resize(to: journal.header.originalSize) }
        try target.synchronize()
        try journal.remove()
        return UndoResult(target: path, recoveryPoint: journal.header.recoveryPointID, disk: journal.header.disk,
                          rangesRestored: records.count, bytesRestored: bytes)
    }
}
