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
    /// Of the whole restore (every disk restored together).
    public var stageCPUSeconds: RestoreStageTimes
}

public enum RestoreEngine {
    /// Restores one disk of an opened recovery point to `output`.
    public static func restoreDisk(_ point: OpenedRecoveryPoint, position: Int, output: String, force: Bool,
                                   format: DiskImageFormat = .raw, sync: Bool = true, workers: Int? = nil,
                                   progress: ProgressCounter = ProgressCounter()) throws -> RestoreResult {
        try self.restoreDisks(point, outputs: [(position, output)], force: force, format: format, sync: sync,
                              workers: workers, progress: progress)[0]
    }

    /// Restores several disks of an opened recovery point at once: one pipeline over all of them, disks
    /// interleaved (ChunkPlan), so every disk advances together and the workers stay busy until the last
    /// chunk. Every format check and every target is opened before the first chunk is fetched.
    public static func restoreDisks(_ point: OpenedRecoveryPoint, outputs: [(position: Int, path: String)], force: Bool,
                                    format: DiskImageFormat = .raw, sync: Bool = true, workers: Int? = nil,
                                    progress: ProgressCounter = ProgressCounter()) throws -> [RestoreResult] {
        let started = ContinuousClock.now
        let disks = try outputs.map { try point.disk($0.position) }
        for disk in disks { try format.check(size: disk.size) }
        let indexes = try disks.map { try point.index(of: $0) }
        var opening: [RestoreTarget] = []
        do {
            for (disk, output) in zip(disks, outputs) {
                opening.append(try RestoreTarget(path: output.path, size: disk.size, force: force, trailer: try format.trailer(size: disk.size)))
            }
        } catch {
            for target in opening { target.discard() }
            throw error
        }
        let targets = opening
        let plan = ChunkPlan(sizes: disks.map(\.size), chunkSize: point.body.chunkSize)
        let queue = WorkQueue(count: plan.items.count)
        let counts = Mutex([(read: Int, zero: Int, fetched: Int64)](repeating: (0, 0, 0), count: disks.count))
        let stageTimes = Mutex(RestoreStageTimes())
        progress.setTotal(disks.reduce(0) { $0 + $1.size })
        for (disk, target) in targets.enumerated() { target.preallocate(Self.dataRanges(indexes[disk], plan: plan, disk: disk)) }
        do {
            // A served vault answers several chunks per request; a directory vault is read chunk by chunk.
            let batch = point.chunkReadBatch
            try WorkerPool.run(workers: workers ?? WorkerPool.readingWorkers(chunkSize: plan.chunkSize, batch: batch)) { _, stop in
                let opener = ChunkOpener(maximumChunk: plan.chunkSize)
                let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: plan.chunkSize, alignment: POSIX.directIOAlignment)
                defer { plain.deallocate() }
                let reader = batch > 1 ? BatchedChunkReader(store: point.vault.store, batch: batch, chunkSize: plan.chunkSize) : nil
                var local = [(read: Int, zero: Int, fetched: Int64)](repeating: (0, 0, 0), count: disks.count)
                var times = RestoreStageTimes()
                var clock = ThreadCPUClock()
                defer {
                    let l = local
                    counts.withLock { for i in l.indices { $0[i].read += l[i].read; $0[i].zero += l[i].zero; $0[i].fetched += l[i].fetched } }
                    times += opener.times
                    stageTimes.withLock { [times] in $0 += times }
                }
                func id(_ next: Int) -> ChunkID { indexes[plan.items[next].disk][plan.items[next].index] }
                while !stop.isSet, let run = queue.take(upTo: batch) {
                    if progress.isCancelled { throw TresorError(.cancelled, "the restore was cancelled") }
                    let wanted = run.map(id).filter { !$0.isZero }
                    if let reader, !wanted.isEmpty {
                        _ = clock.lap()
                        try reader.fetch(wanted, domain: point.domain)
                        times.fetch += clock.lap()
                    }
                    for next in run {
                        let item = plan.items[next]
                        let offset = plan.offset(item)
                        let length = plan.length(item)
                        let target = targets[item.disk]
                        defer { progress.add(length) }
                        if id(next).isZero {
                            _ = clock.lap()
                            try target.zero(at: offset, length: length)
                            times.write += clock.lap()
                            local[item.disk].zero += 1
                            continue
                        }
                        let key = ObjectKey.chunk(domain: point.domain, id: id(next))
                        let chunk = UnsafeMutableRawBufferPointer(rebasing: plain[0..<length])
                        let objectLength: Int
                        if let reader, let object = reader.object(id(next)) {
                            objectLength = try object.count + opener.open(object, expectedID: id(next), name: key.path, read: reader.readBase,
                                                                          idKey: point.idKey, keyFor: point.dataKey, into: chunk)
                        } else {
                            objectLength = try opener.fetch(id(next), name: key.path, read: point.readChunk, idKey: point.idKey,
                                                            keyFor: point.dataKey, into: chunk)
                        }
                        _ = clock.lap()
                        try target.writeChunk(UnsafeRawBufferPointer(chunk), at: offset)
                        times.write += clock.lap()
                        local[item.disk].read += 1
                        local[item.disk].fetched += Int64(objectLength)
                    }
                }
            }
        } catch {
            for target in targets { target.discard() }
            throw error
        }
        let written = ContinuousClock.now - started
        if sync { for target in targets { try target.synchronize() } }
        let total = ContinuousClock.now - started
        let c = counts.withLock { $0 }
        let bytes = disks.reduce(0) { $0 + $1.size }
        return disks.indices.map { i in
            RestoreResult(
                recoveryPoint: point.body.recoveryPointID, disk: disks[i].position, output: outputs[i].path, format: format,
                bytes: disks[i].size, chunksRead: c[i].read, chunksZero: c[i].zero, bytesFetched: c[i].fetched,
                seconds: written.seconds, secondsWithSync: total.seconds,
                throughputMBps: written.seconds > 0 ? Double(bytes) / written.seconds / 1e6 : 0,
                stageCPUSeconds: stageTimes.withLock { $0 })
        }
    }
}

extension RestoreEngine {
    /// A disk's non-zero chunks as coalesced byte ranges.
    static func dataRanges(_ ids: [ChunkID], plan: ChunkPlan, disk: Int) -> [(offset: Int64, length: Int64)] {
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
            let end = min(Int64(index) * Int64(plan.chunkSize), plan.sizes[disk])
            ranges.append((offset, end - offset))
        }
        return ranges
    }
}

extension Duration {
    /// The duration in seconds, as the results print it.
    public var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
