import HTTPTypes
import Hummingbird
import TresorChunkStore
import TresorCore
import TresorEngine

/// Jobs and agents (docs/jobs.md): operators list, show and cancel jobs and ask for a backup now; agents
/// report their host, take jobs and report progress and outcome.
struct JobRoutes {
    let state: ServerState
    private static let readers: Set<Role> = [.admin, .restore, .reader]
    private static let restorers: Set<Role> = [.admin, .restore]
    /// How long an agent's poll may wait for a job.
    static let longestPoll = 30.0

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.get("jobs") { request, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "list jobs")
            let filter = try Self.filter(request)
            return try HTTPCoding.json(try await state.blocking { try state.jobs.jobs(filter) })
        }
        api.get("jobs/:id") { _, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "read jobs")
            let id = try context.parameters.require("id")
            return try HTTPCoding.json(try await state.blocking { try state.jobs.job(id: id) })
        }
        api.post("jobs/:id/cancel") { _, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "cancel jobs")
            let id = try context.parameters.require("id")
            return try await state.audited(context, action: "job.cancel", target: "job \(id)", durable: true) {
                try HTTPCoding.json(try await state.blocking { try state.jobs.cancel(id: id, now: VaultClock.nowMillis) })
            }
        }
        api.post("backup-now") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "start backups now")
            let asked = try await HTTPCoding.decode(BackupNowRequest.self, request)
            return try await state.audited(context, action: "job.backup_now", target: "vm \(asked.vmName)", durable: true) {
                let job = try await state.blocking { try state.jobs.backupNow(asked, now: VaultClock.nowMillis) }
                return try HTTPCoding.json(job, status: .accepted)
            }
        }
        api.get("dashboard") { _, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "read the dashboard")
            return try HTTPCoding.json(try await state.blocking {
                try DashboardBuilder(vault: state.vault, jobs: state.jobs.store).build(now: VaultClock.nowMillis)
            })
        }
        api.post("discovery") { _, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "start discoveries")
            return try await state.audited(context, action: "job.discovery", target: "agents", durable: true) {
                let job = try await state.blocking { try state.jobs.startDiscovery(now: VaultClock.nowMillis) }
                return try HTTPCoding.json(job, status: .accepted)
            }
        }
        api.post("registrations") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "register VMs")
            let asked = try await HTTPCoding.decode(RegisterRequest.self, request)
            return try await state.audited(context, action: "job.register", target: "vms \(asked.vmNames.joined(separator: ","))", durable: true) {
                let jobs = try await state.blocking {
                    try state.jobs.register(asked, vaultRegion: state.directory.config.region, now: VaultClock.nowMillis)
                }
                return try HTTPCoding.json(jobs)
            }
        }
        api.post("protections") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "protect VMs")
            let asked = try await HTTPCoding.decode(ProtectRequest.self, request)
            return try await state.audited(context, action: "job.protect", target: "vms \(asked.vmNames.joined(separator: ",")) policy \(asked.policy)", durable: true) {
                let jobs = try await state.blocking {
                    try state.jobs.protect(asked, now: VaultClock.nowMillis) { name, host in
                        try state.service.protect(vmName: name, host: host, policy: asked.policy, now: VaultClock.nowMillis)
                    }
                }
                return try HTTPCoding.json(jobs)
            }
        }
        api.get("agents") { _, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "list agents")
            return try HTTPCoding.json(try await state.blocking { try state.jobs.agents() })
        }
        api.post("agent/report") { request, context in
            let caller = try Self.agent(context)
            let report = try await HTTPCoding.decode(AgentReport.self, request)
            try AccessRules.requireHost(caller, host: report.host)
            try await state.blocking {
                let now = VaultClock.nowMillis
                try state.jobs.report(report, now: now)
                try BackupScheduler(vault: state.vault, jobs: state.jobs).finishDiscoveries(now: now, vaultRegion: state.directory.config.region)
            }
            return HTTPCoding.noContent()
        }
        api.get("agent/jobs") { request, context in
            let caller = try Self.agent(context)
            let host = caller.hostName ?? ""
            let wait = min(Self.longestPoll, max(0, request.uri.queryParameters["wait"].flatMap { Double(String($0)) } ?? 0))
            let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
            while true {
                if let job = try await state.blocking({ try state.jobs.claim(host: host, now: VaultClock.nowMillis) }) {
                    try state.record(context, action: "job.start", target: "job \(job.id) (vm \(job.vmName))", result: "ok", durable: false)
                    return try HTTPCoding.json(job)
                }
                if try await state.blocking({ try state.jobs.reportRequested(host: host) }) {
                    // A discovery waits for this host: the agent reports at once, then polls again.
                    return Response(status: .noContent, headers: [.tresorReportRequested: "1"])
                }
                guard ContinuousClock.now < deadline else { return HTTPCoding.noContent() }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        api.post("restores") { request, context in
            try AccessRules.require(try context.requireCaller(), Self.restorers, to: "start restore jobs")
            let asked = try await HTTPCoding.decode(RestoreJobRequest.self, request)
            return try await state.audited(context, action: "job.restore", target: "vm \(asked.vmName) point \(asked.recoveryPoint)", durable: true) {
                try HTTPCoding.json(try await state.blocking { try state.jobs.startRestore(asked, now: VaultClock.nowMillis) }, status: .created)
            }
        }
        // Agents report on their backups; restore tools (restore and admin tokens) on their restores.
        api.put("jobs/:id/progress") { request, context in
            let caller = try context.requireCaller()
            let id = try context.parameters.require("id")
            let progress = try await HTTPCoding.decode(JobProgress.self, request)
            if caller.role != .agent {
                try AccessRules.require(caller, Self.restorers, to: "report on restore jobs")
                return try HTTPCoding.json(try await state.blocking { try state.jobs.restoreProgress(jobID: id, progress, now: VaultClock.nowMillis) })
            }
            return try HTTPCoding.json(try await state.blocking {
                try state.jobs.progress(jobID: id, host: caller.hostName ?? "", progress)
            })
        }
        api.put("jobs/:id/outcome") { request, context in
            let caller = try context.requireCaller()
            let id = try context.parameters.require("id")
            let outcome = try await HTTPCoding.decode(JobOutcome.self, request)
            if caller.role != .agent { try AccessRules.require(caller, Self.restorers, to: "report on restore jobs") }
            return try await state.audited(context, action: "job.finish", target: "job \(id): \(outcome.status.rawValue)", durable: true) {
                try HTTPCoding.json(try await state.blocking {
                    caller.role == .agent
                        ? try state.jobs.finish(jobID: id, host: caller.hostName ?? "", outcome, now: VaultClock.nowMillis)
                        : try state.jobs.finishRestore(jobID: id, outcome, now: VaultClock.nowMillis)
                })
            }
        }
    }

    private static func agent(_ context: VaultRequestContext) throws -> AccessTokenRecord {
        let caller = try context.requireCaller()
        try AccessRules.require(caller, [.agent], to: "act as an agent")
        return caller
    }

    private static func filter(_ request: Request) throws -> JobFilter {
        let query = request.uri.queryParameters
        var filter = JobFilter()
        if let kind = query["kind"] {
            guard let value = JobKind(rawValue: String(kind)) else { throw TresorError(.requestInvalid, "'\(kind)' is not a job kind") }
            filter.kind = value
        }
        if let status = query["status"] {
            guard let value = JobStatus(rawValue: String(status)) else { throw TresorError(.requestInvalid, "'\(status)' is not a job status") }
            filter.status = value
        }
        filter.vmName = query["vm"].map(String.init)
        for (name, path) in [("since", \JobFilter.sinceMillis), ("until", \JobFilter.untilMillis)] {
            guard let text = query[name[...]] else { continue }
            guard let millis = Int64(String(text)) else { throw TresorError(.requestInvalid, "\(name) is milliseconds since the epoch") }
            filter[keyPath: path] = millis
        }
        return filter
    }
}
