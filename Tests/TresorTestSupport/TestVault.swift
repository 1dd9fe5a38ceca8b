import Foundation
import TresorCatalog
import TresorChunkStore
import TresorCore
public import TresorCrypto
public import TresorEngine
public import TresorKeys

/// A fresh vault and key store in a temporary directory, with real stores (directory + SQLite).
public final class TestVault: Sendable {
    public let directory: TemporaryDirectory
    public let vault: Vault
    public let vaultPath: String
    public let keyStore: KeyStore
    public static let passphrase = "test passphrase"

    public init(region: String = "test") throws {
        self.directory = TemporaryDirectory()
        self.vaultPath = self.directory.file("vault")
        let made = try VaultDirectory.create(at: self.vaultPath, region: region, now: 1_700_000_000_000)
        self.vault = Vault(id: made.config.vaultID, store: try made.openStore(), catalog: try SQLiteCatalog(path: made.catalogPath))
        self.keyStore = try KeyStore.open(at: self.directory.file("keys"), create: true)
    }

    public static func passphraseBytes(_ text: String = passphrase) -> SecretBytes {
        var bytes = Array(text.utf8)
        return SecretBytes(consuming: &bytes)
    }

    /// Creates a KEK (at scrypt's minimum accepted cost, to keep tests quick) and returns its ring.
    public func makeKEK(_ name: String, type: KEKType = .aes) throws -> KeyRing {
        _ = try self.keyStore.create(name: name, type: type, passphrase: Self.passphraseBytes(), now: 1,
                                     parameters: .minimum)
        return try self.ring(name)
    }

    /// A write-only client's keys for the asymmetric KEK `name`: its public half exported to a client key
    /// store in `client`, as `tresor keys export-public` makes it.
    public func writeOnlyClient(of name: String) throws -> KeyRing {
        let path = self.directory.file("client")
        try self.keyStore.exportPublic(try self.keyStore.unlock(name, passphrase: Self.passphraseBytes()), to: path, clientName: "host1")
        return try KeyRing(client: try KeyStore.open(at: path), kekName: name)
    }

    public func ring(_ name: String, store: KeyStore? = nil) throws -> KeyRing {
        let store = store ?? self.keyStore
        let kek = try store.unlock(name, passphrase: Self.passphraseBytes())
        return KeyRing(operator: kek, retired: try store.unlockRetired(kek.file, passphrase: Self.passphraseBytes()))
    }

    /// Reopens the vault from disk (a new catalog connection), as a new process would.
    public func reopened() throws -> Vault {
        let directory = try VaultDirectory.open(at: self.vaultPath)
        return Vault(id: directory.config.vaultID, store: try directory.openStore(), catalog: try SQLiteCatalog(path: directory.catalogPath))
    }

    public func image(_ name: String, size: Int, seed: UInt64) throws -> String {
        let path = self.directory.file(name)
        try TestImages.write(path, size: size, seed: seed)
        return path
    }

    @discardableResult
    public func backup(_ disks: [String], vm: String = "vm1", keys: KeyRing, chunkSize: Int = 1 << 20,
                       vault: Vault? = nil, deltas: Bool = true, changeCache: String? = nil) throws -> BackupResult {
        var request = BackupRequest(vmName: vm, host: "host1", diskPaths: disks, chunkSize: chunkSize, workers: 3)
        request.deltas = deltas
        request.changeCacheDirectory = changeCache
        return try BackupEngine.run(request, vault: vault ?? self.vault, keys: keys, now: 1_700_000_000_000)
    }

    /// Restores disk `position` of `recoveryPoint` to a new file and returns its path; `sync` ends the
    /// restore with fdatasync.
    public func restore(_ recoveryPoint: String, disk position: Int = 0, keys: KeyRing, vault: Vault? = nil,
                        to name: String? = nil, force: Bool = false, sync: Bool = false) throws -> String {
        let path = self.directory.file(name ?? "restored-\(recoveryPoint.prefix(8))-\(position)-\(UUID().uuidString.prefix(4)).img")
        let point = try OpenedRecoveryPoint(vault: vault ?? self.vault, keys: keys, recoveryPointID: recoveryPoint)
        _ = try RestoreEngine.restoreDisk(point, position: position, output: path, force: force, sync: sync, workers: 3)
        return path
    }

    /// Paths of every object below `folder` of the store.
    public func objects(_ folder: String) throws -> [String] {
        try self.vault.store.list(folder: folder).map(\.path).sorted()
    }

    public func storePath(_ objectPath: String) -> String { self.vaultPath + "/store/" + objectPath }
}

/// Flips one byte of a file in place.
public func flipByte(_ path: String, at offset: UInt64) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    let byte = try handle.read(upToCount: 1)![0]
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: [byte ^ 0x5a])
}
