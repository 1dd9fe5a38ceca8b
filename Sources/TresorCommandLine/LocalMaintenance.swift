import TresorChunkStore
import TresorCore
import TresorEngine

/// Maintenance of a vault directory by a command on its machine, which holds the vault's writer lock.
struct LocalMaintenance: VaultMaintenance {
    let service: VaultService
    let directory: VaultDirectory
    /// Opened with the writer lock: only then may it change the vault.
    let writable: Bool

    private func requireWritable() throws {
        guard self.writable else { throw TresorError(.vaultBusy, "this command opened the vault for reading only") }
    }

    func deleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord {
        try self.requireWritable()
        return try self.service.deleteRecoveryPoint(id, by: "local", now: VaultClock.nowMillis)
    }

    func undeleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord {
        try self.requireWritable()
        return try self.service.undeleteRecoveryPoint(id)
    }

    /// Skipped, deleting nothing, while a restore or verify on this machine reads the directory.
    func collectGarbage() throws -> GarbageReport {
        try self.requireWritable()
        return try self.service.collectGarbage(now: VaultClock.nowMillis, readersLock: { try self.directory.readersLock(exclusive: true) })
    }

    /// Local readers hold the directory's readers lock from the moment they open it.
    func holdForReading(_ points: [String]) throws -> any ReadHold { NoHold() }
}

struct NoHold: ReadHold {
    func release() {}
}

/// Protection of a vault directory's VMs by a command on its machine.
struct LocalProtection: ProtectionStore {
    let service: VaultService
    let writable: Bool

    func protections() throws -> [ProtectionRecord] { try self.service.protections() }

    func protect(vmName: String, host: String?, policy: String) throws -> ProtectionRecord {
        guard self.writable else { throw TresorError(.vaultBusy, "this command opened the vault for reading only") }
        return try self.service.protect(vmName: vmName, host: host, policy: policy, now: VaultClock.nowMillis)
    }

    func stopProtection(vmName: String, host: String?, deleteData: Bool) throws -> ProtectionRecord {
        guard self.writable else { throw TresorError(.vaultBusy, "this command opened the vault for reading only") }
        return try self.service.stopProtection(vmName: vmName, host: host, deleteData: deleteData, by: "local", now: VaultClock.nowMillis)
    }
}
