import TresorCore

/// Whether a VM's backups follow a policy (docs/retention.md, "Protection").
public enum ProtectionState: String, Codable, Sendable {
    /// Its policy applies: retention prunes its points.
    case protected
    /// "Protection stopped (data retained)": no retention applies, its points stay until deleted.
    case stopped
}

/// A VM's protection, stored as `protection/<vm id>.json` (durable), so the store alone says which VMs
/// follow which policy.
public struct ProtectionRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-protection"
    public var format = ProtectionRecord.format
    public var version = 1
    public var vmID: String
    public var vmName: String
    public var host: String
    public var policy: String
    public var state: ProtectionState
    public var updatedAtMillis: Int64

    public init(vmID: String, vmName: String, host: String, policy: String, state: ProtectionState, updatedAtMillis: Int64) {
        self.vmID = vmID
        self.vmName = vmName
        self.host = host
        self.policy = policy
        self.state = state
        self.updatedAtMillis = updatedAtMillis
    }
}

/// What `tresor vm stop-protection` and its route ask for.
public struct ProtectionRequest: Codable, Sendable {
    public var policy: String?
    public init(policy: String?) { self.policy = policy }
}

/// Where commands read and change protection: a vault directory, or a served vault's routes.
public protocol ProtectionStore: Sendable {
    func protections() throws -> [ProtectionRecord]
    func protect(vmName: String, host: String?, policy: String) throws -> ProtectionRecord
    /// Stops protection; with `deleteData`, every point of the VM is soft-deleted too.
    func stopProtection(vmName: String, host: String?, deleteData: Bool) throws -> ProtectionRecord
}

extension Vault {
    func protectionRecords() throws -> [ProtectionRecord] {
        try self.store.list(folder: ObjectKey.protectionFolder).filter { $0.path.hasSuffix(".json") }.map { key in
            let bytes = try self.store.get(key)
            try FormatStamp.check(bytes, format: ProtectionRecord.format, supported: 1, what: "protection record \(key.path)")
            return try JSON.decode(ProtectionRecord.self, from: bytes, what: key.path)
        }.sorted { ($0.vmName, $0.host) < ($1.vmName, $1.host) }
    }

    /// The VM ID a protection record holds for a VM the catalog does not know (protected before its first
    /// backup, or its catalog rebuilt since): its first backup takes this ID, so the protection stays its.
    func reservedVMID(name: String, host: String) throws -> String? {
        try self.protectionRecords().first { $0.vmName == name && $0.host == host }?.vmID
    }

    func write(_ record: ProtectionRecord) throws {
        try self.store.putDurably(.protection(vmID: record.vmID), bytes: try JSON.encode(record))
    }
}
