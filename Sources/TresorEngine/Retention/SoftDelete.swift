import TresorCore

/// The record that soft-deletes a recovery point, stored beside its manifest so that the catalog can be
/// rebuilt with it. The point's data stays for `SoftDelete.periodMillis`; only then may garbage
/// collection purge it, and nothing shortens that.
public struct SoftDeleteRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-soft-delete"
    public var format = SoftDeleteRecord.format
    public var version = 1
    public var recoveryPointID: String
    public var deletedAtMillis: Int64
    /// Who deleted it: a token ID, or "local" for a command on the vault's machine.
    public var deletedBy: String

    public init(recoveryPointID: String, deletedAtMillis: Int64, deletedBy: String) {
        self.recoveryPointID = recoveryPointID
        self.deletedAtMillis = deletedAtMillis
        self.deletedBy = deletedBy
    }

    static func parse(_ bytes: [UInt8], name: String) throws -> SoftDeleteRecord {
        try FormatStamp.check(bytes, format: Self.format, supported: 1, what: "soft-delete record \(name)")
        return try JSON.decode(SoftDeleteRecord.self, from: bytes, what: name)
    }
}

public enum SoftDelete {
    /// 14 days, as Azure Backup keeps deleted backup data.
    public static let periodMillis: Int64 = 14 * 86_400_000

    /// When a point deleted at `deletedAt` may be purged.
    public static func purgeableAt(_ deletedAt: Int64) -> Int64 { deletedAt + Self.periodMillis }
}

extension Vault {
    /// Soft-deletes a recovery point: the record is durable before the catalog says so. Deleting a point
    /// already deleted keeps its first deletion time.
    func softDelete(_ point: RecoveryPointRecord, at now: Int64, by actor: String) throws -> RecoveryPointRecord {
        if point.deletedAtMillis != nil { return point }
        let record = SoftDeleteRecord(recoveryPointID: point.id, deletedAtMillis: now, deletedBy: actor)
        try self.store.putDurably(.softDelete(recoveryPoint: point.id), bytes: try JSON.encode(record))
        try self.catalog.setDeleted(recoveryPointID: point.id, atMillis: now)
        var deleted = point
        deleted.deletedAtMillis = now
        return deleted
    }

    /// Undeletes a soft-deleted recovery point: the record goes (durably), then the catalog follows.
    func undelete(_ point: RecoveryPointRecord) throws -> RecoveryPointRecord {
        guard point.deletedAtMillis != nil else { return point }
        try self.store.delete(.softDelete(recoveryPoint: point.id))
        try self.store.synchronize()
        try self.catalog.setDeleted(recoveryPointID: point.id, atMillis: nil)
        var live = point
        live.deletedAtMillis = nil
        return live
    }

    /// The soft-delete records the store holds, by recovery point.
    func softDeleteRecords() throws -> [String: SoftDeleteRecord] {
        var records: [String: SoftDeleteRecord] = [:]
        for key in try self.store.list(folder: ObjectKey.manifestsFolder) {
            guard let id = key.softDeletedID else { continue }
            records[id] = try SoftDeleteRecord.parse(try self.store.get(key), name: key.path)
        }
        return records
    }

    /// Brings the catalog's deletion times to what the store's records say (after a crash between the
    /// two, or a rebuild), and drops records whose manifest a purge already removed.
    public func reconcileSoftDeletes() throws {
        let records = try self.softDeleteRecords()
        let points = try self.catalog.recoveryPoints(vmID: nil)
        var known = Set(points.map(\.id))
        for point in points {
            if records[point.id] != nil, try self.store.size(of: .manifest(recoveryPoint: point.id)) == nil {
                // A purge that stopped after removing the manifest: finish it.
                try self.catalog.removeRecoveryPoint(id: point.id)
                known.remove(point.id)
            } else if point.deletedAtMillis != records[point.id]?.deletedAtMillis {
                try self.catalog.setDeleted(recoveryPointID: point.id, atMillis: records[point.id]?.deletedAtMillis)
            }
        }
        for id in records.keys where !known.contains(id) {
            if try self.store.size(of: .manifest(recoveryPoint: id)) == nil {
                try self.store.delete(.softDelete(recoveryPoint: id))
            }
        }
    }
}
