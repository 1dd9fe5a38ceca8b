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
public enum Verifier {
    public static func run(vault: Vault, keys: KeyRing, mode: ReadDataMode, workers: Int? = nil,
                           progress: ProgressCounter = ProgressCounter()) throws -> VerifyReport {
        guard keys.canDecrypt else {
            throw TresorError(.writeOnlyClient, "verify checks signatures and decrypts chunks: a write-only key store cannot",
                              action: "verify with the operator's key store")
        }
        let started = ContinuousClock.now
        var problems: [VerifyProblem] = []
        var opened: [String: OpenedRecoveryPoint] = [:]
        struct ChunkUse { var refs: Set<VerifyProblem.Reference>; var reader: String; var length: Int }
        var uses: [DomainID: [ChunkID: ChunkUse]] = [:]
        var chains: [String: [(sequence: UInt64, id: String, previous: String?, sha: String, name: String)]] = [:]

        let manifestKeys = try vault.store.list(folder: ObjectKey.manifestsFolder)
        for key in manifestKeys {
            guard key.path.hasSuffix(".manifest") else { continue }
            let id = String(key.path.split(separator: "/").last!.dropLast(".manifest".count))
            let point: OpenedRecoveryPoint
            do {
                point = try OpenedRecoveryPoint(vault: vault, keys: keys, recoveryPointID: id)
            } catch let error as TresorError {
                let kind: VerifyProblem.Kind = [.unwrapFailed, .writeOnlyClient].contains(error.code) ? .key : .manifest
                problems.append(VerifyProblem(kind: kind, object: key.path, message: error.message,
                                              breaks: [VerifyProblem.Reference(recoveryPoint: id, vm: "?", disk: nil)]))
                continue
            }
            opened[id] = point
            let body = point.body
            chains[body.vm.id, default: []].append((body.sequence, id, body.previousManifest, point.manifest.sha256, body.vm.name))
            for disk in body.disks {
                let reference = VerifyProblem.Reference(recoveryPoint: id, vm: body.vm.name, disk: disk.position)
                let ids: [ChunkID]
                do {
                    ids = try point.index(of: disk)
                } catch let error as TresorError {
                    problems.append(VerifyProblem(kind: .indexPage, object: "disk \(disk.position)", message: error.message, breaks: [reference]))
                    continue
                }
                for (index, chunk) in ids.enumerated() where !chunk.isZero {
                    let length = Int(min(Int64(body.chunkSize), disk.size - Int64(index) * Int64(body.chunkSize)))
                    uses[point.domain, default: [:]][chunk, default: ChunkUse(refs: [], reader: id, length: length)].refs.insert(reference)
                }
            }
        }

        // The chain: one recovery point per sequence number, each naming the one before it.
        for (_, points) in chains {
            let sorted = points.sorted { $0.sequence < $1.sequence }
            for (i, point) in sorted.enumerated() where i > 0 {
                let before = sorted[i - 1]
                let reference = VerifyProblem.Reference(recoveryPoint: point.id, vm: point.name, disk: nil)
                if before.sequence == point.sequence {
                    problems.append(VerifyProblem(kind: .chain, object: "manifests/\(point.id).manifest",
                                                  message: "recovery points \(before.id) and \(point.id) share sequence number \(point.sequence)",
                                                  breaks: [reference]))
                } else if before.sequence + 1 == point.sequence, point.previous != before.sha {
                    problems.append(VerifyProblem(kind: .chain, object: "manifests/\(point.id).manifest",
                                                  message: "recovery point \(point.id) does not follow \(before.id) (previous-manifest hash differs)",
                                                  breaks: [reference]))
                }
            }
        }

        // Chunks: existence always; contents for the selected share.
        struct Job { let domain: DomainID; let id: ChunkID; let use: ChunkUse; let read: Bool }
        var jobs: [Job] = []
        var generator = SystemRandomNumberGenerator()
        for (domain, chunks) in uses {
            for (id, use) in chunks {
                let read: Bool = switch mode {
                case .none: false
                case .all: true
                case .subset(let percent): Double.random(in: 0..<100, using: &generator) < percent
                }
                jobs.append(Job(domain: domain, id: id, use: use, read: read))
            }
        }
        progress.setTotal(jobs.reduce(0) { $0 + Int64($1.read ? $1.use.length : 0) })
        let queue = WorkQueue(count: jobs.count)
        let allJobs = jobs
        let found = Mutex<(problems: [VerifyProblem], bad: [DomainID: [ChunkID]], read: Int, bytes: Int64)>(([], [:], 0, 0))
        let pointsByID = opened
        let maximumChunk = pointsByID.values.map(\.body.chunkSize).max() ?? (1 << 20)
        try WorkerPool.run(workers: workers ?? WorkerPool.defaultWorkers) { _, stop in
            let opener = ChunkOpener(maximumChunk: maximumChunk)
            let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: maximumChunk, alignment: 64)
            defer { plain.deallocate() }
            while !stop.isSet, let next = queue.take() {
                let job = allJobs[next]
                let key = ObjectKey.chunk(domain: job.domain, id: job.id)
                let breaks = job.use.refs.sorted { ($0.recoveryPoint, $0.disk ?? -1) < ($1.recoveryPoint, $1.disk ?? -1) }
                guard try vault.store.size(of: key) != nil else {
                    found.withLock {
                        $0.problems.append(VerifyProblem(kind: .chunkMissing, object: key.path, message: "chunk \(key.path) is missing", breaks: breaks))
                        $0.bad[job.domain, default: []].append(job.id)
                    }
                    continue
                }
                guard job.read, let point = pointsByID[job.use.reader] else { continue }
                do {
                    let length = try vault.store.read(key, into: opener.object)
                    try opener.open(length: length, expectedID: job.id, name: key.path, idKey: point.idKey, keyFor: point.dataKey,
                                    into: UnsafeMutableRawBufferPointer(rebasing: plain[0..<job.use.length]))
                    found.withLock { $0.read += 1; $0.bytes += Int64(length) }
                } catch let error as TresorError {
                    found.withLock {
                        $0.problems.append(VerifyProblem(kind: .chunkAltered, object: key.path, message: error.message, breaks: breaks))
                        $0.bad[job.domain, default: []].append(job.id)
                    }
                }
                progress.add(job.use.length)
            }
        }
        let chunkResults = found.withLock { $0 }
        problems += chunkResults.problems
        var marked = 0
        for (domain, ids) in chunkResults.bad {
            try vault.catalog.markBad(domain: domain, ids: ids)
            marked += ids.count
        }
        return VerifyReport(recoveryPoints: manifestKeys.count, chunksReferenced: jobs.count, chunksRead: chunkResults.read,
                            bytesRead: chunkResults.bytes, problems: problems, chunksMarkedBad: marked,
                            seconds: (ContinuousClock.now - started).seconds)
    }
}
