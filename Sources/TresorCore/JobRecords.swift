/// What a job does (docs/jobs.md).
public enum JobKind: String, Codable, Sendable, CaseIterable {
    /// Snapshot and transfer one VM's disks into a recovery point; run by the VM's host agent.
    case backup
    /// Ask every running agent to report now, then list the VMs reported that are not registered yet.
    case discovery
    /// Register one VM reported by its agent with the vault (region, agent and disk checks).
    case register
    /// Put one VM under a policy (`tresor vm protect`, in bulk).
    case protect
    /// A restore run by `tresor-restore` against a served vault: it reports progress and hears of a cancel.
    case restore
}

/// What `tresor-restore` tells a served vault when a restore starts (docs/jobs.md, "Restore jobs").
public struct RestoreJobRequest: Codable, Sendable, Equatable {
    public var vmName: String
    public var host: String
    public var recoveryPoint: String
    /// What is restored where, e.g. "disk 0 to web1-os.img".
    public var description: String

    public init(vmName: String, host: String, recoveryPoint: String, description: String) {
        self.vmName = vmName
        self.host = host
        self.recoveryPoint = recoveryPoint
        self.description = description
    }
}

/// Operators' bulk protection: one job per VM, each under `policy`.
public struct ProtectRequest: Codable, Sendable, Equatable {
    public var vmNames: [String]
    public var host: String?
    public var policy: String

    public init(vmNames: [String], host: String?, policy: String) {
        self.vmNames = vmNames
        self.host = host
        self.policy = policy
    }
}

/// Operators' bulk registration: one job per VM.
public struct RegisterRequest: Codable, Sendable, Equatable {
    public var vmNames: [String]
    public var host: String?

    public init(vmNames: [String], host: String?) {
        self.vmNames = vmNames
        self.host = host
    }
}

/// A VM a discovery found (docs/jobs.md, "Discovery").
public struct DiscoveredVM: Codable, Sendable, Equatable {
    public var name: String
    public var host: String
    public var region: String?
    /// Whether the agent's region is the vault's: a VM of another region cannot be protected here.
    public var sameRegion: Bool
    public var powerState: ReportedVM.PowerState
    public var dataDisks: Int

    public init(name: String, host: String, region: String?, sameRegion: Bool, powerState: ReportedVM.PowerState, dataDisks: Int) {
        self.name = name
        self.host = host
        self.region = region
        self.sameRegion = sameRegion
        self.powerState = powerState
        self.dataDisks = dataDisks
    }
}

/// Where a job stands. Only `queued` and `in-progress` jobs can be cancelled.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case queued
    case inProgress = "in-progress"
    /// Cancel was asked while the job ran; its agent stops at the next chunk and reports `cancelled`.
    case cancelling
    case cancelled
    case completed
    case failed

    public var isFinished: Bool { self == .cancelled || self == .completed || self == .failed }
    /// Statuses that hold the VM: a second backup of it is refused meanwhile.
    public var isActive: Bool { self == .queued || self == .inProgress || self == .cancelling }
}

/// Why a job exists.
public enum JobTrigger: String, Codable, Sendable {
    /// The vault's scheduler, at a policy's scheduled time.
    case scheduled
    /// An operator's "backup now".
    case onDemand = "on-demand"
}

/// One step of a job, shown by `tresor job show`.
public struct JobTask: Codable, Sendable, Equatable {
    public var name: String
    public var status: JobStatus
    public var startedAtMillis: Int64?
    public var endedAtMillis: Int64?

    public init(name: String, status: JobStatus, startedAtMillis: Int64? = nil, endedAtMillis: Int64? = nil) {
        self.name = name
        self.status = status
        self.startedAtMillis = startedAtMillis
        self.endedAtMillis = endedAtMillis
    }
}

/// A job as the vault keeps it in `jobs.sqlite` (docs/jobs.md).
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: String
    public var kind: JobKind
    public var trigger: JobTrigger
    public var status: JobStatus
    public var vmName: String
    public var host: String
    public var createdAtMillis: Int64
    /// The policy slot a scheduled job serves; nil for on-demand jobs.
    public var scheduledForMillis: Int64?
    public var startedAtMillis: Int64?
    public var endedAtMillis: Int64?
    public var bytesDone: Int64
    public var bytesTotal: Int64
    public var tasks: [JobTask]
    /// For an on-demand backup: the recovery point it makes is kept until then, whatever the policy says.
    public var keepUntilMillis: Int64?
    /// For a backup, set when an agent takes it: how many days the agent keeps the snapshot in its
    /// snapshot tier (the VM's policy's instant-restore days).
    public var instantRestoreDays: Int?
    public var recoveryPoint: String?
    /// A discovery's result.
    public var discovered: [DiscoveredVM]?
    public var errorCode: String?
    public var message: String?
    public var action: String?
    /// For a restore: when its tool last reported (one silent for long has died and its job fails).
    public var lastReportAtMillis: Int64?

    public init(id: String, kind: JobKind, trigger: JobTrigger, vmName: String, host: String, createdAtMillis: Int64,
                scheduledForMillis: Int64? = nil, keepUntilMillis: Int64? = nil) {
        self.id = id
        self.kind = kind
        self.trigger = trigger
        self.status = .queued
        self.vmName = vmName
        self.host = host
        self.createdAtMillis = createdAtMillis
        self.scheduledForMillis = scheduledForMillis
        self.bytesDone = 0
        self.bytesTotal = 0
        self.tasks = []
        self.keepUntilMillis = keepUntilMillis
    }
}

/// Which jobs `job list` shows; nil fields do not filter.
public struct JobFilter: Codable, Sendable, Equatable {
    public var kind: JobKind?
    public var status: JobStatus?
    public var vmName: String?
    public var sinceMillis: Int64?
    public var untilMillis: Int64?

    public init(kind: JobKind? = nil, status: JobStatus? = nil, vmName: String? = nil, sinceMillis: Int64? = nil,
                untilMillis: Int64? = nil) {
        self.kind = kind
        self.status = status
        self.vmName = vmName
        self.sinceMillis = sinceMillis
        self.untilMillis = untilMillis
    }

    public func admits(_ job: JobRecord) -> Bool {
        (self.kind == nil || job.kind == self.kind) && (self.status == nil || job.status == self.status)
            && (self.vmName == nil || job.vmName == self.vmName)
            && (self.sinceMillis.map { job.createdAtMillis >= $0 } ?? true)
            && (self.untilMillis.map { job.createdAtMillis < $0 } ?? true)
    }
}

/// An agent's progress report on a running job; the answer tells it whether to stop.
public struct JobProgress: Codable, Sendable, Equatable {
    public var bytesDone: Int64
    public var bytesTotal: Int64
    public var tasks: [JobTask]

    public init(bytesDone: Int64, bytesTotal: Int64, tasks: [JobTask]) {
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.tasks = tasks
    }
}

public struct JobProgressAnswer: Codable, Sendable, Equatable {
    public var cancel: Bool
    public init(cancel: Bool) { self.cancel = cancel }
}

/// How a job ended, as its agent reports it.
public struct JobOutcome: Codable, Sendable, Equatable {
    public var status: JobStatus
    public var recoveryPoint: String?
    public var errorCode: String?
    public var message: String?
    public var action: String?
    public var progress: JobProgress?

    public init(status: JobStatus, recoveryPoint: String? = nil, errorCode: String? = nil, message: String? = nil,
                action: String? = nil, progress: JobProgress? = nil) {
        self.status = status
        self.recoveryPoint = recoveryPoint
        self.errorCode = errorCode
        self.message = message
        self.action = action
        self.progress = progress
    }

    /// A failed (or, for `operation.cancelled`, cancelled) job, with the error's code, message and action.
    public init(failure error: any Error) {
        if let error = error as? TresorError {
            self.init(status: error.code == .cancelled ? .cancelled : .failed, errorCode: error.code.rawValue,
                      message: error.message, action: error.recommendedAction)
        } else {
            self.init(status: .failed, errorCode: TresorError.Code.serverError.rawValue, message: "\(error)")
        }
    }
}

/// An operator's "backup now".
public struct BackupNowRequest: Codable, Sendable, Equatable {
    public var vmName: String
    /// Needed only when VMs of that name run on several hosts.
    public var host: String?
    /// How long the recovery point is kept (default 30 days).
    public var keepDays: Int

    public init(vmName: String, host: String? = nil, keepDays: Int = 30) {
        self.vmName = vmName
        self.host = host
        self.keepDays = keepDays
    }
}
