import Foundation
import Testing
import TresorCatalog
import TresorChunkStore
import TresorCore
import TresorEngine
import TresorTestSupport

struct CatalogRebuildTests {
    @Test func aDeletedCatalogIsRebuiltFromTheStoreAlone() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 21)
        let first = try t.backup([disk], keys: keys)
        try TestImages.scribble(disk, blocks: 2, seed: 22)
        let second = try t.backup([disk], keys: keys)
        let before = try t.vault.catalog.recoveryPoints(vmID: nil)

        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: t.vaultPath + "/catalog.sqlite" + suffix) }
        let directory = try VaultDirectory.open(at: t.vaultPath)
        let rebuilt = Vault(id: directory.config.vaultID, store: try directory.openStore(), catalog: try SQLiteCatalog(path: directory.catalogPath))
        let summary = try CatalogRebuilder.run(vault: rebuilt)
        #expect(summary.recoveryPoints == 2 && summary.vms == 1 && summary.skipped.isEmpty)
        #expect(try rebuilt.catalog.recoveryPoints(vmID: nil) == before)
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: keys, vault: rebuilt), disk))
        _ = try t.restore(first.recoveryPoint, keys: keys, vault: rebuilt)
        // Deduplication picks up where it was: an unchanged disk stores nothing new.
        let third = try t.backup([disk], keys: keys, vault: rebuilt)
        #expect(third.chunksNew == 0 && third.sequence == 3)
    }

    /// A backup killed after its manifest became durable but before its catalog transaction: the point is
    /// imported when the vault is next opened, with the chunks only it had stored, so the VM's next backup
    /// (which reuses the point's chunks without asking) commits.
    @Test func aManifestWithoutItsCatalogRowsIsImportedWithTheChunksOnlyItStored() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 31)
        _ = try t.backup([disk], keys: keys)
        let domain = try #require(try t.vault.catalog.recoveryPoints(vmID: nil).first).domainID
        let held = try t.vault.catalog.goodChunks(domain: domain)
        try TestImages.scribble(disk, blocks: 3, seed: 32)
        let second = try t.backup([disk], keys: keys)
        let after = try t.vault.catalog.goodChunks(domain: domain)
        let onlySecond = after.keys.filter { held[$0] == nil }
        #expect(!onlySecond.isEmpty)

        try t.vault.catalog.removeRecoveryPoint(id: second.recoveryPoint)
        try t.vault.catalog.removeChunks(domain: domain, ids: Array(onlySecond))
        // Cut short, the manifest cannot be imported, so a reader has nothing to take the vault's lock for.
        let key = ObjectKey.manifest(recoveryPoint: second.recoveryPoint)
        let whole = try t.vault.store.get(key)
        try t.vault.store.put(key, bytes: Array(whole.prefix(whole.count / 2)))
        #expect(try !CatalogRebuilder.hasImportableManifests(vault: t.vault))
        #expect(try CatalogRebuilder.importMissingManifests(vault: t.vault) == 0)
        try t.vault.store.put(key, bytes: whole)
        #expect(try CatalogRebuilder.hasImportableManifests(vault: t.vault))
        #expect(try CatalogRebuilder.importMissingManifests(vault: t.vault) == 1)
        #expect(try !CatalogRebuilder.hasImportableManifests(vault: t.vault))
        #expect(try t.vault.catalog.goodChunks(domain: domain) == after)
        let third = try t.backup([disk], keys: keys)
        #expect(third.chunksNew == 0 && third.sequence == 3)
        #expect(TestImages.equal(try t.restore(third.recoveryPoint, keys: keys), disk))
    }
}
