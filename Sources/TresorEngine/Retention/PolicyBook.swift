public import TresorCore

/// A policy as the vault stores it: `policies/<name>.json`, written durably, so a rebuilt catalog loses
/// nothing and the store alone says which policies exist.
public struct PolicyRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-policy"
    public var format = PolicyRecord.format
    public var version = 1
    public var policy: BackupPolicy
    public var createdAtMillis: Int64
    public var updatedAtMillis: Int64

    public init(policy: BackupPolicy, createdAtMillis: Int64, updatedAtMillis: Int64) {
        self.policy = policy
        self.createdAtMillis = createdAtMillis
        self.updatedAtMillis = updatedAtMillis
    }
}

/// Where commands read and change policies: a vault directory, or a served vault's policy routes.
public protocol PolicyStore: Sendable {
    func policies() throws -> [PolicyRecord]
    func policy(named name: String) throws -> PolicyRecord
    func create(_ policy: BackupPolicy) throws -> PolicyRecord
    func update(_ policy: BackupPolicy) throws -> PolicyRecord
}

/// The policies of a vault's store. The default policy exists in every vault: until a writer stores it,
/// it is the built-in one.
public struct PolicyBook: PolicyStore {
    let vault: Vault
    let now: @Sendable () -> Int64

    public init(vault: Vault, now: @escaping @Sendable () -> Int64) {
        self.vault = vault
        self.now = now
    }

    public func policies() throws -> [PolicyRecord] {
        var records: [PolicyRecord] = []
        for key in try self.vault.store.list(folder: ObjectKey.policiesFolder) where key.path.hasSuffix(".json") {
            records.append(try Self.parse(try self.vault.store.get(key), name: key.path))
        }
        if !records.contains(where: { $0.policy.name == BackupPolicy.defaultPolicy.name }) {
            records.append(PolicyRecord(policy: .defaultPolicy, createdAtMillis: 0, updatedAtMillis: 0))
        }
        return records.sorted { $0.policy.name < $1.policy.name }
    }

    public func policy(named name: String) throws -> PolicyRecord {
        guard let record = try self.policies().first(where: { $0.policy.name == name }) else {
            throw TresorError(.policyNotFound, "the vault has no policy '\(name)'", action: "list them with 'tresor policy list'")
        }
        return record
    }

    public func create(_ policy: BackupPolicy) throws -> PolicyRecord {
        try policy.validate()
        if try self.policies().contains(where: { $0.policy.name == policy.name }) {
            throw TresorError(.policyExists, "a policy named '\(policy.name)' exists", action: "change it with 'tresor policy update'")
        }
        let now = self.now()
        return try self.write(PolicyRecord(policy: policy, createdAtMillis: now, updatedAtMillis: now))
    }

    /// Replaces a policy; the retention of existing points is re-evaluated from it (docs/retention.md).
    public func update(_ policy: BackupPolicy) throws -> PolicyRecord {
        try policy.validate()
        var record = try self.policy(named: policy.name)
        record.policy = policy
        record.updatedAtMillis = self.now()
        return try self.write(record)
    }

    private func write(_ record: PolicyRecord) throws -> PolicyRecord {
        try self.vault.store.putDurably(.policy(named: record.policy.name), bytes: try JSON.encode(record))
        return record
    }

    static func parse(_ bytes: [UInt8], name: String) throws -> PolicyRecord {
        try FormatStamp.check(bytes, format: PolicyRecord.format, supported: 1, what: "policy \(name)")
        return try JSON.decode(PolicyRecord.self, from: bytes, what: name)
    }
}
