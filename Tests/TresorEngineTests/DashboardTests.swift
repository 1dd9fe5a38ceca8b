import Foundation
import Testing
import TresorCatalog
import TresorCore
@testable import TresorEngine
import TresorTestSupport

/// The dashboard's usage shares and protection states, from a real vault and job database.
struct DashboardTests {
    @Test func sharedChunksAreSplitAmongTheirVMsAndTheSharesAddUpToWhatIsReferenced() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let common = try t.image("common.img", size: 4 << 20, seed: 91)
        let own = try t.image("own.img", size: 2 << 20, seed: 92)
        let tenant = try DomainID("tenant")
        // a and b share one domain and one identical disk; b has a disk of its own; c is alone in its domain.
        for (vm, disks) in [("a", [common]), ("b", [common, own])] {
            _ = try BackupEngine.run(BackupRequest(vmName: vm, host: "hv1", diskPaths: disks, domain: tenant, workers: 2),
                                     vault: t.vault, keys: keys, now: 1_700_000_000_000)
        }
        _ = try BackupEngine.run(BackupRequest(vmName: "c", host: "hv2", diskPaths: [own], workers: 2), vault: t.vault, keys: keys,
                                 now: 1_700_000_000_000)
        let jobs = try SQLiteJobStore(vaultDirectory: t.vaultPath)
        let board = try DashboardBuilder(vault: t.vault, jobs: jobs).build(now: 1_700_000_100_000)
        let usage = Dictionary(uniqueKeysWithValues: board.usage.map { ($0.vmName, $0) })
        func stored(_ domain: DomainID) throws -> Int64 {
            try t.objects("domains/\(domain)/chunks").reduce(0) { $0 + Int64(try FileManager.default.attributesOfItem(atPath: t.storePath($1))[.size] as! Int) }
        }
        let tenantBytes = try stored(tenant)
        let cDomain = try t.vault.catalog.findVM(name: "c", host: nil)[0].domainID
        let cBytes = try stored(cDomain)
        #expect(board.storage.referencedBytes == tenantBytes + cBytes)
        #expect(board.usage.reduce(0) { $0 + $1.storageBytes } == board.storage.referencedBytes, "the shares add up")
        #expect(usage["a"]!.uniqueBytes == 0, "all of a's chunks are b's too")
        #expect(usage["b"]!.uniqueBytes > 0 && usage["b"]!.storageBytes > usage["a"]!.storageBytes)
        #expect(abs(usage["a"]!.storageBytes - (tenantBytes - usage["b"]!.uniqueBytes) / 2) <= 1, "a pays half the shared chunks")
        #expect(usage["c"]!.storageBytes == cBytes && usage["c"]!.uniqueBytes == cBytes, "another domain shares nothing")
        #expect(usage["b"]!.protectedInstanceBytes > usage["a"]!.protectedInstanceBytes)
        #expect(board.vms.allSatisfy { $0.status == .notProtected && $0.lastBackupStatus == "completed" })
    }

    @Test func protectionStatesFollowPolicyRecordsPointsAndTheLastJob() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 1 << 20, seed: 93)
        let start: Int64 = 1_700_000_000_000
        _ = try BackupEngine.run(BackupRequest(vmName: "web", host: "hv1", diskPaths: [disk], workers: 2), vault: t.vault, keys: keys, now: start)
        let store = try SQLiteJobStore(vaultDirectory: t.vaultPath)
        let jobs = JobQueue(store: store, vault: t.vault)
        let service = VaultService(vault: t.vault)
        func state(_ now: Int64) throws -> VMStatus { try DashboardBuilder(vault: t.vault, jobs: store).build(now: now).vms[0] }

        #expect(try state(start).status == .notProtected)
        _ = try service.protect(vmName: "web", host: nil, policy: "DefaultPolicy", now: start + 1000)
        #expect(try state(start + 2000).status == .initialBackupPending, "no point since it was protected")
        _ = try BackupEngine.run(BackupRequest(vmName: "web", host: "hv1", diskPaths: [disk], workers: 2), vault: t.vault, keys: keys, now: start + 3000)
        #expect(try state(start + 4000).status == .protected)
        _ = try jobs.recordMissed(vmName: "web", host: "hv1", slotMillis: start + 5000, now: start + 5000, reason: "test")
        let failed = try state(start + 6000)
        #expect(failed.status == .protectionError && failed.lastErrorCode == "schedule.missed" && failed.lastBackupStatus == "failed")
        _ = try service.stopProtection(vmName: "web", host: nil, deleteData: false, by: "test", now: start + 7000)
        #expect(try state(start + 8000).status == .protectionStopped)
        let board = try DashboardBuilder(vault: t.vault, jobs: store).build(now: start + 8000)
        #expect(board.jobsLast24Hours == ["failed": 1] && board.protection == ["protection-stopped": 1])
    }
}
