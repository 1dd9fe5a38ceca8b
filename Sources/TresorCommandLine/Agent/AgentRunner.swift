import Foundation
import Synchronization
import TresorCore
import TresorEngine
import TresorKeys
public import TresorRemote
import TresorSnapshot

/// `tresor agent`: reports its host's VMs to the vault, takes the jobs the vault queues for the host, runs
/// them and reports progress and outcome (docs/jobs.md, "Agents"). A job cancelled in the vault stops at
/// the agent's next progress report; its session is abandoned and leaves no recovery point.
public final class AgentRunner: Sendable {
    public static let version = "1"
    /// How often the agent reports even while idle; the vault calls an agent silent after three minutes.
    static let reportEverySeconds = 60.0

    let config: AgentConfig
    let remote: RemoteVault
    let keys: KeyRing
    let log: @Sendable (String) -> Void

    public init(config: AgentConfig, remote: RemoteVault, log: @escaping @Sendable (String) -> Void) throws {
        self.config = config
        self.remote = remote
        self.keys = try AgentRunner.keyRing(config)
        self.log = log
    }

    /// An agent holds a write-only client's key store: it backs up and cannot decrypt anything.
    private static func keyRing(_ config: AgentConfig) throws -> KeyRing {
        let store = try KeyStore.open(at: config.keystore)
        guard store.isWriteOnly else {
            throw TresorError(.invalidArgument, "the agent's key store \(config.keystore) holds private keys",
                              action: "give the agent a write-only key store made with `tresor keys export-public`")
        }
        return try KeyRing(client: store, kekName: config.kek)
    }

    /// The vault, once it answers. An agent started before its vault (a host that boots first, a vault
    /// being upgraded) waits for it as a running agent does; nil when stopped meanwhile. With `once`, a
    /// vault that does not answer is an error.
    public static func connect(url: String, token: String, trust: ServerTrust, once: Bool, shouldStop: @Sendable () -> Bool,
                               log: @Sendable (String) -> Void) throws -> RemoteVault? {
        var outage = VaultOutage()
        while !shouldStop() {
            do {
                let remote = try RemoteVault(url: url, token: token, trust: trust)
                if outage.end() { log("the vault answers") }
                return remote
            } catch let error as TresorError where error.code == .unreachable && !once {
                outage.wait(after: error, shouldStop: shouldStop, log: log)
            }
        }
        return nil
    }

    /// Runs until `shouldStop` says so; with `once`, reports, runs the jobs queued now, and returns.
    ///
    /// A vault that does not answer (restarting, or the network between) does not end the agent: it says
    /// so, waits 5 s, then longer up to a minute, and goes on where it was. A job's outcome the vault could
    /// not be told is told first once it answers again (a finished job keeps the outcome it has). With
    /// `once`, an unreachable vault is an error.
    public func run(pollSeconds: Int, once: Bool, shouldStop: @Sendable () -> Bool) throws {
        var lastReport = -Double.infinity
        var unreported: (job: JobRecord, outcome: JobOutcome)?
        var outage = VaultOutage()
        while !shouldStop() {
            do {
                if let (job, outcome) = unreported {
                    self.logFinished(try self.remote.jobs.finish(jobID: job.id, outcome))
                    unreported = nil
                }
                if ProcessInfo.processInfo.systemUptime - lastReport >= Self.reportEverySeconds {
                    try self.remote.jobs.report(self.report())
                    lastReport = ProcessInfo.processInfo.systemUptime
                }
                if outage.end() { self.log("the vault answers again") }
                guard self.config.windowIsOpen(atMillis: VaultClock.nowMillis) else {
                    if once { return }
                    Thread.sleep(forTimeInterval: Double(pollSeconds))
                    continue
                }
                let job: JobRecord
                switch try self.remote.jobs.nextJob(waitSeconds: once ? 0 : pollSeconds) {
                case .job(let next): job = next
                case .reportRequested:
                    lastReport = -Double.infinity
                    continue
                case .nothing:
                    if once { return }
                    continue
                }
                let outcome = self.run(job)
                unreported = (job, outcome)
                self.logFinished(try self.remote.jobs.finish(jobID: job.id, outcome))
                unreported = nil
            } catch let error as TresorError where error.code == .unreachable && !once {
                outage.wait(after: error, shouldStop: shouldStop, log: self.log)
                // The first call once it answers is a report: it tells the vault the agent runs, and its
                // success is what ends the outage.
                lastReport = -Double.infinity
            }
        }
        if let (job, outcome) = unreported {
            do {
                self.logFinished(try self.remote.jobs.finish(jobID: job.id, outcome))
            } catch {
                self.log("stopping without telling the vault how job \(job.id) ended (\(outcome.status.rawValue)); "
                         + "it fails the job once the agent is silent for three minutes")
            }
        }
    }

    private func logFinished(_ finished: JobRecord) {
        self.log("job \(finished.id) (\(finished.kind.rawValue) of \(finished.vmName)): \(finished.status.rawValue)"
                 + (finished.recoveryPoint.map { ", recovery point \($0)" } ?? "")
                 + (finished.errorCode.map { ", error[\($0)] \(finished.message ?? "")" } ?? ""))
    }

    /// The host's VMs as the configuration names them, with their disks' current sizes; a QEMU VM's power
    /// state is asked of QEMU.
    func report() -> AgentReport {
        AgentReport(host: self.config.host, region: self.config.region, agentVersion: Self.version, vms: self.config.vms.map { vm in
            ReportedVM(name: vm.name, powerState: Self.powerState(vm), disks: vm.disks.map { disk in
                ReportedDisk(path: disk.path, role: disk.role, sizeBytes: Self.size(of: disk.path))
            })
        })
    }

    private static func powerState(_ vm: AgentConfig.VM) -> ReportedVM.PowerState {
        guard let settings = vm.snapshot, settings.method == .qmp, let socket = settings.qmpSocket else { return vm.power ?? .unknown }
        do {
            guard let connection = try QMPConnection.connectIfListening(socket, timeoutSeconds: 5) else { return .stopped }
            return try QEMUSnapshot.runState(connection) == "running" ? .running : .stopped
        } catch {
            return .unknown
        }
    }

    private static func size(of path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? -1
    }

    /// Runs one job and returns how it ended, for the vault to be told.
    func run(_ job: JobRecord) -> JobOutcome {
        guard let vm = self.config.vms.first(where: { $0.name == job.vmName }) else {
            return JobOutcome(status: .failed, errorCode: TresorError.Code.invalidArgument.rawValue,
                              message: "the agent on \(self.config.host) has no VM '\(job.vmName)' in its configuration",
                              action: "add the VM to the agent's configuration file")
        }
        // The OS disk first, then the data disks in the configuration's order; the temporary disk never.
        let disks = vm.disks.filter { $0.role == .os } + vm.disks.filter { $0.role == .data }
        let progress = ProgressCounter()
        let started = VaultClock.nowMillis
        var tasks = [JobTask(name: "snapshot", status: .inProgress, startedAtMillis: started), JobTask(name: "transfer", status: .queued)]
        _ = try? self.remote.jobs.progress(jobID: job.id, JobProgress(bytesDone: 0, bytesTotal: 0, tasks: tasks))
        let snapshot: HeldSnapshot
        do {
            snapshot = try VMSnapshotter.take(VMSnapshotter.Request(
                vmName: vm.name, host: self.config.host, diskPaths: disks.map(\.path), settings: vm.snapshot ?? SnapshotSettings(method: .none),
                tier: self.config.snapshotTier, configuredPower: vm.power ?? .unknown, tag: "\(started)-\(job.id.prefix(8))", now: started))
        } catch {
            tasks[0].status = .failed
            tasks[0].endedAtMillis = VaultClock.nowMillis
            var outcome = JobOutcome(failure: error)
            outcome.progress = JobProgress(bytesDone: 0, bytesTotal: 0, tasks: tasks)
            return outcome
        }
        tasks[0].status = .completed
        tasks[0].endedAtMillis = VaultClock.nowMillis
        tasks[1].status = .inProgress
        tasks[1].startedAtMillis = tasks[0].endedAtMillis
        let reporter = ProgressReporter(jobs: self.remote.jobs, jobID: job.id, counter: progress, tasks: tasks)
        reporter.start()
        var destination: any BackupDestination = self.remote.destination
        if let limit = self.config.bandwidthBytesPerSecond { destination = ThrottledDestination(destination, bytesPerSecond: limit, progress: progress) }
        var request = BackupRequest(vmName: vm.name, host: self.config.host, diskPaths: disks.map(\.path))
        request.read(from: snapshot)
        request.changeCacheDirectory = ChangeCacheOptions.directory(base: self.config.cacheDirectory)
        var outcome: JobOutcome
        do {
            let result = try BackupEngine.run(request, destination: destination, keys: self.keys, progress: progress, now: VaultClock.nowMillis)
            outcome = JobOutcome(status: .completed, recoveryPoint: result.recoveryPoint)
        } catch {
            outcome = JobOutcome(failure: error)
        }
        reporter.stop()
        let keepDays = Int64(job.instantRestoreDays ?? BackupPolicy.defaultPolicy.instantRestoreDays)
        snapshot.release(recoveryPoint: outcome.recoveryPoint, keepUntilMillis: started + keepDays * 86_400_000)
        if outcome.status == .completed, !snapshot.warnings.isEmpty {
            outcome.message = "completed as \(snapshot.consistency.rawValue), with warnings: " + snapshot.warnings.joined(separator: "; ")
        }
        let ended = VaultClock.nowMillis
        tasks[1].status = outcome.status
        tasks[1].endedAtMillis = ended
        outcome.progress = JobProgress(bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, tasks: tasks)
        return outcome
    }
}

/// Sends a job's progress every second from its own thread and cancels the backup when the vault says the
/// job was cancelled.
final class ProgressReporter: Sendable {
    private let jobs: RemoteJobs
    private let jobID: String
    private let counter: ProgressCounter
    private let tasks: [JobTask]
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(jobs: RemoteJobs, jobID: String, counter: ProgressCounter, tasks: [JobTask]) {
        self.jobs = jobs
        self.jobID = jobID
        self.counter = counter
        self.tasks = tasks
    }

    func start() {
        Thread.detachNewThread {
            while !self.stopped.load(ordering: .relaxed) {
                let progress = JobProgress(bytesDone: self.counter.bytesDone, bytesTotal: self.counter.bytesTotal,
                                           tasks: self.tasks)
                if let answer = try? self.jobs.progress(jobID: self.jobID, progress), answer.cancel { self.counter.cancel() }
                Thread.sleep(forTimeInterval: 1)
            }
            self.done.signal()
        }
    }

    func stop() {
        self.stopped.store(true, ordering: .relaxed)
        self.done.wait()
    }
}
