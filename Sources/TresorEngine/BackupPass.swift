import Synchronization
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

/// One backup's walk over its chunks: read, skip zeros, key the ID, and compress, seal and store only
/// what the domain lacks.
final class BackupPass: Sendable {
    struct Totals: Sendable {
        var stats = BackupStats()
        var newChunks: [StoredChunk] = []
        var usedDataKeys: Set<KeyID> = []
        var zeroChunks: [Int: Int] = [:]
        var times = StageTimes()
    }

    let plan: ChunkPlan
    let table: ChunkTable
    private let vault: Vault
    private let domain: DomainID
    private let idKey: SymmetricKey
    private let dataKey: BackupEngine.SelectedDataKey
    private let known: [ChunkID: KeyID]
    private let bad: Set<ChunkID>
    private let level: Int32
    private let progress: ProgressCounter
    /// IDs stored or being stored by this backup, so two disks holding the same new chunk store it once.
    private let claimed = Mutex<Set<ChunkID>>([])
    private let totals = Mutex(Totals())
    private let sources: [DiskSource]

    init(plan: ChunkPlan, vault: Vault, domain: DomainID, idKey: SymmetricKey, dataKey: BackupEngine.SelectedDataKey,
         known: [ChunkID: KeyID], bad: Set<ChunkID>, level: Int32, progress: ProgressCounter, sources: [DiskSource]) {
        self.plan = plan
        self.table = ChunkTable(chunkCounts: plan.chunkCounts)
        self.vault = vault
        self.domain = domain
        self.idKey = idKey
        self.dataKey = dataKey
        self.known = known
        self.bad = bad
        self.level = level
        self.progress = progress
        self.sources = sources
    }

    var stats: BackupStats { self.totals.withLock { $0.stats } }
    var newChunks: [StoredChunk] { self.totals.withLock { $0.newChunks } }
    var usedDataKeys: Set<KeyID> { self.totals.withLock { $0.usedDataKeys } }
    var times: StageTimes { self.totals.withLock { $0.times } }
    func zeroChunks(disk: Int) -> Int { self.totals.withLock { $0.zeroChunks[disk, default: 0] } }

    func run(workers: Int) throws {
        let queue = WorkQueue(count: self.plan.items.count)
        try WorkerPool.run(workers: workers) { _, stop in
            try self.work(queue: queue, stop: stop)
        }
    }

    private func work(queue: WorkQueue, stop: WorkerPool.Stop) throws {
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: self.plan.chunkSize, alignment: POSIX.directIOAlignment)
        defer { plain.deallocate() }
        let sealer = ChunkSealer(maximumChunk: self.plan.chunkSize, level: self.level)
        var local = Totals()
        defer {
            let finished = local
            self.totals.withLock { totals in
                totals.stats.bytesRead += finished.stats.bytesRead
                totals.stats.bytesStored += finished.stats.bytesStored
                totals.stats.chunksNew += finished.stats.chunksNew
                totals.stats.chunksReused += finished.stats.chunksReused
                totals.stats.chunksZero += finished.stats.chunksZero
                totals.newChunks += finished.newChunks
                totals.usedDataKeys.formUnion(finished.usedDataKeys)
                totals.zeroChunks.merge(finished.zeroChunks, uniquingKeysWith: +)
                totals.times += finished.times
            }
        }
        try self.idKey.withUnsafeBytes { idKey in
            var clock = ThreadCPUClock()
            while !stop.isSet, let next = queue.take() {
                let item = self.plan.items[next]
                let length = self.plan.length(item)
                let chunk = UnsafeMutableRawBufferPointer(rebasing: plain[0..<length])
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
                let id = chunkID(of: UnsafeRawBufferPointer(chunk), idKey: idKey)
                local.times.chunkID += clock.lap()
                self.table.set(disk: item.disk, index: item.index, id)
                defer { local.times.lookup += clock.lap() }
                if let keyID = self.known[id] {
                    local.stats.chunksReused += 1
                    local.usedDataKeys.insert(keyID)
                    continue
                }
                if !self.claimed.withLock({ $0.insert(id).inserted }) {
                    // Another worker stores (or stored) this content in this backup.
                    local.stats.chunksReused += 1
                    continue
                }
                let objectKey = ObjectKey.chunk(domain: self.domain, id: id)
                if let leftover = try self.adoptLeftover(objectKey, id: id, buffer: sealer.object) {
                    // Written by an interrupted backup: complete (written by rename) and reusable.
                    local.stats.chunksReused += 1
                    local.usedDataKeys.insert(leftover.dataKeyID)
                    local.newChunks.append(leftover)
                    continue
                }
                local.times.lookup += clock.lap()
                let objectLength = try sealer.seal(UnsafeRawBufferPointer(chunk), id: id, dataKey: self.dataKey.key,
                                                   dataKeyID: self.dataKey.id, times: &local.times, clock: &clock)
                try self.vault.store.put(objectKey, bytes: UnsafeRawBufferPointer(rebasing: sealer.object[0..<objectLength]))
                local.times.store += clock.lap()
                local.stats.chunksNew += 1
                local.stats.bytesStored += Int64(objectLength)
                local.usedDataKeys.insert(self.dataKey.id)
                local.newChunks.append(StoredChunk(id: id, storedBytes: objectLength, dataKeyID: self.dataKey.id))
            }
        }
        // The data key of chunks claimed by another worker is recorded by that worker.
    }

    /// A chunk object the catalog does not list but the store holds, left by a backup that was killed
    /// before its manifest. Its header must be sound and name this ID, or it is rewritten.
    private func adoptLeftover(_ key: ObjectKey, id: ChunkID, buffer: UnsafeMutableRawBufferPointer) throws -> StoredChunk? {
        guard !self.bad.contains(id), let size = try self.vault.store.size(of: key) else { return nil }
        let n = try self.vault.store.readPrefix(key, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<ChunkObjectHeader.byteCount]))
        guard let header = try? ChunkObjectHeader.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), objectLength: size, name: key.path),
              header.chunkID == id
        else { return nil }
        return StoredChunk(id: id, storedBytes: size, dataKeyID: header.dataKeyID)
    }
}
