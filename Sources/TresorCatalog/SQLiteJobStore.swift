import GRDB
public import TresorCore

/// Jobs and agents' last reports, in `jobs.sqlite` beside the catalog (docs/jobs.md). Each row keeps the
/// whole record as JSON; the columns beside it are what listings filter and sort on.
public final class SQLiteJobStore: JobStore {
    private let database: DatabaseQueue

    public init(vaultDirectory: String) throws {
        self.database = try DatabaseQueue.tresorOpen(path: vaultDirectory + "/jobs.sqlite", what: "job") { migrator in
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY NOT NULL,
                        kind TEXT NOT NULL,
                        status TEXT NOT NULL,
                        vm_name TEXT NOT NULL,
                        host TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        record TEXT NOT NULL
                    );
                    CREATE INDEX jobs_by_time ON jobs (created_at);
                    CREATE INDEX jobs_by_status ON jobs (status, created_at);
                    CREATE TABLE agents (
                        host TEXT PRIMARY KEY NOT NULL,
                        last_seen INTEGER NOT NULL,
                        record TEXT NOT NULL
                    );
                    """)
            }
            // The scheduler asks for each protected VM's newest handled slot on every tick: a column and an
            // index answer that without reading the VM's whole job history.
            migrator.registerMigration("v2-scheduled-slot") { db in
                try db.execute(sql: """
                    ALTER TABLE jobs ADD COLUMN scheduled_for INTEGER;
                    UPDATE jobs SET scheduled_for = json_extract(record, '$.scheduledForMillis');
                    CREATE INDEX jobs_by_vm_slot ON jobs (vm_name, host, kind, scheduled_for);
                    """)
            }
        }
    }

    public func insert(_ job: JobRecord) throws {
        let record = try Self.text(job)
        try self.database.tresorWrite("job") { db in
            try db.execute(sql: """
                INSERT INTO jobs (id, kind, status, vm_name, host, created_at, scheduled_for, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [job.id, job.kind.rawValue, job.status.rawValue, job.vmName, job.host, job.createdAtMillis,
                                 job.scheduledForMillis, record])
        }
    }

    public func update(_ job: JobRecord) throws {
        let record = try Self.text(job)
        try self.database.tresorWrite("job") { db in
            try db.execute(sql: "UPDATE jobs SET status = ?, record = ? WHERE id = ?", arguments: [job.status.rawValue, record, job.id])
            guard db.changesCount == 1 else { throw TresorError(.notFound, "no job \(job.id)") }
        }
    }

    public func job(id: String) throws -> JobRecord? {
        try self.database.tresorRead("job") { db in
            try String.fetchOne(db, sql: "SELECT record FROM jobs WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func jobs(_ filter: JobFilter) throws -> [JobRecord] {
        var conditions: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let kind = filter.kind { conditions.append("kind = ?"); arguments.append(kind.rawValue) }
        if let status = filter.status { conditions.append("status = ?"); arguments.append(status.rawValue) }
        if let vm = filter.vmName { conditions.append("vm_name = ?"); arguments.append(vm) }
        if let since = filter.sinceMillis { conditions.append("created_at >= ?"); arguments.append(since) }
        if let until = filter.untilMillis { conditions.append("created_at < ?"); arguments.append(until) }
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try self.database.tresorRead("job") { db in
            try String.fetchAll(db, sql: "SELECT record FROM jobs \(clause) ORDER BY created_at, id",
                                arguments: StatementArguments(arguments)).map(Self.job)
        }
    }

    public func lastScheduledSlot(vmName: String, host: String) throws -> Int64? {
        try self.database.tresorRead("job") { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(scheduled_for) FROM jobs WHERE vm_name = ? AND host = ? AND kind = ?",
                               arguments: [vmName, host, JobKind.backup.rawValue])
        }
    }

    public func saveAgent(_ agent: AgentRecord) throws {
        let record = try Self.text(agent)
        try self.database.tresorWrite("agent") { db in
            try db.execute(sql: """
                INSERT INTO agents (host, last_seen, record) VALUES (?, ?, ?)
                ON CONFLICT (host) DO UPDATE SET last_seen = excluded.last_seen, record = excluded.record
                """, arguments: [agent.report.host, agent.lastSeenMillis, record])
        }
    }

    public func agents() throws -> [AgentRecord] {
        try self.database.tresorRead("agent") { db in
            try String.fetchAll(db, sql: "SELECT record FROM agents ORDER BY host").map {
                try JSON.decode(AgentRecord.self, from: Array($0.utf8), what: "agent record")
            }
        }
    }

    private static func text(_ value: some Encodable) throws -> String {
        String(decoding: try JSON.encode(value), as: UTF8.self)
    }

    private static func job(_ text: String) throws -> JobRecord {
        try JSON.decode(JobRecord.self, from: Array(text.utf8), what: "job record")
    }
}
