import GRDB

/// The catalog's schema as frozen, named migrations: a shipped migration never changes; a new schema is
/// a new migration appended here.
enum CatalogSchema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE vms (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    host TEXT NOT NULL,
                    domain_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX vms_by_name ON vms(name, host);
                CREATE TABLE disks (
                    id TEXT PRIMARY KEY NOT NULL,
                    vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
                    source TEXT NOT NULL,
                    UNIQUE (vm_id, source)
                );
                CREATE TABLE recovery_points (
                    id TEXT PRIMARY KEY NOT NULL,
                    vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
                    vm_name TEXT NOT NULL,
                    host TEXT NOT NULL,
                    domain_id TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    manifest_sha256 TEXT NOT NULL,
                    chunk_size INTEGER NOT NULL,
                    disk_count INTEGER NOT NULL,
                    logical_bytes INTEGER NOT NULL,
                    bytes_stored INTEGER NOT NULL,
                    consistency TEXT NOT NULL,
                    UNIQUE (vm_id, sequence)
                );
                CREATE TABLE chunks (
                    domain_id TEXT NOT NULL,
                    chunk_id BLOB NOT NULL,
                    stored_bytes INTEGER NOT NULL,
                    data_key_id TEXT NOT NULL,
                    bad INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (domain_id, chunk_id)
                ) WITHOUT ROWID;
                CREATE TABLE data_keys (
                    domain_id TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    seal_count INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (domain_id, key_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-soft-delete") { db in
            try db.execute(sql: "ALTER TABLE recovery_points ADD COLUMN deleted_at INTEGER")
        }
        migrator.registerMigration("v3-delta-bases") { db in
            // A delta chunk's base (ChunkObjectHeader version 2), so collection keeps it with the delta.
            try db.execute(sql: "ALTER TABLE chunks ADD COLUMN base_id BLOB")
        }
        return migrator
    }
}
