import Synchronization
import TresorCore

/// What `tresor-restore disk --json` prints.
public struct RestoreResult: Codable, Sendable {
    public var recoveryPoint: String
    public var disk: Int
    public var output: String
    public var format: DiskImageFormat
    public var bytes: Int64
    public var chunksRead: Int
    public var chunksZero: Int
    public var bytesFetched: Int64
    /// Until the last byte was handed to the kernel (page cache), as restic reports.
    public var seconds: Double
    /// Including the final fdatasync; equal to `seconds` with `--no-sync`.
    public var secondsWithSync: Double
    public var throughputMBps: Double
}

public enum RestoreEngine {
    /// Restores one disk of an opened recovery point to `output`.
    public static func restoreDisk(_ point: OpenedRecoveryPoint, position: Int, output: String, force: Bool,
                                   format: DiskImageFormat = .raw, sync: Bool = true, workers: Int? = nil,
                                   progress: ProgressCounter = ProgressCounter()) throws -> RestoreResult {
        let started = ContinuousClock.now
        let disk = try point.disk(position)
        let ids = try point.index(of: disk)
        let target = try RestoreTarget(path: output, size: disk.size, force: force, trailer: try format.trailer(size: disk.size))
        let plan = ChunkPlan(sizes: [disk.size], chunkSize: point.body.chunkSize)
        let queue = WorkQueue(count: plan.items.count)
        let counts = Mutex((read: 0, zero: 0, fetched: Int64(0)))
        progress.setTotal(disk.size)
        target.preallocate(Self.dataRanges(ids, plan: plan))
        do {
            try WorkerPool.run(workers: workers ?? WorkerPool.defaultWorkers) { _, stop in
                let opener = ChunkOpener(maximumChunk: plan.chunkSize)
                let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: plan.chunkSize, alignment: POSIX.directIOAlignment)
                defer { plain.deallocate() }
                var local = (read: 0, zero: 0, fetched: Int64(0))
                defer { let l = local; counts.withLock { $0.read += l.read; $0.zero += l.zero; $0.fetched += l.fetched } }
                while !stop.isSet, let next = queue.take() {
                    let item = plan.items[next]
                    let offset = plan.offset(item)
                    let length = plan.length(item)
                    let id = ids[item.index]
                    defer { progress.add(length) }
                    if id.isZero {
                        try target.zero(at: offset, length: length)
                        local.zero += 1
                        continue
                    }
                    let key = ObjectKey.chunk(domain: point.domain, id: id)
                    let objectLength = try point.vault.store.read(key, into: opener.object)
                    let chunk = UnsafeMutableRawBufferPointer(rebasing: plain[0..<length])
                    try opener.open(length: objectLength, expectedID: id, name: key.path, idKey: point.idKey,
                                    keyFor: point.dataKey, into: chunk)
                    try target.writeChunk(UnsafeRawBufferPointer(chunk), at: offset)
                    local.read += 1
                    local.fetched += Int64(objectLength)
                }
            }
        } catch {
            target.discard()
            throw error
        }
        let written = ContinuousClock.now - started
        if sync { try target.synchronize() }
        let total = ContinuousClock.now - started
        let c = counts.withLock { $0 }
        return RestoreResult(
            recoveryPoint: point.body.recoveryPointID, disk: position, output: output, format: format, bytes: disk.size,
            chunksRead: c.read, chunksZero: c.zero, bytesFetched: c.fetched, seconds: written.seconds,
            secondsWithSync: total.seconds, throughputMBps: written.seconds > 0 ? Double(disk.size) / written.seconds / 1e6 : 0)
    }
}

extension RestoreEngine {
    /// The disk's non-zero chunks as coalesced byte ranges.
    static func dataRanges(_ ids: [ChunkID], plan: ChunkPlan) -> [(offset: Int64, length: Int64)] {
        var ranges: [(offset: Int64, length: Int64)] = []
        var index = 0
        while index < ids.count {
            guard !ids[index].isZero else {
                index += 1
                continue
            }
            let start = index
            while index < ids.count && !ids[index].isZero { index += 1 }
            let offset = Int64(start) * Int64(plan.chunkSize)
            let end = min(Int64(index) * Int64(plan.chunkSize), plan.sizes[0])
            ranges.append((offset, end - offset))
        }
        return ranges
    }
}

extension Duration {
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
