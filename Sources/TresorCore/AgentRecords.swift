/// What an agent says about its host each time it reports (docs/jobs.md, "Agents").
public struct AgentReport: Codable, Sendable, Equatable {
    public var host: String
    public var region: String?
    public var agentVersion: String
    public var vms: [ReportedVM]

    public init(host: String, region: String?, agentVersion: String, vms: [ReportedVM]) {
        self.host = host
        self.region = region
        self.agentVersion = agentVersion
        self.vms = vms
    }
}

public struct ReportedVM: Codable, Sendable, Equatable {
    public enum PowerState: String, Codable, Sendable { case running, stopped, unknown }

    public var name: String
    public var powerState: PowerState
    public var disks: [ReportedDisk]

    public init(name: String, powerState: PowerState, disks: [ReportedDisk]) {
        self.name = name
        self.powerState = powerState
        self.disks = disks
    }
}

public struct ReportedDisk: Codable, Sendable, Equatable {
    /// The OS disk and data disks are backed up; the temporary disk never is.
    public enum Role: String, Codable, Sendable { case os, data, temporary }

    public var path: String
    public var role: Role
    public var sizeBytes: Int64

    public init(path: String, role: Role, sizeBytes: Int64) {
        self.path = path
        self.role = role
        self.sizeBytes = sizeBytes
    }
}

/// An agent as the vault remembers it: its last report and when it came.
public struct AgentRecord: Codable, Sendable, Equatable {
    public var report: AgentReport
    public var lastSeenMillis: Int64

    public init(report: AgentReport, lastSeenMillis: Int64) {
        self.report = report
        self.lastSeenMillis = lastSeenMillis
    }

    /// An agent that has not reported for this long is "not running".
    public static let silenceLimitMillis: Int64 = 3 * 60_000

    public func isRunning(now: Int64) -> Bool { now - self.lastSeenMillis <= Self.silenceLimitMillis }
}

/// Where jobs and agents' reports are kept: operational state, not recovery data, so outside the store
/// (`rebuild-catalog` does not need it).
public protocol JobStore: Sendable {
    func insert(_ job: JobRecord) throws
    func update(_ job: JobRecord) throws
    func job(id: String) throws -> JobRecord?
    func jobs(_ filter: JobFilter) throws -> [JobRecord]
    /// The newest policy slot any backup job of the VM was made for (run, missed or failed).
    func lastScheduledSlot(vmName: String, host: String) throws -> Int64?
    func saveAgent(_ agent: AgentRecord) throws
    func agents() throws -> [AgentRecord]
}
