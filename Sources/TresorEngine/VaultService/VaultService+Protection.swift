import Foundation
import TresorCore

/// Protection of VMs under policies, and the retention it brings to garbage collection.
extension VaultService {
    public func protections() throws -> [ProtectionRecord] {
        try self.vault.protectionRecords()
    }

    /// Puts a VM under a policy (or back under it, to resume); retention applies from the next collection.
    /// A VM registered by its agent but not backed up yet can be protected too: its scheduled backups
    /// then make its first recovery point.
    public func protect(vmName: String, host: String?, policy: String, now: Int64) throws -> ProtectionRecord {
        let vm = try self.protectable(vmName: vmName, host: host)
        _ = try PolicyBook(vault: self.vault, now: { now }).policy(named: policy)
        guard ObjectKey.isValidManifestID(vm.id) else { throw TresorError(.corruptObject, "VM '\(vm.name)' has a malformed ID") }
        // Protecting again under the same policy changes nothing (its time is when protection began).
        if let same = try self.vault.protectionRecords().first(where: { $0.vmID == vm.id && $0.state == .protected && $0.policy == policy }) {
            return same
        }
        let record = ProtectionRecord(vmID: vm.id, vmName: vm.name, host: vm.host, policy: policy, state: .protected, updatedAtMillis: now)
        try self.vault.write(record)
        return record
    }

    /// Stops protection: retention no longer prunes the VM's points. With `deleteData` every point is
    /// soft-deleted as well (refused while a backup of the VM runs), so it stays recoverable 14 days.
    public func stopProtection(vmName: String, host: String?, deleteData: Bool, by actor: String, now: Int64) throws -> ProtectionRecord {
        let vm = try self.protectable(vmName: vmName, host: host)
        guard var record = try self.vault.protectionRecords().first(where: { $0.vmID == vm.id }) else {
            throw TresorError(.invalidArgument, "VM '\(vm.name)' on \(vm.host) is not protected", action: "protect it with 'tresor vm protect'")
        }
        if deleteData {
            for point in try self.vault.catalog.recoveryPoints(vmID: vm.id) where point.deletedAtMillis == nil {
                _ = try self.deleteRecoveryPoint(point.id, by: actor, now: now)
            }
        }
        record.state = .stopped
        record.updatedAtMillis = now
        try self.vault.write(record)
        return record
    }

    /// The VM as protection names it: the catalog's, or for a VM registered and not backed up yet, the ID
    /// its protection record holds (or a new one). Its first backup takes that ID (`identify`).
    private func protectable(vmName: String, host: String?) throws -> (id: String, name: String, host: String) {
        do {
            let vm = try self.vault.findVM(name: vmName, host: host)
            return (vm.id, vm.name, vm.host)
        } catch let error as TresorError where error.code == .notFound {
            let registered = try self.vault.registrations().filter { $0.vmName == vmName && (host == nil || $0.host == host) }
            guard let registration = registered.first else {
                throw TresorError(.notFound, "the vault has no VM named '\(vmName)'\(host.map { " on host \($0)" } ?? "") (no backup, no registration)",
                                  action: "register it with 'tresor vm register' or back it up first")
            }
            guard registered.count == 1 else {
                throw TresorError(.invalidArgument, "\(registered.count) registered VMs are named '\(vmName)' (hosts: \(registered.map(\.host).joined(separator: ", ")))",
                                  action: "name the host with --host")
            }
            let reserved = try self.vault.reservedVMID(name: registration.vmName, host: registration.host) ?? UUID().uuidString.lowercased()
            return (reserved, registration.vmName, registration.host)
        }
    }

    /// Points whose retention under their VM's policy has ended. The newest live point of a VM is never
    /// among them, so a VM whose backups stopped keeps at least one.
    func expiredByRetention(now: Int64) throws -> [String] {
        let book = PolicyBook(vault: self.vault, now: { now })
        var expired: [String] = []
        let keeps = try self.vault.onDemandKeeps()
        for protection in try self.vault.protectionRecords() where protection.state == .protected {
            let policy = try book.policy(named: protection.policy).policy
            let live = try self.vault.catalog.recoveryPoints(vmID: protection.vmID).filter { $0.deletedAtMillis == nil }
            guard let newest = live.max(by: { $0.sequence < $1.sequence }) else { continue }
            let points = live.map { RetentionPoint(id: $0.id, createdAtMillis: $0.createdAtMillis, keepUntilMillis: keeps[$0.id]) }
            expired += try RetentionPlan.expired(points, policy: policy, now: now).filter { $0 != newest.id }
        }
        return expired.sorted()
    }
}
