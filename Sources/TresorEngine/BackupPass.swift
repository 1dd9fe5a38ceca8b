import Synchronization
import TresorCompression
import TresorCore
import TresorCrypto

/// The chunk IDs of every disk, filled by workers: each slot is written by exactly one worker.
final class ChunkTable: @unchecked Sendable {
    // @unchecked Sendable: `WorkQueue` hands each (disk, index) to exactly one worker, so no two threads
    // write one slot, and slots are read only after `WorkerPool.run` returned (its DispatchGroup wait
    // orders every worker's writes before the reads).
    private let slots: [UnsafeMutableBufferPointer<ChunkID>]

    init(chunkCounts: [Int]) {
        self.slots = chunkCounts.map {
            let buffer = UnsafeMutableBufferPointer<ChunkID>.allocate(capacity: max($0, 1))
            buffer.initialize(repeating: .zero)
            return UnsafeMutableBufferPointer(rebasing: buffer[0..<$0])
        }
    }

    deinit { for slot in self.slots { slot.deallocate() } }

    func set(disk: Int, index: Int, _ id: ChunkID) { self.slots[disk][index] = id }
    func ids(disk: Int) -> ArraySlice<ChunkID> { ArraySlice(self.slots[disk]) }
}

/// One backup's walk over its chunks: read, skip zeros, key the ID, skip what the previous recovery point
/// holds, ask the vault about the rest in batches, and compress, seal and upload only what it lacks.
final class BackupPass: Sendable {
    struct Totals: Sendable {
        var stats = BackupStats()
        var usedDataKeys: Set<KeyID> = []
        var reusedPrevious = false
        /// Chunks taken from the previous point without reading, as change detection allowed.
        var unchangedBytes: Int64 = 0
        /// New chunks stored as deltas over a base.
        var deltaChunks = 0
        /// Of those, deltas the change cache's block tags gave, without reading the base.
        var tagDeltaChunks = 0
        /// Chunks whose ID the change cache gave (their content's tags matched).
        var cachedIDs = 0
        var zeroChunks: [Int: Int] = [:]
        var times = StageTimes()
    }

    /// A chunk read and keyed, waiting in a worker's batch for the vault's answer.
    private struct Pending {
        let slot: Int
        let length: Int
        let id: ChunkID
        let disk: Int
        let index: Int
        /// The record this chunk leaves in the change cache: begun in its slot (to finish once the vault
        /// answered), or carried unchanged already.
        let record: CacheRecord
    }

    private enum CacheRecord {
        case none
        case carried
        /// Begun in the slot; with the whole chunk a delta may be built over from the block tags alone.
        case begun(tagBase: ChunkID?)
    }

    let plan: ChunkPlan
    let table: ChunkTable
    private let destination: any BackupDestination
    private let session: String
    private let idKey: SymmetricKey
    private let dataKey: BackupEngine.SelectedDataKey
    private let previous: PreviousIndex
    private let unchanged: UnchangedChunks?
    private let compression: ZstdSetting
    private let progress: ProgressCounter
    /// IDs uploaded or being uploaded by this backup, so two disks holding the same new chunk send it once.
    private let claimed = Mutex<Set<ChunkID>>([])
    private let totals = Mutex(Totals())
    private let sources: [DiskSource]
    private let deltas: DeltaBases?
    private let changes: ChangeTags?
    /// Whether changed chunks may be stored as deltas (the change cache's, or `deltas`).
    private let deltasAllowed: Bool

    init(plan: ChunkPlan, destination: any BackupDestination, session: String, idKey: SymmetricKey,
         dataKey: BackupEngine.SelectedDataKey, previous: PreviousIndex, compression: ZstdSetting, progress: ProgressCounter,
         sources: [DiskSource], unchanged: UnchangedChunks? = nil, deltas: DeltaBases? = nil, changes: ChangeTags? = nil,
         deltasAllowed: Bool = true) {
        self.plan = plan
        self.deltasAllowed = deltasAllowed
        self.changes = changes
        self.deltas = deltas
        self.unchanged = unchanged
        self.table = ChunkTable(chunkCounts: plan.chunkCounts)
        self.destination = destination
        self.session = session
        self.idKey = idKey
        self.dataKey = dataKey
        self.previous = previous
        self.compression = compression
        self.progress = progress
        self.sources = sources
    }

    var stats: BackupStats { self.totals.withLock { $0.stats } }
    var usedDataKeys: Set<KeyID> { self.totals.withLock { $0.usedDataKeys } }
    var reusedPrevious: Bool { self.totals.withLock { $0.reusedPrevious } }
    var unchangedBytes: Int64 { self.totals.withLock { $0.unchangedBytes } }
    var deltaChunks: Int { self.totals.withLock { $0.deltaChunks } }
    var cachedIDs: Int { self.totals.withLock { $0.cachedIDs } }
    var tagDeltaChunks: Int { self.totals.withLock { $0.tagDeltaChunks } }
    var times: StageTimes { self.totals.withLock { $0.times } }
    func zeroChunks(disk: Int) -> Int { self.totals.withLock { $0.zeroChunks[disk, default: 0] } }

    func run(workers: Int) throws {
        let queue = WorkQueue(count: self.plan.items.count)
        // No more compressions at once than cores: the other workers are reading or writing meanwhile.
        let compressors = ZstdCompressorPool(self.compression, count: min(workers, WorkerPool.cores))
        try WorkerPool.run(workers: workers) { _, stop in
            try self.work(queue: queue, compressors: compressors, stop: stop)
        }
    }

    private func work(queue: WorkQueue, compressors: ZstdCompressorPool, stop: WorkerPool.Stop) throws {
        let chunkSize = self.plan.chunkSize
        let batch = max(1, self.destination.lookupBatchSize)
        let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize * batch, alignment: POSIX.directIOAlignment)
        defer { buffers.deallocate() }
        let sealer = ChunkSealer(maximumChunk: chunkSize, compressors: compressors)
        let encoder = self.deltas.map { DeltaEncoder(bases: $0, maximumChunk: chunkSize) }
        let tagWorker = self.changes?.worker(slots: batch, maximumChunk: chunkSize)
        var local = Totals()
        defer {
            let finished = local
            self.totals.withLock { totals in
                totals.stats.bytesRead += finished.stats.bytesRead
                totals.stats.bytesStored += finished.stats.bytesStored
                totals.stats.chunksNew += finished.stats.chunksNew
                totals.stats.chunksReused += finished.stats.chunksReused
                totals.stats.chunksZero += finished.stats.chunksZero
                totals.usedDataKeys.formUnion(finished.usedDataKeys)
                totals.reusedPrevious = totals.reusedPrevious || finished.reusedPrevious
                totals.unchangedBytes += finished.unchangedBytes
                totals.deltaChunks += finished.deltaChunks
                totals.cachedIDs += finished.cachedIDs
                totals.tagDeltaChunks += finished.tagDeltaChunks
                totals.zeroChunks.merge(finished.zeroChunks, uniquingKeysWith: +)
                totals.times += finished.times
            }
        }
        var pending: [Pending] = []
        pending.reserveCapacity(batch)
        var clock = ThreadCPUClock()
        // A directory vault stores each object as it comes; a served one gathers several per request.
        let uploader = self.destination.chunkUploader(session: self.session)

        // Asks the vault about the batch, and about the bases the change cache offers for its changed
        // chunks, and uploads what it lacks.
        func flush() throws {
            guard !pending.isEmpty else { return }
            _ = clock.lap()
            var asked = pending.map(\.id)
            var tagBases: [ChunkID: Int] = [:]
            for waiting in pending {
                if self.deltasAllowed, case .begun(let base?) = waiting.record, tagBases[base] == nil {
                    tagBases[base] = asked.count
                    asked.append(base)
                }
            }
            let answers = try self.destination.lookup(session: self.session, asked)
            local.times.lookup += clock.lap()
            for (waiting, keys) in zip(pending, answers) {
                let chunk = UnsafeRawBufferPointer(rebasing: buffers[waiting.slot * chunkSize..<waiting.slot * chunkSize + waiting.length])
                if let keys {
                    local.stats.chunksReused += 1
                    local.usedDataKeys.insert(keys.dataKey)
                    // A delta found stored (another VM of the domain, or an older point) is opened with its
                    // base's key too, which the manifest must name.
                    if let baseKey = keys.baseDataKey { local.usedDataKeys.insert(baseKey) }
                    finishRecord(waiting, base: keys.baseDataKey == nil ? waiting.id : nil)
                    continue
                }
                let objectLength: Int
                if case .begun(let base?) = waiting.record, let tagWorker, let index = tagBases[base], let baseKeys = answers[index],
                   baseKeys.baseDataKey == nil,
                   let length = ChunkDelta.encode(chunk, changed: tagWorker.changedBlocks(slot: waiting.slot), into: tagWorker.payload,
                                                  limit: chunk.count / 2) {
                    // The vault holds the base whole: the delta is built from the block tags, the base unread.
                    local.times.delta += clock.lap()
                    objectLength = try sealer.seal(UnsafeRawBufferPointer(rebasing: tagWorker.payload[0..<length]), chunkLength: chunk.count,
                                                   base: base, id: waiting.id, dataKey: self.dataKey.key, dataKeyID: self.dataKey.id,
                                                   times: &local.times, clock: &clock)
                    local.usedDataKeys.insert(baseKeys.dataKey)
                    local.deltaChunks += 1
                    local.tagDeltaChunks += 1
                    finishRecord(waiting, base: base, bitmap: UnsafeRawBufferPointer(rebasing: tagWorker.payload[0..<ChunkDelta.bitmapByteCount(chunkLength: chunk.count)]))
                } else if let encoder, let delta = try encoder.encode(chunk, id: waiting.id, disk: waiting.disk, index: waiting.index) {
                    local.times.delta += clock.lap()
                    objectLength = try sealer.seal(UnsafeRawBufferPointer(rebasing: encoder.payload[0..<delta.length]), chunkLength: chunk.count,
                                                   base: delta.base, id: waiting.id, dataKey: self.dataKey.key, dataKeyID: self.dataKey.id,
                                                   times: &local.times, clock: &clock)
                    local.usedDataKeys.insert(delta.baseDataKey)
                    local.deltaChunks += 1
                    finishRecord(waiting, base: delta.base, bitmap: UnsafeRawBufferPointer(rebasing: encoder.payload[0..<ChunkDelta.bitmapByteCount(chunkLength: chunk.count)]))
                } else {
                    local.times.delta += clock.lap()
                    objectLength = try sealer.seal(chunk, id: waiting.id, dataKey: self.dataKey.key, dataKeyID: self.dataKey.id,
                                                   times: &local.times, clock: &clock)
                    finishRecord(waiting, base: waiting.id)
                }
                try uploader.put(id: waiting.id, object: UnsafeRawBufferPointer(rebasing: sealer.object[0..<objectLength]))
                local.times.store += clock.lap()
                local.stats.chunksNew += 1
                local.stats.bytesStored += Int64(objectLength)
                local.usedDataKeys.insert(self.dataKey.id)
            }
            local.times.store += clock.lap()
            pending.removeAll(keepingCapacity: true)
        }

        // Leaves a begun record in the change cache; `base` is the whole chunk the content relates to.
        func finishRecord(_ waiting: Pending, base: ChunkID?, bitmap: UnsafeRawBufferPointer? = nil) {
            guard case .begun = waiting.record, let tagWorker else { return }
            tagWorker.finish(slot: waiting.slot, disk: waiting.disk, index: waiting.index, base: base, bitmap: bitmap)
        }

        try self.idKey.withUnsafeBytes { idKey in
            while !stop.isSet, let next = queue.take() {
                if self.progress.isCancelled { throw TresorError(.cancelled, "the backup was cancelled") }
                let item = self.plan.items[next]
                let length = self.plan.length(item)
                if let known = self.unchanged?.id(disk: item.disk, index: item.index) {
                    // Unchanged since the previous point (its snapshot shares these blocks): its ID, unread.
                    self.progress.add(length)
                    local.unchangedBytes += Int64(length)
                    if known.isZero {
                        local.stats.chunksZero += 1
                        local.zeroChunks[item.disk, default: 0] += 1
                    } else {
                        self.table.set(disk: item.disk, index: item.index, known)
                        local.stats.chunksReused += 1
                        local.reusedPrevious = true
                    }
                    continue
                }
                let slot = pending.count
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffers[slot * chunkSize..<slot * chunkSize + length])
                _ = clock.lap()
                let source = self.sources[item.disk]
                let hole = source.isHole(at: self.plan.offset(item), length: length)
                if !hole { try source.read(at: self.plan.offset(item), into: chunk) }
                local.times.read += clock.lap()
                local.stats.bytesRead += Int64(length)
                defer { self.progress.add(length) }

                let zero = hole || isAllZero(UnsafeRawBufferPointer(chunk))
                local.times.zeroCheck += clock.lap()
                if zero {
                    local.stats.chunksZero += 1
                    local.zeroChunks[item.disk, default: 0] += 1
                    continue
                }
                let id: ChunkID
                var record = CacheRecord.none
                let match = tagWorker?.compare(UnsafeRawBufferPointer(chunk), disk: item.disk, index: item.index, slot: slot) ?? .unknown
                local.times.changeTag += clock.lap()
                if case .unchanged(let cached) = match {
                    // Every block's tag matches the change cache: the ID computed from this content last time.
                    id = cached
                    record = .carried
                    local.cachedIDs += 1
                } else {
                    id = chunkID(of: UnsafeRawBufferPointer(chunk), idKey: idKey)
                    local.times.chunkID += clock.lap()
                    if let tagWorker {
                        try tagWorker.begin(UnsafeRawBufferPointer(chunk), id: id, index: item.index, slot: slot)
                        if case .changed(let base) = match { record = .begun(tagBase: base) } else { record = .begun(tagBase: nil) }
                        local.times.changeTag += clock.lap()
                    }
                }
                self.table.set(disk: item.disk, index: item.index, id)
                let waiting = Pending(slot: slot, length: length, id: id, disk: item.disk, index: item.index, record: record)
                // Content stored already (in the previous point) or being stored by another worker: its
                // record names the chunk itself as the base a later delta may be built over. Whether the
                // vault holds that chunk whole is asked when a delta is built (flush), so a chunk stored
                // as a delta is never taken for a base.
                if self.previous.ids.contains(id) {
                    local.stats.chunksReused += 1
                    local.reusedPrevious = true
                    finishRecord(waiting, base: id)
                    continue
                }
                if !self.claimed.withLock({ $0.insert(id).inserted }) {
                    // Another worker asks about (and uploads) this content in this backup; it records the key.
                    local.stats.chunksReused += 1
                    finishRecord(waiting, base: id)
                    continue
                }
                local.times.lookup += clock.lap()
                pending.append(waiting)
                if pending.count == batch { try flush() }
            }
            if !stop.isSet {
                try flush()
                _ = clock.lap()
                try uploader.finish()
                local.times.store += clock.lap()
            }
        }
    }
}
