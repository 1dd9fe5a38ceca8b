import NIOCore
import NIOHTTP1
public import TresorCore

/// A served vault's jobs and agents (docs/jobs.md, `/v1/jobs`, `/v1/backup-now`, `/v1/agent/...`).
public struct RemoteJobs: Sendable {
    let connection: VaultConnection

    // MARK: Operators

    public func jobs(_ filter: JobFilter) throws -> [JobRecord] {
        var query: [String] = []
        if let kind = filter.kind { query.append("kind=\(kind.rawValue)") }
        if let status = filter.status { query.append("status=\(status.rawValue)") }
        if let vm = filter.vmName { query.append("vm=\(VaultConnection.escape(vm))") }
        if let since = filter.sinceMillis { query.append("since=\(since)") }
        if let until = filter.untilMillis { query.append("until=\(until)") }
        return try self.connection.getJSON([JobRecord].self, "/v1/jobs" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
    }

    public func job(id: String) throws -> JobRecord {
        try self.connection.getJSON(JobRecord.self, "/v1/jobs/\(VaultConnection.escape(id))")
    }

    public func cancel(id: String) throws -> JobRecord {
        try VaultConnection.decode(JobRecord.self, try self.connection.send(.POST, "/v1/jobs/\(VaultConnection.escape(id))/cancel"))
    }

    public func backupNow(_ request: BackupNowRequest) throws -> JobRecord {
        try self.connection.postJSON(JobRecord.self, "/v1/backup-now", request)
    }

    public func dashboard() throws -> Dashboard {
        try self.connection.getJSON(Dashboard.self, "/v1/dashboard")
    }

    public func agents() throws -> [AgentRecord] {
        try self.connection.getJSON([AgentRecord].self, "/v1/agents")
    }

    // MARK: Agents

    public func report(_ report: AgentReport) throws {
        _ = try self.connection.send(.POST, "/v1/agent/report", body: ByteBuffer(bytes: try JSON.encode(report)), contentType: "application/json")
    }

    /// What an agent's poll brings: a job, or none and perhaps a request to report now (a discovery).
    public enum Poll: Sendable {
        case job(JobRecord)
        case reportRequested
        case nothing
    }

    /// The next job for this agent's host, waiting up to `waitSeconds` for one.
    public func nextJob(waitSeconds: Int) throws -> Poll {
        let reply = try self.connection.send(.GET, "/v1/agent/jobs?wait=\(waitSeconds)")
        guard reply.status != 204 else { return reply.headers["x-tresor-report-requested"].isEmpty ? .nothing : .reportRequested }
        return .job(try VaultConnection.decode(JobRecord.self, reply))
    }

    public func register(_ request: RegisterRequest) throws -> [JobRecord] {
        try self.connection.postJSON([JobRecord].self, "/v1/registrations", request)
    }

    public func protect(_ request: ProtectRequest) throws -> [JobRecord] {
        try self.connection.postJSON([JobRecord].self, "/v1/protections", request)
    }

    /// A restore job, in progress from the start; report with `progress` and `finish`.
    public func startRestore(_ request: RestoreJobRequest) throws -> JobRecord {
        try self.connection.postJSON(JobRecord.self, "/v1/restores", request)
    }

    public func startDiscovery() throws -> JobRecord {
        try VaultConnection.decode(JobRecord.self, try self.connection.send(.POST, "/v1/discovery"))
    }

    public func progress(jobID: String, _ progress: JobProgress) throws -> JobProgressAnswer {
        try VaultConnection.decode(JobProgressAnswer.self, try self.connection.send(
            .PUT, "/v1/jobs/\(VaultConnection.escape(jobID))/progress", body: ByteBuffer(bytes: try JSON.encode(progress)),
            contentType: "application/json"))
    }

    public func finish(jobID: String, _ outcome: JobOutcome) throws -> JobRecord {
        try VaultConnection.decode(JobRecord.self, try self.connection.send(
            .PUT, "/v1/jobs/\(VaultConnection.escape(jobID))/outcome", body: ByteBuffer(bytes: try JSON.encode(outcome)),
            contentType: "application/json"))
    }
}
