import TresorCore

/// The record that makes a recovery point an on-demand one: the policy's schedule tags do not apply to it,
/// and it expires at `keepUntilMillis` (docs/retention.md). Written by the vault when a "backup now" job
/// reports its recovery point.
public struct OnDemandKeepRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-on-demand-keep"
    public var format = OnDemandKeepRecord.format
    public var version = 1
    public var recoveryPointID: String
    public var keepUntilMillis: Int64
    public var jobID: String

    public init(recoveryPointID: String, keepUntilMillis: Int64, jobID: String) {
        self.recoveryPointID = recoveryPointID
        self.keepUntilMillis = keepUntilMillis
        self.jobID = jobID
    }
}

extension Vault {
    func writeOnDemandKeep(_ record: OnDemandKeepRecord) throws {
        try self.store.putDurably(.onDemandKeep(recoveryPoint: record.recoveryPointID), bytes: try JSON.encode(record))
    }

    /// Keep-until times of on-demand recovery points, by recovery point.
    func onDemandKeeps() throws -> [String: Int64] {
        var keeps: [String: Int64] = [:]
        for key in try self.store.list(folder: ObjectKey.retentionFolder) where key.path.hasSuffix(".json") {
            let bytes = try self.store.get(key)
            try FormatStamp.check(bytes, format: OnDemandKeepRecord.format, supported: 1, what: "on-demand record \(key.path)")
            let record = try JSON.decode(OnDemandKeepRecord.self, from: bytes, what: key.path)
            keeps[record.recoveryPointID] = record.keepUntilMillis
        }
        return keeps
    }
}
