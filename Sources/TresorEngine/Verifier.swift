import Synchronization
import TresorCore
public import TresorKeys

/// How much chunk data `verify` decrypts and re-hashes.
public enum ReadDataMode: Sendable, Equatable {
    case none
    case all
    case subset(percent: Double)
}

/// One thing wrong, with what it breaks.
public struct VerifyProblem: Codable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case manifest, key, indexPage = "index-page", chunkMissing = "chunk-missing", chunkAltered = "chunk-altered", chain
    }
    public struct Reference: Codable, Sendable, Hashable {
        public var recoveryPoint: String
        public var vm: String
        public var disk: Int?

        public init(recoveryPoint: String, vm: String, disk: Int?) {
            self.recoveryPoint = recoveryPoint
            self.vm = vm
            self.disk = disk
        }
    }

    public var kind: Kind
    public var object: String
    public var message: String
    public var breaks: [Reference]
}

public struct VerifyReport: Encodable, Sendable {
    public var recoveryPoints: Int
    public var chunksReferenced: Int
    public var chunksRead: Int
    public var bytesRead: Int64
    public var problems: [VerifyProblem]
    public var chunksMarkedBad: Int
    public var seconds: Double
    public var ok: Bool { self.problems.isEmpty }

    enum CodingKeys: String, CodingKey {
        case recoveryPoints, chunksReferenced, chunksRead, bytesRead, problems, chunksMarkedBad, seconds, ok
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.recoveryPoints, forKey: .recoveryPoints)
        try c.encode(self.chunksReferenced, forKey: .chunksReferenced)
        try c.encode(self.chunksRead, forKey: .chunksRead)
        try c.encode(self.bytesRead, forKey: .bytesRead)
        try c.encode(self.problems, forKey: .problems)
        try c.encode(self.chunksMarkedBad, forKey: .chunksMarkedBad)
        try c.encode(self.seconds, forKey: .seconds)
        try c.encode(self.ok, forKey: .ok)
    }
}

/// Checks a vault: every manifest's signature and keys, every index page's hash, that every referenced
/// chunk exists, the per-VM chain, and (with read-data) that chunks decrypt to their keyed IDs. Damaged
/// chunks are marked bad so the next backup stores their data again.
///
/// Memory stays proportional to the number of distinct chunks: which recovery points and disks a
/// damaged chunk breaks is found by a second pass over the indexes, only when there is damage.
public enum Verifier {
    /// A chunk to check, and the recovery point whose keys open it.
    struct ChunkUse: Sendable {
        var reader: String
        var length: Int
    }

    struct Damage: Sendable {
        var domain: DomainID
        var id: ChunkID
        var kind: VerifyProblem.Kind
        var message: String
    }

    public static func run(vault: Vault, keys: KeyRing, mode: ReadDataMode, workers: Int? = nil,
                           progress: ProgressCounter = ProgressCounter()) throws -> VerifyReport {
        guard keys.canDecrypt else {
            throw TresorError(.writeOnlyClient, "verify checks signatures and decrypts chunks: a write-only key store cannot",
                              action: "verify with the operator's key store")
        }
        let started = ContinuousClock.now
        var problems: [VerifyProblem] = []
        var opened: [String: OpenedRecoveryPoint] = [:]
        let manifestKeys = try vault.store.list(folder: ObjectKey.manifestsFolder).filter { $0.manifestID != nil }
        for key in manifestKeys {
            let id = key.manifestID!
            do {
                opened[id] = try OpenedRecoveryPoint(vault: vault, keys: keys, recoveryPointID: id)
            } catch let error as TresorError {
                let kind: VerifyProblem.Kind = [.unwrapFailed, .writeOnlyClient].contains(error.code) ? .key : .manifest
                problems.append(VerifyProblem(kind: kind, object: key.path, message: error.message,
                                              breaks: [VerifyProblem.Reference(recoveryPoint: id, vm: "?", disk: nil)]))
            }
        }
        problems += Self.checkChains(Array(opened.values))

        // Every distinct chunk once, with a recovery point that can open it.
        var uses: [DomainID: [ChunkID: ChunkUse]] = [:]
        for (id, point) in opened.sorted(by: { $0.key < $1.key }) {
            let body = point.body
            for disk in body.disks {
                let ids: [ChunkID]
                do {
                    ids = try point.index(of: disk)
                } catch let error as TresorError {
                    problems.append(VerifyProblem(kind: .indexPage, object: "disk \(disk.position)", message: error.message,
                                                  breaks: [VerifyProblem.Reference(recoveryPoint: id, vm: body.vm.name, disk: disk.position)]))
                    continue
                }
                for (index, chunk) in ids.enumerated() where !chunk.isZero && uses[point.domain]?[chunk] == nil {
                    let length = Int(min(Int64(body.chunkSize), disk.size - Int64(index) * Int64(body.chunkSize)))
                    uses[point.domain, default: [:]][chunk] = ChunkUse(reader: id, length: length)
                }
            }
        }

        let largestChunk = opened.values.map(\.body.chunkSize).max() ?? 0
        let checked = try Self.checkChunks(uses, mode: mode, vault: vault, points: opened,
                                           workers: workers ?? WorkerPool.readingWorkers(
                                               chunkSize: largestChunk, batch: vault.store.chunkReadBatch(chunkSize: largestChunk)),
                                           progress: progress)
        if !checked.damage.isEmpty {
            let breaks = try Self.references(of: Set(checked.damage.map { DamagedChunk(domain: $0.domain, id: $0.id) }), in: opened)
            for damage in checked.damage.sorted(by: { $0.id < $1.id }) {
                let object = ObjectKey.chunk(domain: damage.domain, id: damage.id).path
                problems.append(VerifyProblem(kind: damage.kind, object: object, message: damage.message,
                                              breaks: breaks[DamagedChunk(domain: damage.domain, id: damage.id)] ?? []))
            }
            var byDomain: [DomainID: [ChunkID]] = [:]
            for damage in checked.damage { byDomain[damage.domain, default: []].append(damage.id) }
            for (domain, ids) in byDomain { try vault.catalog.markBad(domain: domain, ids: ids) }
        }
        return VerifyReport(recoveryPoints: manifestKeys.count, chunksReferenced: uses.values.reduce(0) { $0 + $1.count },
                            chunksRead: checked.read, bytesRead: checked.bytes, problems: problems,
                            chunksMarkedBad: checked.damage.count, seconds: (ContinuousClock.now - started).seconds)
    }

    /// One recovery point per sequence number, each naming the hash of the one before it.
    static func checkChains(_ points: [OpenedRecoveryPoint]) -> [VerifyProblem] {
        var problems: [VerifyProblem] = []
        for (_, chain) in Dictionary(grouping: points, by: { $0.body.vm.id }) {
            let sorted = chain.sorted { $0.body.sequence < $1.body.sequence }
            for (before, point) in zip(sorted, sorted.dropFirst()) {
                let body = point.body
                let reference = VerifyProblem.Reference(recoveryPoint: body.recoveryPointID, vm: body.vm.name, disk: nil)
                let object = "manifests/\(body.recoveryPointID).manifest"
                if before.body.sequence == body.sequence {
                    problems.append(VerifyProblem(
                        kind: .chain, object: object,
                        message: "recovery points \(before.body.recoveryPointID) and \(body.recoveryPointID) share sequence number \(body.sequence)",
                        breaks: [reference]))
                } else if before.body.sequence + 1 == body.sequence, body.previousManifest != before.manifest.sha256 {
                    problems.append(VerifyProblem(
                        kind: .chain, object: object,
                        message: "recovery point \(body.recoveryPointID) does not follow \(before.body.recoveryPointID) (previous-manifest hash differs)",
                        breaks: [reference]))
                }
            }
        }
        return problems
    }

    /// Which of `chunks` (domain, ID, base) are absent, and which have their base absent, by index: asked in
    /// slices on all workers, so that a served vault answers a slice in one request (`chunkSizes`).
    static func absentChunks(_ chunks: [(domain: DomainID, id: ChunkID, base: ChunkID?)], vault: Vault,
                             workers: Int) throws -> (chunks: Set<Int>, bases: Set<Int>) {
        let slice = ChunkSizesResponse.maximumIDs
        let queue = WorkQueue(count: (chunks.count + slice - 1) / slice)
        let absent = Mutex<(chunks: Set<Int>, bases: Set<Int>)>(([], []))
        try WorkerPool.run(workers: workers) { _, stop in
            while !stop.isSet, let next = queue.take() {
                let range = next * slice..<min((next + 1) * slice, chunks.count)
                for (domain, indices) in Dictionary(grouping: range, by: { chunks[$0].domain }) {
                    let withBase = indices.filter { chunks[$0].base != nil }
                    let sizes = try vault.store.chunkSizes(domain: domain, ids: indices.map { chunks[$0].id } + withBase.map { chunks[$0].base! })
                    let lost = indices.indices.filter { sizes[$0] == nil }.map { indices[$0] }
                    let lostBases = withBase.indices.filter { sizes[indices.count + $0] == nil }.map { withBase[$0] }
                    absent.withLock { $0.chunks.formUnion(lost); $0.bases.formUnion(lostBases) }
                }
            }
        }
        return absent.withLock { $0 }
    }

    /// Existence of every chunk; decryption and re-hashing of the selected share, on all cores.
    static func checkChunks(_ uses: [DomainID: [ChunkID: ChunkUse]], mode: ReadDataMode, vault: Vault,
                            points: [String: OpenedRecoveryPoint], workers: Int,
                            progress: ProgressCounter) throws -> (damage: [Damage], read: Int, bytes: Int64) {
        struct Job: Sendable { let domain: DomainID; let id: ChunkID; let use: ChunkUse; let read: Bool; let base: ChunkID? }
        var generator = SystemRandomNumberGenerator()
        var jobs: [Job] = []
        for (domain, chunks) in uses {
            let bases = try vault.catalog.deltaBases(domain: domain)
            for (id, use) in chunks {
                let read: Bool = switch mode {
                case .none: false
                case .all: true
                case .subset(let percent): Double.random(in: 0..<100, using: &generator) < percent
                }
                jobs.append(Job(domain: domain, id: id, use: use, read: read, base: bases[id]))
            }
        }
        progress.setTotal(jobs.reduce(0) { $0 + Int64($1.read ? $1.use.length : 0) })
        let allJobs = jobs
        let absent = try Self.absentChunks(allJobs.map { ($0.domain, $0.id, $0.base) }, vault: vault, workers: workers)
        let queue = WorkQueue(count: jobs.count)
        let found = Mutex<(damage: [Damage], read: Int, bytes: Int64)>(([], 0, 0))
        let maximumChunk = points.values.map(\.body.chunkSize).max() ?? (1 << 20)
        // A served vault answers the chunks to read several per request; a directory vault, one by one.
        let batch = vault.store.chunkReadBatch(chunkSize: maximumChunk)
        try WorkerPool.run(workers: workers) { _, stop in
            let opener = ChunkOpener(maximumChunk: maximumChunk)
            let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: maximumChunk, alignment: 64)
            defer { plain.deallocate() }
            let reader = batch > 1 ? BatchedChunkReader(store: vault.store, batch: batch, chunkSize: maximumChunk) : nil

            /// Reports damage found by opening a chunk, or counts the chunk as read.
            func open(_ job: Job, _ key: ObjectKey, fetch: () throws -> Int) throws {
                do {
                    let length = try fetch()
                    found.withLock { $0.read += 1; $0.bytes += Int64(length) }
                } catch let error as TresorError {
                    found.withLock { $0.damage.append(Damage(domain: job.domain, id: job.id, kind: .chunkAltered, message: error.message)) }
                }
            }

            /// One chunk on its own: its existence (and its base's), then, if it is to be read, its content.
            func check(_ index: Int) throws {
                let job = allJobs[index]
                let key = ObjectKey.chunk(domain: job.domain, id: job.id)
                guard !absent.chunks.contains(index) else {
                    found.withLock { $0.damage.append(Damage(domain: job.domain, id: job.id, kind: .chunkMissing,
                                                             message: "chunk \(key.path) is missing")) }
                    return
                }
                if let base = job.base, absent.bases.contains(index) {
                    // Reported under the delta, whose recovery points it breaks, and marked bad with it.
                    found.withLock { $0.damage.append(Damage(domain: job.domain, id: job.id, kind: .chunkMissing,
                                                             message: "chunk \(key.path) is a delta whose base \(base) is missing")) }
                    return
                }
                guard job.read, let point = points[job.use.reader] else { return }
                try open(job, key) {
                    try opener.fetch(job.id, name: key.path, read: point.readChunk, idKey: point.idKey, keyFor: point.dataKey,
                                     into: UnsafeMutableRawBufferPointer(rebasing: plain[0..<job.use.length]))
                }
                progress.add(job.use.length)
            }

            while !stop.isSet, let run = queue.take(upTo: batch) {
                // The chunks to read of the run's first domain come in one request; when one of them (or a
                // base) is missing, every chunk of the run is checked on its own, which names what is missing.
                let domain = allJobs[run.lowerBound].domain
                let batched = run.filter { allJobs[$0].domain == domain && allJobs[$0].read && points[allJobs[$0].use.reader] != nil }
                var fetched = false
                if let reader, !batched.isEmpty {
                    do {
                        try reader.fetch(batched.map { allJobs[$0].id }, domain: domain)
                        fetched = true
                    } catch let error as TresorError where [.missingObject, .corruptObject].contains(error.code) {}
                }
                for next in run {
                    let job = allJobs[next]
                    guard fetched, let reader, batched.contains(next), let object = reader.object(job.id), let point = points[job.use.reader] else {
                        try check(next)
                        continue
                    }
                    let key = ObjectKey.chunk(domain: job.domain, id: job.id)
                    try open(job, key) {
                        try object.count + opener.open(object, expectedID: job.id, name: key.path, read: reader.readBase, idKey: point.idKey,
                                                       keyFor: point.dataKey, into: UnsafeMutableRawBufferPointer(rebasing: plain[0..<job.use.length]))
                    }
                    progress.add(job.use.length)
                }
            }
        }
        return found.withLock { $0 }
    }

    struct DamagedChunk: Hashable, Sendable {
        let domain: DomainID
        let id: ChunkID
    }

    /// The recovery points and disks that reference each damaged chunk (a second read of the indexes).
    static func references(of damaged: Set<DamagedChunk>,
                           in points: [String: OpenedRecoveryPoint]) throws -> [DamagedChunk: [VerifyProblem.Reference]] {
        var out: [DamagedChunk: [VerifyProblem.Reference]] = [:]
        for (id, point) in points.sorted(by: { $0.key < $1.key }) {
            for disk in point.body.disks {
                guard let ids = try? point.index(of: disk) else { continue }
                let reference = VerifyProblem.Reference(recoveryPoint: id, vm: point.body.vm.name, disk: disk.position)
                for chunk in Set(ids) {
                    let key = DamagedChunk(domain: point.domain, id: chunk)
                    if damaged.contains(key) { out[key, default: []].append(reference) }
                }
            }
        }
        return out
    }
}
