#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
public import TresorCore

/// Deleting, undeleting and collecting (docs/server.md, "Deleting and collecting"). A delete of a VM's
/// data is refused while a backup of that VM runs, with the same words as a second backup.
extension VaultService {
    public func deleteRecoveryPoint(_ id: String, by actor: String, now: Int64) throws -> RecoveryPointRecord {
        let point = try self.recoveryPoint(id)
        return try self.collecting.withLock { _ in
            try self.requireNoBackup(of: point)
            return try self.vault.softDelete(point, at: now, by: actor)
        }
    }

    public func undeleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord {
        let point = try self.recoveryPoint(id)
        return try self.collecting.withLock { _ in try self.vault.undelete(point) }
    }

    private func recoveryPoint(_ id: String) throws -> RecoveryPointRecord {
        guard ObjectKey.isValidManifestID(id), let point = try self.vault.catalog.recoveryPoint(id: id) else {
            throw TresorError(.notFound, "the vault has no recovery point '\(id)'", action: "list them with 'tresor list'")
        }
        return point
    }

    private func requireNoBackup(of point: RecoveryPointRecord) throws {
        let busy = self.sessions.withLock { $0.values.contains { $0.info.vm.id == point.vmID } }
        if busy {
            throw TresorError(.operationInProgress, "\(Self.busyMessage) (a backup of VM '\(point.vmName)' is running)",
                              action: "wait for the backup to finish")
        }
    }

    /// Purges soft-deleted points whose period ended, then deletes every chunk and index page no
    /// remaining point references. Kept as well: points leased by readers or built on by an open backup,
    /// and whatever an open backup was told is stored. The caller keeps readers of the vault directory
    /// out meanwhile (`VaultDirectory.readersLock`).
    public func collectGarbage(now: Int64) throws -> GarbageReport {
        try self.collectGarbage(now: now, readersLock: { () })
    }

    /// The same, once `readersLock` took the vault directory's readers lock exclusively, held until the
    /// collection ends; it returns nil when a reader on the vault's machine holds it, and then nothing is
    /// collected and the report says why.
    public func collectGarbage(now: Int64, readersLock: () throws -> (any Sendable)?) throws -> GarbageReport {
        guard let readers = try readersLock() else {
            var report = GarbageReport()
            report.skipped = "a restore, verify or list on the vault's machine is reading the directory; run the collection again when it ends"
            return report
        }
        return try withExtendedLifetime(readers) { try self.collectExclusively(now: now) }
    }

    private func collectExclusively(now: Int64) throws -> GarbageReport {
        try self.oneCollection.withLock { _ in
            self.committedDuringCollection.withLock { $0 = CollectionPins() }
            defer { self.committedDuringCollection.withLock { $0 = nil } }
            return try self.collectOnce(now: now)
        }
    }

    private func collectOnce(now: Int64) throws -> GarbageReport {
        let started = ContinuousClock.now
        var report = GarbageReport()
        defer { report.seconds = (ContinuousClock.now - started).seconds }
        let manifests = Set(try self.vault.store.list(folder: ObjectKey.manifestsFolder).compactMap(\.manifestID))
        let records = try self.vault.softDeleteRecords()

        // Purge (soft-deleted points past their period, and points whose retention ended), under the lock
        // that session opening takes, so no backup starts on a point going away.
        let expired = try self.expiredByRetention(now: now)
        report.recoveryPointsExpired = expired
        let due = Set(records.filter { SoftDelete.purgeableAt($0.value.deletedAtMillis) <= now }.keys).union(expired)
        var purged = Set<String>()
        try self.collecting.withLock { _ in
            let held = Set(self.leases.active(now: now).flatMap(\.recoveryPoints))
                .union(self.sessions.withLock { $0.values.compactMap { $0.info.previous?.id } })
            for id in due.sorted() where manifests.contains(id) {
                if held.contains(id) {
                    report.recoveryPointsHeld.append(id)
                    continue
                }
                if records[id] == nil {
                    // Expired by retention: a soft-delete record first, so that a purge interrupted after the
                    // manifest is gone is finished by the next writer like any other (docs/formats.md).
                    let record = SoftDeleteRecord(recoveryPointID: id, deletedAtMillis: now, deletedBy: "retention")
                    try self.vault.store.putDurably(.softDelete(recoveryPoint: id), bytes: try JSON.encode(record))
                }
                try self.vault.store.delete(.manifest(recoveryPoint: id))
                try self.vault.store.synchronize()
                try self.vault.store.delete(.softDelete(recoveryPoint: id))
                try self.vault.store.delete(.onDemandKeep(recoveryPoint: id))
                try self.vault.catalog.removeRecoveryPoint(id: id)
                purged.insert(id)
            }
        }
        report.recoveryPointsPurged = purged.sorted()

        let referenced = try GarbageCollector.mark(self.vault, points: manifests.subtracting(purged).sorted())
        report.chunksReferenced = referenced.chunkCount
        let stored = try GarbageCollector.stored(self.vault)
        for domain in Set(stored.chunks.keys).union(stored.pages.keys).sorted(by: { $0.rawValue < $1.rawValue }) {
            // A delta keeps its base (one level: bases are whole chunks).
            let bases = try self.vault.catalog.deltaBases(domain: domain)
            var keptChunks = referenced.chunks[domain] ?? []
            keptChunks.formUnion(keptChunks.compactMap { bases[$0] })
            let keptPages = referenced.pages[domain] ?? []
            let chunks = (stored.chunks[domain] ?? []).filter { !keptChunks.contains($0) }
            let pages = (stored.pages[domain] ?? []).filter { !keptPages.contains($0) }
            for start in stride(from: 0, to: max(chunks.count, pages.count), by: Self.collectionBatch) {
                let batch = (Array(chunks.dropFirst(start).prefix(Self.collectionBatch)), Array(pages.dropFirst(start).prefix(Self.collectionBatch)))
                try self.delete(chunks: batch.0, pages: batch.1, domain: domain, bases: bases, report: &report)
            }
        }
        try self.vault.store.synchronize()
        return report
    }

    static let collectionBatch = 512

    /// Deletes one batch under the collecting lock: what a session holds stays, the rest is forgotten by
    /// every session and the catalog, then removed from the store.
    private func delete(chunks: [ChunkID], pages: [String], domain: DomainID, bases: [ChunkID: ChunkID],
                        report: inout GarbageReport) throws {
        try self.collecting.withLock { _ in
            var heldChunks = Set<ChunkID>()
            var heldPages = Set<String>()
            for session in self.sessions.withLock({ Array($0.values) }) where session.domain == domain {
                let kept = session.keep(chunks: chunks, pages: pages)
                heldChunks.formUnion(kept.chunks)
                heldPages.formUnion(kept.pages)
            }
            if let pins = self.committedDuringCollection.withLock({ $0 }) {
                heldChunks.formUnion(pins.chunks[domain, default: []].intersection(chunks))
                heldPages.formUnion(pins.pages[domain, default: []].intersection(pages))
            }
            for session in self.sessions.withLock({ Array($0.values) }) where session.domain == domain {
                // Bases of what sessions hold: of deltas answered "stored", and of deltas they uploaded.
                let held = session.held.chunks
                heldChunks.formUnion(held.compactMap { bases[$0] })
                heldChunks.formUnion(session.storedChunks.compactMap(\.base))
            }
            report.heldBySessions += heldChunks.count + heldPages.count
            let doomed = chunks.filter { !heldChunks.contains($0) }
            try self.vault.catalog.removeChunks(domain: domain, ids: doomed)
            for id in doomed {
                let key = ObjectKey.chunk(domain: domain, id: id)
                report.bytesFreed += Int64(try self.vault.store.size(of: key) ?? 0)
                try self.vault.store.delete(key)
                report.chunksDeleted += 1
            }
            for hash in pages where !heldPages.contains(hash) {
                let key = ObjectKey.indexPage(domain: domain, sha256: hash)
                report.bytesFreed += Int64(try self.vault.store.size(of: key) ?? 0)
                try self.vault.store.delete(key)
                report.indexPagesDeleted += 1
            }
        }
    }
}

/// What sessions that committed during a collection hold, by domain.
struct CollectionPins {
    var chunks: [DomainID: Set<ChunkID>] = [:]
    var pages: [DomainID: Set<String>] = [:]

    mutating func add(_ session: VaultSession) {
        let held = session.held
        self.chunks[session.domain, default: []].formUnion(held.chunks)
        self.chunks[session.domain, default: []].formUnion(session.storedChunks.compactMap(\.base))
        self.pages[session.domain, default: []].formUnion(held.pages)
    }
}
