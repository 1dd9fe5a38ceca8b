import TresorCore

/// Storage quotas (docs/retention.md, "Quotas"): a limit on the vault's stored bytes and limits on what
/// each VM's recovery points stored. Kept in the store (`quotas/quotas.json`), read at every backup's start,
/// so a change applies to the next backup without a restart.
public struct QuotaRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-quotas"

    public struct VMQuota: Codable, Sendable, Equatable {
        public var vmName: String
        /// Nil applies the limit to the VMs of that name on every host, each on its own.
        public var host: String?
        public var bytes: Int64

        public init(vmName: String, host: String?, bytes: Int64) {
            self.vmName = vmName
            self.host = host
            self.bytes = bytes
        }
    }

    public var format = QuotaRecord.format
    public var version = 1
    /// The chunk store's stored bytes may not pass this.
    public var vaultBytes: Int64?
    public var vms: [VMQuota] = []

    public init() {}

    /// The limit for a VM: a host-specific one before one for the name alone.
    public func limit(vmName: String, host: String) -> Int64? {
        (self.vms.first { $0.vmName == vmName && $0.host == host } ?? self.vms.first { $0.vmName == vmName && $0.host == nil })?.bytes
    }
}

/// A VM's use against its quota.
public struct VMQuotaUsage: Codable, Sendable, Equatable {
    public var vmName: String
    public var host: String
    /// What its recovery points stored (new chunk bytes), soft-deleted points included until purged.
    public var storedBytes: Int64
    public var limitBytes: Int64?
}

public struct QuotaUsage: Codable, Sendable, Equatable {
    public var storedBytes: Int64
    public var limitBytes: Int64?
    public var vms: [VMQuotaUsage]
}

extension Vault {
    public func quotas() throws -> QuotaRecord {
        guard try self.store.size(of: .quotas) != nil else { return QuotaRecord() }
        let bytes = try self.store.get(.quotas)
        try FormatStamp.check(bytes, format: QuotaRecord.format, supported: 1, what: "quota record")
        return try JSON.decode(QuotaRecord.self, from: bytes, what: ObjectKey.quotas.path)
    }

    public func writeQuotas(_ record: QuotaRecord) throws {
        guard (record.vaultBytes ?? 1) > 0, record.vms.allSatisfy({ $0.bytes > 0 }) else {
            throw TresorError(.invalidArgument, "a quota is a size above zero")
        }
        try self.store.putDurably(.quotas, bytes: try JSON.encode(record))
    }

    /// Every VM's stored bytes, and the vault's, beside their limits.
    public func quotaUsage() throws -> QuotaUsage {
        let quotas = try self.quotas()
        var perVM: [String: VMQuotaUsage] = [:]
        for point in try self.catalog.recoveryPoints(vmID: nil) {
            perVM[point.vmID, default: VMQuotaUsage(vmName: point.vmName, host: point.host, storedBytes: 0,
                                                     limitBytes: quotas.limit(vmName: point.vmName, host: point.host))]
                .storedBytes += point.bytesStored
        }
        return QuotaUsage(storedBytes: try self.catalog.usage().storedBytes, limitBytes: quotas.vaultBytes,
                          vms: perVM.values.sorted { ($0.vmName, $0.host) < ($1.vmName, $1.host) })
    }

    /// How many bytes a new backup of `vm` may store, with `inFlight` bytes stored by other open sessions
    /// not yet counted; nil without quotas. Throws `quota.exceeded` when nothing is left.
    func uploadBudget(vm: VMRecord, inFlight: Int64) throws -> Int64? {
        let quotas = try self.quotas()
        var budget: Int64?
        if let limit = quotas.vaultBytes {
            let used = try self.catalog.usage().storedBytes + inFlight
            guard used < limit else {
                throw TresorError(.quotaExceeded, "the vault stores \(used) bytes of its \(limit)-byte quota",
                                  action: "raise it with 'tresor-vault quota set', or free space (retention, 'tresor gc')")
            }
            budget = limit - used
        }
        if let limit = quotas.limit(vmName: vm.name, host: vm.host) {
            let used = try self.catalog.recoveryPoints(vmID: vm.id).reduce(Int64(0)) { $0 + $1.bytesStored }
            guard used < limit else {
                throw TresorError(.quotaExceeded, "VM '\(vm.name)' on \(vm.host) stores \(used) bytes of its \(limit)-byte quota",
                                  action: "raise it with 'tresor-vault quota set', or let retention prune its points")
            }
            budget = min(budget ?? .max, limit - used)
        }
        return budget
    }
}
