import GRDB
public import TresorCore

/// The vault's tokens (records only, never secrets), in `auth.sqlite` beside the catalog. Not in the catalog: `rebuild-catalog`
/// recreates that from the store, and tokens are not in the store.
public final class SQLiteTokenStore: Sendable {
    private let database: DatabaseQueue

    public init(vaultDirectory: String) throws {
        self.database = try DatabaseQueue.tresorOpen(path: vaultDirectory + "/auth.sqlite", what: "token") { migrator in
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY NOT NULL,
                        role TEXT NOT NULL,
                        vm_name TEXT,
                        created_at INTEGER NOT NULL,
                        expires_at INTEGER,
                        revoked_at INTEGER,
                        secret_sha256 TEXT NOT NULL
                    )
                    """)
            }
            migrator.registerMigration("v2-agent-host") { db in
                try db.execute(sql: "ALTER TABLE tokens ADD COLUMN host_name TEXT")
            }
        }
    }

    public func insert(_ record: AccessTokenRecord) throws {
        try self.write { db in
            try db.execute(sql: """
                INSERT INTO tokens (id, role, vm_name, host_name, created_at, expires_at, revoked_at, secret_sha256)
                VALUES (?, ?, ?, ?, ?, ?, NULL, ?)
                """, arguments: [record.id, record.role.rawValue, record.vmName, record.hostName, record.createdAtMillis,
                                 record.expiresAtMillis, record.secretSHA256])
        }
    }

    public func find(id: String) throws -> AccessTokenRecord? {
        try self.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE id = ?", arguments: [id]).map(Self.record)
        }
    }

    public func list() throws -> [AccessTokenRecord] {
        try self.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY created_at, id").map(Self.record)
        }
    }

    /// Revokes a token by its ID; false when there is no such token.
    public func revoke(id: String, now: Int64) throws -> Bool {
        try self.write { db in
            try db.execute(sql: "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [now, id])
            return db.changesCount > 0
        }
    }

    private static func record(_ row: Row) throws -> AccessTokenRecord {
        guard let role = Role(rawValue: row["role"]) else {
            throw TresorError(.catalog, "token \(row["id"] as String) has an unknown role")
        }
        return AccessTokenRecord(id: row["id"], role: role, vmName: row["vm_name"], hostName: row["host_name"], createdAtMillis: row["created_at"],
                                 expiresAtMillis: row["expires_at"], revokedAtMillis: row["revoked_at"],
                                 secretSHA256: row["secret_sha256"])
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T { try self.database.tresorRead("token", body) }
    private func write<T>(_ body: (Database) throws -> T) throws -> T { try self.database.tresorWrite("token", body) }
}
