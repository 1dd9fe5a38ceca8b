import Testing
import TresorCore
import TresorEngine
import TresorTestSupport

/// Soft delete, purge and garbage collection against a real directory vault, with the vault clock passed
/// explicitly so that the 14-day period is walked in a test.
struct GarbageCollectionTests {
    let day: Int64 = 86_400_000
    let start: Int64 = 1_700_000_000_000

    @Test func aDeletedPointKeepsItsDataFourteenDaysThenOnlyWhatNoOtherPointNeedsGoes() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 8 << 20, seed: 71)
        let first = try t.backup([disk], keys: keys)
        try TestImages.scribble(disk, blocks: 3, seed: 72)
        // Whole chunks, so the ones the scribble replaced are garbage once the first point goes (a
        // delta would keep them as its base: DeltaChunkTests).
        let second = try t.backup([disk], keys: keys, deltas: false)
        let service = VaultService(vault: t.vault)
        let chunksBefore = try t.objects("domains").filter { $0.contains("/chunks/") }.count

        let deleted = try service.deleteRecoveryPoint(first.recoveryPoint, by: "test", now: self.start)
        #expect(deleted.deletedAtMillis == self.start)
        let again = try service.deleteRecoveryPoint(first.recoveryPoint, by: "test", now: self.start + self.day)
        #expect(again.deletedAtMillis == self.start, "deleting twice keeps the first deletion time")
        #expect { try t.vault.resolveRecoveryPoint(vm: try t.vault.findVM(name: "vm1", host: nil), reference: first.recoveryPoint) } throws: {
            ($0 as? TresorError)?.code == .recoveryPointDeleted
        }
        #expect(try t.vault.resolveRecoveryPoint(vm: try t.vault.findVM(name: "vm1", host: nil), reference: "latest").id == second.recoveryPoint)

        // The deletion survives a catalog rebuild: the store says so.
        _ = try CatalogRebuilder.run(vault: t.vault)
        #expect(try t.vault.catalog.recoveryPoint(id: first.recoveryPoint)?.deletedAtMillis == self.start)

        // Within the 14 days nothing goes; one millisecond before their end neither.
        let early = try service.collectGarbage(now: SoftDelete.purgeableAt(self.start) - 1)
        #expect(early.recoveryPointsPurged.isEmpty && early.chunksDeleted == 0)
        #expect(TestImages.equal(try t.restore(first.recoveryPoint, keys: keys), try t.restore(first.recoveryPoint, keys: keys)))

        let late = try service.collectGarbage(now: SoftDelete.purgeableAt(self.start))
        #expect(late.recoveryPointsPurged == [first.recoveryPoint])
        // Exactly the chunks the second point does not reference: those the scribble replaced.
        let secondPoint = try OpenedRecoveryPoint(vault: t.vault, keys: keys, recoveryPointID: second.recoveryPoint)
        let needed = Set(try secondPoint.index(of: try secondPoint.disk(0)).filter { !$0.isZero })
        #expect(late.chunksDeleted == chunksBefore - needed.count && late.chunksDeleted > 0)
        #expect(late.indexPagesDeleted == 1 && late.bytesFreed > 0)
        #expect(try t.objects("domains").filter { $0.contains("/chunks/") }.count == needed.count)
        #expect(try t.vault.catalog.recoveryPoint(id: first.recoveryPoint) == nil)
        #expect(try t.objects("manifests").allSatisfy { !$0.contains(first.recoveryPoint) }, "manifest and soft-delete record are gone")
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: keys), disk))
        let verified = try Verifier.run(vault: t.vault, keys: keys, mode: .all)
        #expect(verified.ok && verified.recoveryPoints == 1)
        #expect(try service.collectGarbage(now: SoftDelete.purgeableAt(self.start)).chunksDeleted == 0, "a second collection finds nothing")
    }

    @Test func undeleteBringsAPointBackAndAPurgedOnesRecordIsTidiedOnReconcile() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 4 << 20, seed: 73)
        let point = try t.backup([disk], keys: keys)
        let service = VaultService(vault: t.vault)
        _ = try service.deleteRecoveryPoint(point.recoveryPoint, by: "test", now: self.start)
        #expect(try service.undeleteRecoveryPoint(point.recoveryPoint).deletedAtMillis == nil)
        _ = try CatalogRebuilder.run(vault: t.vault)
        #expect(try t.vault.catalog.recoveryPoint(id: point.recoveryPoint)?.deletedAtMillis == nil, "undeleted in the store too")
        let report = try service.collectGarbage(now: self.start + 30 * self.day)
        #expect(report.recoveryPointsPurged.isEmpty && report.chunksDeleted == 0)
        #expect(TestImages.equal(try t.restore(point.recoveryPoint, keys: keys), disk))
    }

    @Test func aLeasedPointAndTheBaseOfARunningBackupAreNotPurgedAndAnsweredChunksStay() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 4 << 20, seed: 74)
        let point = try t.backup([disk], keys: keys)
        let service = VaultService(vault: t.vault)
        _ = try service.deleteRecoveryPoint(point.recoveryPoint, by: "test", now: self.start)
        let later = SoftDelete.purgeableAt(self.start) + 1

        // A reader's lease holds it.
        let lease = try service.leases.grant([point.recoveryPoint], holder: "reader", now: later)
        var report = try service.collectGarbage(now: later)
        #expect(report.recoveryPointsHeld == [point.recoveryPoint] && report.chunksDeleted == 0)
        try service.leases.release(lease.id, now: later)

        // An open backup of the VM builds on it, so it stays; and the VM's data cannot be deleted meanwhile.
        let opening = SessionRequest(vmName: "vm1", host: "host1", domain: nil, diskSources: [disk], nowMillis: later)
        let session = try service.openSession(opening)
        #expect(session.previous?.id == point.recoveryPoint)
        report = try service.collectGarbage(now: later)
        #expect(report.recoveryPointsHeld == [point.recoveryPoint] && report.chunksDeleted == 0)
        #expect { try service.deleteRecoveryPoint(point.recoveryPoint, by: "test", now: later) } throws: { error in
            (error as? TresorError)?.code == .operationInProgress
                && (error as? TresorError)?.message.contains("another operation is in progress for this item") == true
        }

        service.abandon(session: session.id)
        report = try service.collectGarbage(now: later)
        #expect(report.recoveryPointsPurged == [point.recoveryPoint])
        #expect(try t.objects("domains").filter { $0.contains("/chunks/") }.isEmpty, "nothing else references its chunks")
    }

    @Test func chunksAnOpenSessionWasToldAreStoredSurviveACollectionAndTheRestAreForgotten() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 4 << 20, seed: 75)
        let point = try t.backup([disk], keys: keys)
        let service = VaultService(vault: t.vault)
        _ = try service.deleteRecoveryPoint(point.recoveryPoint, by: "test", now: self.start)
        let later = SoftDelete.purgeableAt(self.start) + 1
        let chunkIDs = try t.objects("domains").filter { $0.contains("/chunks/") }.compactMap { ChunkID(hex: String($0.split(separator: "/").last!)) }
        #expect(chunkIDs.count >= 2)

        // A second VM of the same key domain starts a backup (it builds on no point) and asks about one chunk.
        let domain = try t.vault.findVM(name: "vm1", host: nil).domainID
        let session = try service.openSession(SessionRequest(vmName: "vm2", host: "host1", domain: domain, diskSources: ["/d"], nowMillis: later))
        #expect(try service.lookup(session: session.id, [chunkIDs[0]])[0] != nil)

        let report = try service.collectGarbage(now: later)
        #expect(report.recoveryPointsPurged == [point.recoveryPoint])
        #expect(report.heldBySessions == 1 && report.chunksDeleted == chunkIDs.count - 1)
        #expect(try t.vault.store.size(of: .chunk(domain: domain, id: chunkIDs[0])) != nil, "the answered chunk stays")
        #expect(try service.lookup(session: session.id, [chunkIDs[1]])[0] == nil, "a collected chunk is now missing, so it is uploaded")
        #expect(try service.lookup(session: session.id, [chunkIDs[0]])[0] != nil)
    }
}

/// Retention applied by collections to protected VMs.
struct ProtectionRetentionTests {
    let day: Int64 = 86_400_000
    let start: Int64 = 1_700_000_000_000

    @Test func aProtectedVMLosesItsExpiredPointsAStoppedOneKeepsThemAndTheNewestAlwaysStays() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 2 << 20, seed: 81)
        var ids: [String] = []
        for i in 0..<10 {
            try TestImages.scribble(disk, blocks: 1, seed: UInt64(90 + i))
            let result = try BackupEngine.run(BackupRequest(vmName: "vm1", host: "host1", diskPaths: [disk], workers: 2),
                                              vault: t.vault, keys: keys, now: self.start + Int64(i) * self.day)
            ids.append(result.recoveryPoint)
        }
        let service = VaultService(vault: t.vault)
        let book = PolicyBook(vault: t.vault, now: { 1 })
        _ = try book.create(BackupPolicy(name: "week", timeZone: "UTC", schedule: BackupSchedule(frequency: .daily, times: ["02:00"]),
                                         retention: RetentionRules(daily: .init(days: 7)), instantRestoreDays: 2))
        #expect { try service.protect(vmName: "vm1", host: nil, policy: "nope", now: 1) } throws: { ($0 as? TresorError)?.code == .policyNotFound }
        _ = try service.protect(vmName: "vm1", host: nil, policy: "week", now: self.start)

        // Nine days and an hour after the first point: the first three are past their seven days.
        let report = try service.collectGarbage(now: self.start + 9 * self.day + 3_600_000)
        #expect(report.recoveryPointsExpired == Array(ids[0..<3]).sorted())
        #expect(Set(report.recoveryPointsPurged) == Set(ids[0..<3]))
        #expect(try t.vault.catalog.recoveryPoints(vmID: nil).map(\.id) == Array(ids[3...]))
        #expect(TestImages.equal(try t.restore(ids[9], keys: keys), disk))
        #expect(try Verifier.run(vault: t.vault, keys: keys, mode: .all).ok)

        // Stopped with data retained: nothing expires, however late.
        _ = try service.stopProtection(vmName: "vm1", host: nil, deleteData: false, by: "test", now: self.start)
        #expect(try service.collectGarbage(now: self.start + 400 * self.day).recoveryPointsPurged.isEmpty)
        // Resumed: everything but the newest point goes.
        _ = try service.protect(vmName: "vm1", host: nil, policy: "week", now: self.start)
        let late = try service.collectGarbage(now: self.start + 400 * self.day)
        #expect(Set(late.recoveryPointsPurged) == Set(ids[3..<9]))
        #expect(try t.vault.catalog.recoveryPoints(vmID: nil).map(\.id) == [ids[9]])
        #expect(TestImages.equal(try t.restore(ids[9], keys: keys), disk))
        // Stopped with data deleted: the last point is soft-deleted, recoverable for 14 days.
        let stopped = try service.stopProtection(vmName: "vm1", host: nil, deleteData: true, by: "test", now: self.start + 400 * self.day)
        #expect(stopped.state == .stopped)
        #expect(try t.vault.catalog.recoveryPoint(id: ids[9])?.deletedAtMillis == self.start + 400 * self.day)
        _ = try CatalogRebuilder.run(vault: t.vault)
        #expect(try service.protections().map(\.state) == [.stopped], "protection is in the store, not only the catalog")
    }
}
