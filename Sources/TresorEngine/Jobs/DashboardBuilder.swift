public import TresorCore

/// Builds the dashboard from the vault itself, at the moment it is asked (docs/jobs.md, "Dashboard"): no
/// keys are needed, since index pages (chunk IDs) and object sizes are what the vault already sees.
public struct DashboardBuilder: Sendable {
    let vault: Vault
    let jobs: (any JobStore)?

    public init(vault: Vault, jobs: (any JobStore)?) {
        self.vault = vault
        self.jobs = jobs
    }

    public func build(now: Int64) throws -> Dashboard {
        let points = try self.vault.catalog.recoveryPoints(vmID: nil)
        let usage = try self.usage(points)
        let vms = try self.statuses(points)
        let recentJobs = try self.jobs?.jobs(JobFilter(sinceMillis: now - 86_400_000)) ?? []
        return Dashboard(
            generatedAtMillis: now, vms: vms,
            protection: Dictionary(vms.map { ($0.status.rawValue, 1) }, uniquingKeysWith: +),
            jobsLast24Hours: Dictionary(recentJobs.map { ($0.status.rawValue, 1) }, uniquingKeysWith: +),
            storage: usage.storage, usage: usage.vms)
    }

    /// Each known VM (from its recovery points, protection records and agents' reports) and its state.
    func statuses(_ points: [RecoveryPointRecord]) throws -> [VMStatus] {
        struct Key: Hashable { let name: String; let host: String }
        let protections = Dictionary(try self.vault.protectionRecords().map { (Key(name: $0.vmName, host: $0.host), $0) },
                                     uniquingKeysWith: { a, _ in a })
        let registered = Set(try self.vault.registrations().map { Key(name: $0.vmName, host: $0.host) })
        var known = Set(points.map { Key(name: $0.vmName, host: $0.host) }).union(protections.keys).union(registered)
        for agent in try self.jobs?.agents() ?? [] {
            for vm in agent.report.vms { known.insert(Key(name: vm.name, host: agent.report.host)) }
        }
        let backupJobs = try self.jobs?.jobs(JobFilter(kind: .backup)) ?? []
        return known.sorted { ($0.name, $0.host) < ($1.name, $1.host) }.map { key in
            let live = points.filter { $0.vmName == key.name && $0.host == key.host && $0.deletedAtMillis == nil }
            let newest = live.max { $0.createdAtMillis < $1.createdAtMillis }
            let lastJob = backupJobs.filter { $0.vmName == key.name && $0.host == key.host && $0.status.isFinished }
                .max { ($0.endedAtMillis ?? 0) < ($1.endedAtMillis ?? 0) }
            var lastAt = newest?.createdAtMillis
            var lastStatus = newest.map { _ in "completed" }
            if let job = lastJob, (job.endedAtMillis ?? 0) >= (lastAt ?? 0) {
                lastAt = job.endedAtMillis
                lastStatus = job.status.rawValue
            }
            let protection = protections[key]
            let status: ProtectionStatus
            switch protection?.state {
            case nil: status = registered.contains(key) ? .registered : .notProtected
            case .stopped?: status = .protectionStopped
            case .protected?:
                if lastJob?.status == .failed && lastStatus == "failed" {
                    status = .protectionError
                } else if !live.contains(where: { $0.createdAtMillis >= protection!.updatedAtMillis })
                            && !(lastJob?.status == .completed && (lastJob?.endedAtMillis ?? 0) >= protection!.updatedAtMillis) {
                    // No point since protection, by the client's clock nor by a job the vault saw complete.
                    status = .initialBackupPending
                } else {
                    status = .protected
                }
            }
            return VMStatus(vmName: key.name, host: key.host, status: status, policy: protection?.policy, lastBackupAtMillis: lastAt,
                            lastBackupStatus: lastStatus, lastErrorCode: lastStatus == "failed" ? lastJob?.errorCode : nil,
                            newestConsistency: newest?.consistency)
        }
    }

    /// Per-VM storage: every chunk's stored size is shared equally among the VMs whose recovery points
    /// (soft-deleted ones included: they still hold their data) reference it.
    func usage(_ points: [RecoveryPointRecord]) throws -> (storage: StorageSummary, vms: [VMUsage]) {
        struct ChunkRef: Hashable { let domain: DomainID; let id: ChunkID }
        struct VMKey: Hashable { let name: String; let host: String }
        var chunksOf: [VMKey: Set<ChunkRef>] = [:]
        var instance: [VMKey: (at: Int64, bytes: Int64)] = [:]
        var pointCount: [VMKey: Int] = [:]
        for point in points {
            let key = VMKey(name: point.vmName, host: point.host)
            pointCount[key, default: 0] += 1
            let manifest = try self.vault.loadManifest(point.id)
            var used: Int64 = 0
            for disk in manifest.body.disks {
                let ids = try OpenedRecoveryPoint.loadIndex(vault: self.vault, domain: point.domainID, disk: disk)
                chunksOf[key, default: []].formUnion(ids.lazy.filter { !$0.isZero }.map { ChunkRef(domain: point.domainID, id: $0) })
                used += min(disk.size, Int64(disk.chunkCount - disk.zeroChunks) * Int64(manifest.body.chunkSize))
            }
            if point.deletedAtMillis == nil, point.createdAtMillis >= instance[key]?.at ?? .min {
                instance[key] = (point.createdAtMillis, used)
            }
        }
        var sharing: [ChunkRef: Int] = [:]
        for chunks in chunksOf.values { for chunk in chunks { sharing[chunk, default: 0] += 1 } }
        var sizes: [ChunkRef: Int64] = [:]
        for chunk in sharing.keys { sizes[chunk] = Int64(try self.vault.store.size(of: .chunk(domain: chunk.domain, id: chunk.id)) ?? 0) }
        // Shares are rounded down per VM; the remainder goes to the first VMs so that the figures add up exactly.
        var vms: [VMUsage] = []
        for (key, chunks) in chunksOf.sorted(by: { ($0.key.name, $0.key.host) < ($1.key.name, $1.key.host) }) {
            var share: Int64 = 0
            var unique: Int64 = 0
            for chunk in chunks {
                let size = sizes[chunk] ?? 0
                let count = Int64(sharing[chunk] ?? 1)
                share += size / count
                if count == 1 { unique += size }
            }
            vms.append(VMUsage(vmName: key.name, host: key.host, protectedInstanceBytes: instance[key]?.bytes ?? 0, storageBytes: share,
                               uniqueBytes: unique, recoveryPoints: pointCount[key] ?? 0))
        }
        let referenced = sizes.values.reduce(0, +)
        var remainder = referenced - vms.reduce(0) { $0 + $1.storageBytes }
        var index = 0
        while remainder > 0 && !vms.isEmpty {
            vms[index % vms.count].storageBytes += 1
            remainder -= 1
            index += 1
        }
        let usage = try self.vault.catalog.usage()
        return (StorageSummary(logicalBytes: usage.logicalBytes, referencedBytes: referenced, storedBytes: usage.storedBytes), vms)
    }
}
