import Foundation
import Synchronization
public import TresorCore

/// The vault's jobs: created by "backup now" and the scheduler, handed to the agent of the VM's host, and
/// followed to their end (docs/jobs.md). One queue per vault process; its mutex makes each step (check
/// then change) atomic, and every change is in `jobs.sqlite` before it is answered.
public final class JobQueue: Sendable {
    public struct Limits: Sendable {
        /// Jobs in progress at once, vault-wide.
        public var maximumRunning: Int
        /// Job starts per minute, vault-wide: scheduled backups of many VMs are staggered.
        public var startsPerMinute: Int
        /// On-demand backups of one VM per UTC day (Azure: three, beside the scheduled one) ...
        public var onDemandPerDay: Int
        /// ... and on-demand attempts, failed ones included, per 24 hours (Azure: nine).
        public var onDemandAttemptsPer24Hours: Int

        public init(maximumRunning: Int = 4, startsPerMinute: Int = 10, onDemandPerDay: Int = 3, onDemandAttemptsPer24Hours: Int = 9) {
            self.maximumRunning = maximumRunning
            self.startsPerMinute = startsPerMinute
            self.onDemandPerDay = onDemandPerDay
            self.onDemandAttemptsPer24Hours = onDemandAttemptsPer24Hours
        }
    }

    public let store: any JobStore
    let vault: Vault
    private let limits: Limits
    private let steps = Mutex<[Int64]>([])  // start times of the last minute
    /// Told of every backup job that ends `failed` (a missed slot included), after it is stored: alerts.
    private let onFailure: @Sendable (JobRecord) -> Void

    public init(store: any JobStore, vault: Vault, limits: Limits = Limits(), onFailure: @escaping @Sendable (JobRecord) -> Void = { _ in }) {
        self.store = store
        self.vault = vault
        self.limits = limits
        self.onFailure = onFailure
    }

    /// Runs one check-then-change step under the queue's lock.
    func withJobs<T>(_ body: () throws -> T) throws -> T {
        try self.steps.withLock { _ in try body() }
    }

    static func newID() -> String { UUID().uuidString.lowercased() }

    // MARK: Agents

    public func report(_ report: AgentReport, now: Int64) throws {
        try self.store.saveAgent(AgentRecord(report: report, lastSeenMillis: now))
    }

    public func agents() throws -> [AgentRecord] { try self.store.agents() }

    /// The reported VM of that name (on that host, when given) and its agent.
    public func reportedVM(name: String, host: String?) throws -> (vm: ReportedVM, agent: AgentRecord) {
        let matches = try self.store.agents().flatMap { agent in
            agent.report.vms.filter { $0.name == name && (host == nil || agent.report.host == host) }.map { ($0, agent) }
        }
        guard let first = matches.first else {
            throw TresorError(.vmNotReported, "no agent reports a VM named '\(name)'\(host.map { " on host \($0)" } ?? "")",
                              action: "run `tresor agent` on the VM's host with the VM in its configuration")
        }
        guard matches.count == 1 else {
            let hosts = matches.map(\.1.report.host).sorted().joined(separator: ", ")
            throw TresorError(.invalidArgument, "VMs named '\(name)' run on several hosts (\(hosts))", action: "name one with --host")
        }
        return first
    }

    // MARK: Creating jobs

    /// An operator's "backup now": refused while the VM has an active job, when its agent is silent, and past
    /// the on-demand limits.
    public func backupNow(_ request: BackupNowRequest, now: Int64) throws -> JobRecord {
        guard (1...36_500).contains(request.keepDays) else {
            throw TresorError(.invalidArgument, "keep an on-demand recovery point 1 to 36500 days, not \(request.keepDays)")
        }
        return try self.steps.withLock { _ in
            let (vm, agent) = try self.reportedVM(name: request.vmName, host: request.host)
            let host = agent.report.host
            guard agent.isRunning(now: now) else {
                throw TresorError(.agentNotRunning, "the agent on host \(host) has not reported for \((now - agent.lastSeenMillis) / 1000) s",
                                  action: "start `tresor agent` on \(host) and check it reaches the vault")
            }
            try self.requireIdle(vmName: vm.name, host: host)
            let recent = try self.store.jobs(JobFilter(kind: .backup, vmName: vm.name, sinceMillis: now - 86_400_000))
                .filter { $0.host == host && $0.trigger == .onDemand }
            // UTC days: whole multiples of 86 400 000 ms since the epoch.
            let today = now / 86_400_000
            let todays = recent.filter { $0.createdAtMillis / 86_400_000 == today && $0.status != .failed && $0.status != .cancelled }
            if todays.count >= self.limits.onDemandPerDay {
                throw TresorError(.onDemandLimit, "VM '\(vm.name)' already had \(todays.count) on-demand backups today (UTC); the limit is \(self.limits.onDemandPerDay)",
                                  action: "wait until 00:00 UTC, or rely on the policy's scheduled backup")
            }
            if recent.count >= self.limits.onDemandAttemptsPer24Hours {
                throw TresorError(.onDemandLimit, "VM '\(vm.name)' had \(recent.count) on-demand attempts in 24 hours; the limit is \(self.limits.onDemandAttemptsPer24Hours)",
                                  action: "find why the attempts fail (`tresor job list --vm \(vm.name)`) before trying again")
            }
            let job = JobRecord(id: UUID().uuidString.lowercased(), kind: .backup, trigger: .onDemand, vmName: vm.name, host: host,
                                createdAtMillis: now, keepUntilMillis: now + Int64(request.keepDays) * 86_400_000)
            try self.store.insert(job)
            return job
        }
    }

    /// A scheduled backup for a policy slot; nil when the VM already has an active job (the slot is then
    /// reported missed by the caller).
    public func schedule(vmName: String, host: String, slotMillis: Int64, now: Int64) throws -> JobRecord? {
        try self.steps.withLock { _ in
            guard (try? self.requireIdle(vmName: vmName, host: host)) != nil else { return nil }
            let job = JobRecord(id: UUID().uuidString.lowercased(), kind: .backup, trigger: .scheduled, vmName: vmName, host: host,
                                createdAtMillis: now, scheduledForMillis: slotMillis)
            try self.store.insert(job)
            return job
        }
    }

    // MARK: Discovery

    /// How long a discovery waits for agents to report.
    public static let discoveryWaitMillis: Int64 = 60_000

    /// Starts a discovery: every running agent is asked (in its next poll's answer) to report now. One at a time.
    public func startDiscovery(now: Int64) throws -> JobRecord {
        try self.steps.withLock { _ in
            if let running = try self.store.jobs(JobFilter(kind: .discovery)).first(where: { $0.status.isActive }) {
                throw TresorError(.operationInProgress, "another operation is in progress for this item: discovery \(running.id) is running",
                                  action: "wait for it (`tresor job show \(running.id)`)")
            }
            var job = JobRecord(id: UUID().uuidString.lowercased(), kind: .discovery, trigger: .onDemand, vmName: "-", host: "-",
                                createdAtMillis: now)
            job.status = .inProgress
            job.startedAtMillis = now
            job.tasks = [JobTask(name: "agents report", status: .inProgress, startedAtMillis: now)]
            try self.store.insert(job)
            return job
        }
    }

    /// Whether a running discovery waits for this host's agent to report.
    public func reportRequested(host: String) throws -> Bool {
        guard let discovery = try self.store.jobs(JobFilter(kind: .discovery, status: .inProgress)).first else { return false }
        let agent = try self.store.agents().first { $0.report.host == host }
        return (agent?.lastSeenMillis ?? .min) < discovery.startedAtMillis!
    }

    /// Ends running discoveries once every running agent has reported since it began, or after a minute:
    /// the result lists the VMs fresh reports name that are neither registered nor protected (`known`,
    /// as "name@host").
    public func finishDiscoveries(now: Int64, vaultRegion: String, protected: Set<String>) throws {
        try self.steps.withLock { _ in
            for var job in try self.store.jobs(JobFilter(kind: .discovery, status: .inProgress)) {
                let started = job.startedAtMillis ?? job.createdAtMillis
                let agents = try self.store.agents()
                let answered = agents.filter { $0.lastSeenMillis >= started }
                let waiting = agents.filter { $0.lastSeenMillis < started && $0.isRunning(now: now) }
                guard waiting.isEmpty || now - started >= Self.discoveryWaitMillis else { continue }
                job.discovered = answered.flatMap { agent in
                    agent.report.vms.filter { !protected.contains($0.name + "@" + agent.report.host) }.map { vm in
                        DiscoveredVM(name: vm.name, host: agent.report.host, region: agent.report.region,
                                     sameRegion: agent.report.region == vaultRegion, powerState: vm.powerState,
                                     dataDisks: vm.disks.count { $0.role == .data })
                    }
                }.sorted { ($0.name, $0.host) < ($1.name, $1.host) }
                job.status = .completed
                job.endedAtMillis = now
                job.tasks[0].status = .completed
                job.tasks[0].endedAtMillis = now
                job.message = "\(job.discovered!.count) unregistered VMs on \(answered.count) hosts"
                    + (waiting.isEmpty ? "" : "; no answer from \(waiting.map(\.report.host).sorted().joined(separator: ", "))")
                try self.store.update(job)
            }
        }
    }

    /// A slot that will not run, recorded as a failed job so that it is seen (`schedule.missed`).
    public func recordMissed(vmName: String, host: String, slotMillis: Int64, now: Int64, reason: String) throws -> JobRecord {
        var job = JobRecord(id: UUID().uuidString.lowercased(), kind: .backup, trigger: .scheduled, vmName: vmName, host: host,
                            createdAtMillis: now, scheduledForMillis: slotMillis)
        job.end(.failed, .scheduleMissed, "the scheduled backup did not run: \(reason)",
                action: "the next slot runs as planned; `tresor backup-now --vm \(vmName)` takes one now", at: now)
        try self.store.insert(job)
        self.onFailure(job)
        return job
    }

    /// The newest slot the scheduler handled for a VM (made a job for, or recorded missed).
    public func lastScheduledSlot(vmName: String, host: String) throws -> Int64? {
        try self.store.lastScheduledSlot(vmName: vmName, host: host)
    }

    private func requireIdle(vmName: String, host: String) throws {
        let active = try self.store.jobs(JobFilter(vmName: vmName)).first { $0.host == host && $0.status.isActive }
        if let active {
            throw TresorError(.operationInProgress, "another operation is in progress for this item (job \(active.id), \(active.status.rawValue))",
                              action: "wait for it or cancel it with `tresor job cancel \(active.id)`")
        }
    }

    // MARK: Agents running jobs

    /// The oldest queued job for `host`, now in progress; nil when there is none or the vault's limits
    /// (running jobs, starts per minute) say wait.
    public func claim(host: String, now: Int64) throws -> JobRecord? {
        try self.steps.withLock { starts in
            starts.removeAll { $0 <= now - 60_000 }
            guard starts.count < self.limits.startsPerMinute else { return nil }
            guard try self.running().count < self.limits.maximumRunning else { return nil }
            guard var job = try self.store.jobs(JobFilter(status: .queued)).first(where: { $0.host == host }) else { return nil }
            job.status = .inProgress
            job.startedAtMillis = now
            job.tasks = [JobTask(name: "snapshot", status: .queued), JobTask(name: "transfer", status: .queued)]
            if job.kind == .backup { job.instantRestoreDays = try self.instantRestoreDays(vmName: job.vmName, host: job.host, now: now) }
            try self.store.update(job)
            starts.append(now)
            return job
        }
    }

    /// The instant-restore days of the VM's policy; the default policy's for a VM not protected.
    private func instantRestoreDays(vmName: String, host: String, now: Int64) throws -> Int {
        let policyName = try self.vault.protectionRecords().first { $0.vmName == vmName && $0.host == host }?.policy
            ?? BackupPolicy.defaultPolicy.name
        let book = PolicyBook(vault: self.vault, now: { now })
        return (try? book.policy(named: policyName).policy.instantRestoreDays) ?? BackupPolicy.defaultPolicy.instantRestoreDays
    }

    /// Records an agent's progress; the answer says whether the job was cancelled meanwhile.
    public func progress(jobID: String, host: String, _ progress: JobProgress) throws -> JobProgressAnswer {
        try self.steps.withLock { _ in
            var job = try self.agentsJob(jobID, host: host)
            guard !job.status.isFinished else { return JobProgressAnswer(cancel: true) }
            job.bytesDone = progress.bytesDone
            job.bytesTotal = progress.bytesTotal
            job.tasks = progress.tasks
            try self.store.update(job)
            return JobProgressAnswer(cancel: job.status == .cancelling)
        }
    }

    /// Records how a job ended. A backup that made a recovery point for an on-demand job gets its keep
    /// record first, so the point never counts as a scheduled one.
    public func finish(jobID: String, host: String, _ outcome: JobOutcome, now: Int64) throws -> JobRecord {
        guard outcome.status.isFinished else {
            throw TresorError(.requestInvalid, "a job ends completed, failed or cancelled, not \(outcome.status.rawValue)")
        }
        return try self.steps.withLock { _ in
            var job = try self.agentsJob(jobID, host: host)
            guard !job.status.isFinished else { return job }
            if let point = outcome.recoveryPoint {
                guard let record = try self.vault.catalog.recoveryPoint(id: point), record.vmName == job.vmName, record.host == job.host else {
                    throw TresorError(.requestInvalid, "recovery point \(point) is not a recovery point of VM \(job.vmName) on \(job.host)")
                }
                if let keepUntil = job.keepUntilMillis {
                    try self.vault.writeOnDemandKeep(OnDemandKeepRecord(recoveryPointID: point, keepUntilMillis: keepUntil, jobID: job.id))
                }
            }
            job.status = outcome.status
            job.endedAtMillis = now
            job.recoveryPoint = outcome.recoveryPoint
            job.errorCode = outcome.errorCode
            job.message = outcome.message
            job.action = outcome.action
            if let progress = outcome.progress {
                job.bytesDone = progress.bytesDone
                job.bytesTotal = progress.bytesTotal
                job.tasks = progress.tasks
            }
            try self.store.update(job)
            if job.status == .failed { self.onFailure(job) }
            return job
        }
    }

    /// Backup jobs in progress or stopping: what agents run. (A discovery is in progress in the vault itself:
    /// it takes no agent's slot and no agent's silence fails it.) Agents' polls ask several times a second,
    /// so only those rows are read.
    private func running() throws -> [JobRecord] {
        try (self.store.jobs(JobFilter(kind: .backup, status: .inProgress)) + self.store.jobs(JobFilter(kind: .backup, status: .cancelling)))
    }

    private func agentsJob(_ id: String, host: String) throws -> JobRecord {
        guard let job = try self.store.job(id: id), job.host == host else {
            throw TresorError(.jobNotFound, "no job \(id) for host \(host)")
        }
        return job
    }

    // MARK: Operators

    public func job(id: String) throws -> JobRecord {
        guard let job = try self.store.job(id: id) else { throw TresorError(.jobNotFound, "no job \(id)") }
        return job
    }

    public func jobs(_ filter: JobFilter) throws -> [JobRecord] { try self.store.jobs(filter) }

    /// Cancels a queued job at once; a running one is marked `cancelling` and its agent stops at its next
    /// progress report.
    public func cancel(id: String, now: Int64) throws -> JobRecord {
        try self.steps.withLock { _ in
            var job = try self.job(id: id)
            switch job.status {
            case .queued:
                job.status = .cancelled
                job.endedAtMillis = now
                job.message = "cancelled before it started"
            case .inProgress:
                job.status = .cancelling
            case .cancelling:
                return job
            case .cancelled, .completed, .failed:
                throw TresorError(.jobNotCancellable, "job \(id) isn't in a cancelable state: it is \(job.status.rawValue)")
            }
            try self.store.update(job)
            return job
        }
    }

    /// Fails jobs whose agent stopped reporting while it ran them (a host that crashed or lost the network),
    /// and queued jobs no agent took within the scheduler's grace period.
    public func expireJobs(now: Int64) throws {
        try self.steps.withLock { _ in
            try self.expireRestores(now: now)
            for var job in try self.store.jobs(JobFilter(status: .queued)) where now - job.createdAtMillis > BackupScheduler.graceMillis {
                job.end(.failed, .scheduleMissed,
                        "no agent took the job within two hours: the agent on \(job.host) is not running, or outside its backup window",
                        action: "check `tresor agent` on \(job.host) and its backupWindow", at: now)
                try self.store.update(job)
                self.onFailure(job)
            }
            let agents = Dictionary(try self.store.agents().map { ($0.report.host, $0) }, uniquingKeysWith: { a, _ in a })
            for var job in try self.running() {
                guard agents[job.host].map({ !$0.isRunning(now: now) }) ?? true else { continue }
                job.end(job.status == .cancelling ? .cancelled : .failed, .agentNotRunning,
                        "the agent on \(job.host) stopped reporting while the job ran",
                        action: "check the host and its agent; the next scheduled or on-demand backup starts afresh", at: now)
                try self.store.update(job)
                if job.status == .failed { self.onFailure(job) }
            }
        }
    }
}

extension JobRecord {
    /// Ends the job with an error code, message and recommended action, as the vault decided it.
    mutating func end(_ status: JobStatus, _ code: TresorError.Code, _ message: String, action: String?, at now: Int64) {
        self.status = status
        self.endedAtMillis = now
        self.errorCode = code.rawValue
        self.message = message
        self.action = action
    }
}
