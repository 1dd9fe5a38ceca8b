#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TresorCore

/// A vault on the local file system: `tresor-vault.json`, the catalog file and the object store.
///
/// ```
/// VAULT/tresor-vault.json   identity and format version
/// VAULT/catalog.sqlite      catalog (rebuildable)
/// VAULT/store/...           objects (ObjectKey)
/// VAULT/lock                flock(2): one writer at a time (readers take none yet)
/// VAULT/serving.json        the server holding the lock, while one runs (ServingRecord)
/// ```
public struct VaultDirectory: Sendable {
    public let path: String
    public let config: VaultConfig

    public var storePath: String { self.path + "/store" }
    public var catalogPath: String { self.path + "/catalog.sqlite" }

    /// Creates a new vault; refuses a directory that already holds one or anything else.
    public static func create(at path: String, region: String, now: Int64) throws -> VaultDirectory {
        try POSIX.makeDirectories(path)
        let configPath = path + "/" + VaultConfig.fileName
        if access(configPath, F_OK) == 0 {
            throw TresorError(.vaultExists, "\(path) already holds a Tresor vault")
        }
        guard try POSIX.directoryEntries(path).isEmpty else {
            throw TresorError(.invalidArgument, "\(path) is not empty", action: "choose an empty or new directory")
        }
        let config = VaultConfig(vaultID: UUID().uuidString.lowercased(), region: region, createdAtMillis: now)
        try POSIX.makeDirectories(path + "/store")
        try AtomicFile.write(try JSON.encode(config, pretty: true), to: configPath, mode: 0o644)
        return VaultDirectory(path: path, config: config)
    }

    /// Opens an existing vault, or says clearly that the directory is not one.
    public static func open(at path: String) throws -> VaultDirectory {
        let configPath = path + "/" + VaultConfig.fileName
        guard access(configPath, F_OK) == 0 else {
            throw TresorError(.notAVault, "\(path) is not a Tresor vault (no \(VaultConfig.fileName))",
                              action: "create one with 'tresor-vault init \(path)'")
        }
        let bytes = try AtomicFile.read(configPath)
        try FormatStamp.check(bytes, format: VaultConfig.format, supported: VaultConfig.currentVersion, what: configPath)
        return VaultDirectory(path: path, config: try JSON.decode(VaultConfig.self, from: bytes, what: configPath))
    }

    public func openStore() throws -> DirectoryObjectStore { try DirectoryObjectStore(root: self.storePath) }

    /// Takes the vault's lock for the life of the returned value: exclusive for anything that writes,
    /// shared for readers. Fails at once, rather than waiting, when another writer holds it.
    public func lock(exclusive: Bool) throws -> VaultLock {
        let lockPath = self.path + "/lock"
        let fd = try POSIX.open(lockPath, O_RDWR | O_CREAT, 0o600)
        if flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            close(fd)
            if let server = self.runningServer() {
                throw TresorError(.vaultBusy, "the vault \(self.path) is served by tresor-vault (pid \(server.pid)) at \(server.url)",
                                  action: "go through the server: --vault \(server.url) with a token (TRESOR_TOKEN or --token-file)")
            }
            throw TresorError(.vaultBusy, "another operation is in progress for this vault (\(self.path))",
                              action: "wait for it to finish and try again")
        }
        return VaultLock(descriptor: fd)
    }
}

extension VaultDirectory {
    /// Readers of the directory (restore, verify, list) hold this shared for as long as they read;
    /// garbage collection holds it exclusive while it deletes, so it never removes what a reader on this
    /// machine is reading (readers of a served vault hold leases instead). Readers wait for a collection
    /// to finish; a collection does not wait for readers: nil when one is reading.
    public func readersLock(exclusive: Bool) throws -> VaultLock? {
        let fd = try POSIX.open(self.path + "/readers.lock", O_RDWR | O_CREAT, 0o600)
        while flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) != 0 {
            let failure = errno
            if failure == EINTR { continue }
            close(fd)
            if failure == EWOULDBLOCK { return nil }
            errno = failure
            throw POSIX.error("flock", self.path + "/readers.lock")
        }
        return VaultLock(descriptor: fd)
    }
}

/// Holds the vault's flock until it is released or goes away (the kernel drops it if the process dies).
public final class VaultLock: Sendable {
    private let descriptor: Int32
    init(descriptor: Int32) { self.descriptor = descriptor }
    deinit { close(self.descriptor) }
}
