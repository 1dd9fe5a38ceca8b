import TresorCatalog
public import TresorChunkStore
public import TresorCore
import TresorRemote
public import TresorEngine

/// A vault opened by a command: a directory (with the lock that keeps other writers out while a writer
/// runs) or a served vault reached over HTTP. Either way the engine sees the same protocols.
public struct OpenedVault: Sendable {
    public let vault: Vault
    /// Where backups go: the vault's own service in this process, or the server's sessions.
    public let destination: any BackupDestination
    /// Where key maintenance reads and writes wraps: the directory itself, or the server's admin routes.
    public let keyWraps: any KeyWrapStore
    /// Deleting, undeleting, collecting; holding points while reading them.
    public let maintenance: any VaultMaintenance
    /// Backup policies: the directory's store, or the server's policy routes.
    public let policies: any PolicyStore
    /// Which VMs follow which policy.
    public let protection: any ProtectionStore
    let lock: VaultLock?
    /// A local reader's share of the directory's readers lock, so that no collection deletes under it.
    let readers: VaultLock?
}

public enum VaultAccess {
    /// `--vault DIR` or `--vault URL`.
    public static func open(_ options: VaultOptions, exclusive: Bool) throws -> OpenedVault {
        guard options.isRemote else { return try Self.open(options.vault, exclusive: exclusive) }
        let remote = try RemoteVault(url: options.vault, token: try options.token(), trust: try options.serverTrust())
        return OpenedVault(vault: Vault(id: remote.vaultID, store: remote.store, catalog: remote.catalog),
                           destination: remote.destination, keyWraps: remote.keyWraps, maintenance: remote.maintenance,
                           policies: remote.policies, protection: remote.protection, lock: nil, readers: nil)
    }

    /// A vault directory on this machine, for the commands that manage one.
    public static func openDirectory(_ path: String, exclusive: Bool) throws -> (OpenedVault, VaultDirectory) {
        let directory = try VaultDirectory.open(at: path)
        return (try Self.open(path, exclusive: exclusive), directory)
    }

    /// Opens a vault directory. Commands that write take the vault's exclusive lock; they also tidy what
    /// a killed writer left (temporary files) and bring the catalog up to the store. Readers (list,
    /// restore) run beside a backup and read only committed recovery points; they share the readers lock,
    /// which garbage collection needs alone before it deletes anything.
    public static func open(_ path: String, exclusive: Bool) throws -> OpenedVault {
        let directory = try VaultDirectory.open(at: path)
        let lock = exclusive ? try directory.lock(exclusive: true) : nil
        let readers = exclusive ? nil : try directory.readersLock(exclusive: false)
        let store = try directory.openStore()
        // A reader would otherwise open an empty catalog in its place and report a vault without points.
        if !exclusive, !AtomicFile.exists(directory.catalogPath), try !store.list(folder: ObjectKey.manifestsFolder).isEmpty {
            throw TresorError(.catalog, "the vault \(path) has lost its catalog, but its store holds recovery points",
                              action: "rebuild it with 'tresor-vault rebuild-catalog \(path)'")
        }
        let catalog = try SQLiteCatalog(path: directory.catalogPath)
        let vault = Vault(id: directory.config.vaultID, store: store, catalog: catalog)
        if exclusive {
            _ = try store.removeTemporaryFiles()
            _ = try CatalogRebuilder.importMissingManifests(vault: vault)
        } else if try CatalogRebuilder.hasImportableManifests(vault: vault), let writer = try? directory.lock(exclusive: true) {
            // A backup was killed after its manifest, its commit point, and before its catalog row. No writer
            // runs now (one that does imports it itself), so the reader brings it in rather than leave out a
            // recovery point the vault holds.
            _ = try CatalogRebuilder.importMissingManifests(vault: vault)
            withExtendedLifetime(writer) {}
        }
        let service = VaultService(vault: vault)
        return OpenedVault(vault: vault, destination: service, keyWraps: VaultKeyWraps(vault: vault),
                           maintenance: LocalMaintenance(service: service, directory: directory, writable: exclusive),
                           policies: PolicyBook(vault: vault, now: { VaultClock.nowMillis }),
                           protection: LocalProtection(service: service, writable: exclusive), lock: lock, readers: readers)
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
