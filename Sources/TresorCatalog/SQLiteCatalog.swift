import GRDB
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TresorCore

/// The embedded catalog: one SQLite file (WAL) through GRDB. Each intent is one transaction.
public final class SQLiteCatalog: Catalog {
    private let database: DatabaseQueue

    public init(path: String) throws {
        do {
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(10)
            self.database = try DatabaseQueue(path: path, configuration: configuration)
            try self.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            let migrator = CatalogSchema.migrator()
            if try self.database.read({ try migrator.hasBeenSuperseded($0) }) {
                throw TresorError(.unsupportedFormat, "catalog \(path) was written by a newer Tresor", action: "upgrade Tresor")
            }
            try migrator.migrate(self.database)
        } catch let error as TresorError {
            throw error
        } catch {
            throw TresorError(.catalog, "cannot open catalog \(path): \(error)",
                              action: "run 'tresor-vault rebuild-catalog' to recreate it from the store")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T { try self.database.tresorRead("catalog", body) }
    private func write<T>(_ body: (Database) throws -> T) throws -> T { try self.database.tresorWrite("catalog", body) }

    private static func vm(_ row: Row) throws -> VMRecord {
        VMRecord(id: row["id"], name: row["name"], host: row["host"], domainID: try DomainID(row["domain_id"]),
                 createdAtMillis: row["created_at"])
    }

    private static func recoveryPoint(_ row: Row) throws -> RecoveryPointRecord {
        var record = RecoveryPointRecord(
            id: row["id"], vmID: row["vm_id"], vmName: row["vm_name"], host: row["host"],
            domainID: try DomainID(row["domain_id"]), sequence: UInt64(row["sequence"] as Int64),
            createdAtMillis: row["created_at"], manifestSHA256: row["manifest_sha256"], chunkSize: row["chunk_size"],
            diskCount: row["disk_count"], logicalBytes: row["logical_bytes"], bytesStored: row["bytes_stored"],
            consistency: row["consistency"])
        record.deletedAtMillis = row["deleted_at"]
        return record
    }

    public func findVM(name: String, host: String?) throws -> [VMRecord] {
        try self.read { db in
            let rows = if let host {
                try Row.fetchAll(db, sql: "SELECT * FROM vms WHERE name = ? AND host = ?", arguments: [name, host])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM vms WHERE name = ?", arguments: [name])
            }
            return try rows.map(Self.vm)
        }
    }

    public func vm(id: String) throws -> VMRecord? {
        try self.read { db in try Row.fetchOne(db, sql: "SELECT * FROM vms WHERE id = ?", arguments: [id]).map(Self.vm) }
    }

    public func disks(vmID: String) throws -> [DiskRecord] {
        try self.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM disks WHERE vm_id = ?", arguments: [vmID]).map {
                DiskRecord(id: $0["id"], vmID: $0["vm_id"], source: $0["source"])
            }
        }
    }

    public func registerVM(_ vm: VMRecord) throws {
        try self.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO vms (id, name, host, domain_id, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [vm.id, vm.name, vm.host, vm.domainID.rawValue, vm.createdAtMillis])
        }
    }

    public func recoveryPoints(vmID: String?) throws -> [RecoveryPointRecord] {
        try self.read { db in
            let rows = if let vmID {
                try Row.fetchAll(db, sql: "SELECT * FROM recovery_points WHERE vm_id = ? ORDER BY created_at, sequence",
                                 arguments: [vmID])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM recovery_points ORDER BY created_at, sequence")
            }
            return try rows.map(Self.recoveryPoint)
        }
    }

    public func recoveryPoint(id: String) throws -> RecoveryPointRecord? {
        try self.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM recovery_points WHERE id = ?", arguments: [id]).map(Self.recoveryPoint)
        }
    }

    public func goodChunks(domain: DomainID) throws -> [ChunkID: KeyID] {
        try self.read { db in
            var chunks = [ChunkID: KeyID]()
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT chunk_id, data_key_id FROM chunks WHERE domain_id = ? AND bad = 0",
                arguments: [domain.rawValue])
            while let row = try cursor.next() {
                let blob: [UInt8] = Array(row[0] as Data)
                if blob.count == ChunkID.byteCount, let key = KeyID(hex: row[1]) { chunks[ChunkID(bytes: blob)] = key }
            }
            return chunks
        }
    }

    public func badChunks(domain: DomainID) throws -> Set<ChunkID> {
        try self.read { db in
            var ids = Set<ChunkID>()
            let cursor = try Row.fetchCursor(db, sql: "SELECT chunk_id FROM chunks WHERE domain_id = ? AND bad = 1",
                                             arguments: [domain.rawValue])
            while let row = try cursor.next() {
                let blob: [UInt8] = Array(row[0] as Data)
                if blob.count == ChunkID.byteCount { ids.insert(ChunkID(bytes: blob)) }
            }
            return ids
        }
    }

    public func dataKeys(domain: DomainID) throws -> [DataKeyRecord] {
        try self.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM data_keys WHERE domain_id = ? ORDER BY created_at",
                             arguments: [domain.rawValue]).compactMap { row in
                guard let id = KeyID(hex: row["key_id"]) else { return nil }
                return DataKeyRecord(domainID: domain, keyID: id, createdAtMillis: row["created_at"], sealCount: row["seal_count"])
            }
        }
    }

    private static func insertChunks(_ db: Database, domain: DomainID, _ chunks: [StoredChunk]) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO chunks (domain_id, chunk_id, stored_bytes, data_key_id, bad, base_id) VALUES (?, ?, ?, ?, 0, ?)
            ON CONFLICT (domain_id, chunk_id) DO UPDATE SET
                stored_bytes = excluded.stored_bytes, data_key_id = excluded.data_key_id, bad = 0, base_id = excluded.base_id
            """)
        for chunk in chunks {
            try statement.execute(arguments: [domain.rawValue, Data(chunk.id.bytes), chunk.storedBytes, chunk.dataKeyID.hex,
                                              chunk.base.map { Data($0.bytes) }])
        }
    }

    public func commit(_ commit: CatalogCommit) throws {
        try self.write { db in
            let vm = commit.vm
            try db.execute(sql: """
                INSERT INTO vms (id, name, host, domain_id, created_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, host = excluded.host
                """, arguments: [vm.id, vm.name, vm.host, vm.domainID.rawValue, vm.createdAtMillis])
            for disk in commit.disks {
                try db.execute(sql: "INSERT OR IGNORE INTO disks (id, vm_id, source) VALUES (?, ?, ?)",
                               arguments: [disk.id, disk.vmID, disk.source])
            }
            let rp = commit.recoveryPoint
            try db.execute(sql: """
                INSERT OR REPLACE INTO recovery_points (id, vm_id, vm_name, host, domain_id, sequence, created_at,
                    manifest_sha256, chunk_size, disk_count, logical_bytes, bytes_stored, consistency, deleted_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [rp.id, rp.vmID, rp.vmName, rp.host, rp.domainID.rawValue, Int64(rp.sequence),
                                 rp.createdAtMillis, rp.manifestSHA256, rp.chunkSize, rp.diskCount, rp.logicalBytes,
                                 rp.bytesStored, rp.consistency, rp.deletedAtMillis])
            try Self.insertChunks(db, domain: vm.domainID, commit.newChunks)
            for (keyID, seals) in commit.sealsByDataKey {
                try db.execute(sql: """
                    INSERT INTO data_keys (domain_id, key_id, created_at, seal_count) VALUES (?, ?, ?, ?)
                    ON CONFLICT (domain_id, key_id) DO UPDATE SET seal_count = seal_count + excluded.seal_count
                    """, arguments: [vm.domainID.rawValue, keyID.hex, rp.createdAtMillis, seals])
            }
        }
    }

    public func markBad(domain: DomainID, ids: [ChunkID]) throws {
        try self.write { db in
            for id in ids {
                try db.execute(sql: """
                    INSERT INTO chunks (domain_id, chunk_id, stored_bytes, data_key_id, bad) VALUES (?, ?, 0, '', 1)
                    ON CONFLICT (domain_id, chunk_id) DO UPDATE SET bad = 1
                    """, arguments: [domain.rawValue, Data(id.bytes)])
            }
        }
    }

    public func setDeleted(recoveryPointID: String, atMillis: Int64?) throws {
        try self.write { db in
            try db.execute(sql: "UPDATE recovery_points SET deleted_at = ? WHERE id = ?", arguments: [atMillis, recoveryPointID])
        }
    }

    public func removeRecoveryPoint(id: String) throws {
        try self.write { db in try db.execute(sql: "DELETE FROM recovery_points WHERE id = ?", arguments: [id]) }
    }

    public func removeChunks(domain: DomainID, ids: [ChunkID]) throws {
        try self.write { db in
            for id in ids {
                try db.execute(sql: "DELETE FROM chunks WHERE domain_id = ? AND chunk_id = ?", arguments: [domain.rawValue, Data(id.bytes)])
            }
        }
    }

    public func deltaBases(domain: DomainID) throws -> [ChunkID: ChunkID] {
        try self.read { db in
            var bases = [ChunkID: ChunkID]()
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT chunk_id, base_id FROM chunks WHERE domain_id = ? AND base_id IS NOT NULL", arguments: [domain.rawValue])
            while let row = try cursor.next() {
                let id: [UInt8] = Array(row[0] as Data)
                let base: [UInt8] = Array(row[1] as Data)
                if id.count == ChunkID.byteCount, base.count == ChunkID.byteCount { bases[ChunkID(bytes: id)] = ChunkID(bytes: base) }
            }
            return bases
        }
    }

    public func registerChunks(domain: DomainID, _ chunks: [StoredChunk]) throws {
        try self.write { db in try Self.insertChunks(db, domain: domain, chunks) }
    }

    public func registerDataKey(domain: DomainID, keyID: KeyID, createdAtMillis: Int64) throws {
        try self.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO data_keys (domain_id, key_id, created_at, seal_count) VALUES (?, ?, ?, 0)",
                           arguments: [domain.rawValue, keyID.hex, createdAtMillis])
        }
    }

    public func addSeals(domain: DomainID, _ seals: [KeyID: Int64]) throws {
        try self.write { db in
            for (keyID, count) in seals {
                try db.execute(sql: """
                    INSERT INTO data_keys (domain_id, key_id, created_at, seal_count) VALUES (?, ?, 0, ?)
                    ON CONFLICT (domain_id, key_id) DO UPDATE SET seal_count = seal_count + excluded.seal_count
                    """, arguments: [domain.rawValue, keyID.hex, count])
            }
        }
    }

    public func usage() throws -> CatalogUsage {
        try self.read { db in
            let chunks = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, COALESCE(SUM(bad), 0) AS bad, COALESCE(SUM(stored_bytes), 0) AS bytes,
                       COUNT(DISTINCT domain_id) AS domains FROM chunks
                """)!
            let points = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, COALESCE(SUM(logical_bytes), 0) AS bytes, COUNT(DISTINCT vm_id) AS vms FROM recovery_points
                """)!
            return CatalogUsage(vms: points["vms"], recoveryPoints: points["n"], domains: chunks["domains"], chunks: chunks["n"],
                                badChunks: chunks["bad"], storedBytes: chunks["bytes"], logicalBytes: points["bytes"])
        }
    }

    public func removeAll() throws {
        try self.write { db in
            try db.execute(sql: "DELETE FROM recovery_points; DELETE FROM disks; DELETE FROM vms; DELETE FROM chunks; DELETE FROM data_keys;")
        }
    }
}
