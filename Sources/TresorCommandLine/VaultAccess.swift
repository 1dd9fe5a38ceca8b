import TresorCatalog
public import TresorChunkStore
import TresorCore
public import TresorEngine

/// A vault opened by a command, with the lock that keeps other writers out while it runs (writers only).
public struct OpenedVault: Sendable {
    public let vault: Vault
    public let directory: VaultDirectory
    let lock: VaultLock?
}

public enum VaultAccess {
    /// Opens a vault directory. Commands that write take the vault's exclusive lock; they also tidy what
    /// a killed writer left (temporary files) and bring the catalog up to the store. Readers (list,
    /// restore) take no lock and run beside a backup: they read only committed recovery points, whose
    /// objects nothing deletes while there is no garbage collection (which will bring read leases).
    public static func open(_ path: String, exclusive: Bool) throws -> OpenedVault {
        let directory = try VaultDirectory.open(at: path)
        let lock = exclusive ? try directory.lock(exclusive: true) : nil
        let store = try directory.openStore()
        let catalog = try SQLiteCatalog(path: directory.catalogPath)
        let vault = Vault(id: directory.config.vaultID, store: store, catalog: catalog)
        if exclusive {
            _ = try store.removeTemporaryFiles()
            _ = try CatalogRebuilder.importMissingManifests(vault: vault)
        }
        return OpenedVault(vault: vault, directory: directory, lock: lock)
    }

    /// Deletes the catalog and rebuilds it from the store.
    public static func rebuildCatalog(_ path: String) throws -> CatalogRebuilder.Summary {
        let directory = try VaultDirectory.open(at: path)
        let lock = try directory.lock(exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        for suffix in ["", "-wal", "-shm"] { unlinkIfPresent(directory.catalogPath + suffix) }
        let store = try directory.openStore()
        _ = try store.removeTemporaryFiles()
        let vault = Vault(id: directory.config.vaultID, store: store, catalog: try SQLiteCatalog(path: directory.catalogPath))
        return try CatalogRebuilder.run(vault: vault)
    }
}
