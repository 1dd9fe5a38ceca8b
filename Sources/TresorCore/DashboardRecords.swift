/// A VM's protection as the dashboard shows it (docs/jobs.md, "Dashboard").
public enum ProtectionStatus: String, Codable, Sendable, CaseIterable {
    /// The vault holds backups of it (or an agent reports it) but no policy protects it.
    case notProtected = "not-protected"
    /// Registered (`tresor vm register`), not yet under a policy.
    case registered
    /// Under a policy, with no recovery point since: the first scheduled or on-demand backup is pending.
    case initialBackupPending = "protected-initial-backup-pending"
    case protected
    /// Under a policy, and its last backup job failed (or a slot was missed).
    case protectionError = "protection-error"
    /// Protection stopped with its data retained.
    case protectionStopped = "protection-stopped"
}

public struct VMStatus: Codable, Sendable, Equatable {
    public var vmName: String
    public var host: String
    public var status: ProtectionStatus
    public var policy: String?
    public var lastBackupAtMillis: Int64?
    /// `completed`, `failed` or `cancelled`: the last backup job, or `completed` for a point made without a job.
    public var lastBackupStatus: String?
    public var lastErrorCode: String?
    /// How the newest live recovery point was taken (docs/snapshots.md, "Consistency").
    public var newestConsistency: String?

    public init(vmName: String, host: String, status: ProtectionStatus, policy: String?, lastBackupAtMillis: Int64?,
                lastBackupStatus: String?, lastErrorCode: String?, newestConsistency: String? = nil) {
        self.vmName = vmName
        self.host = host
        self.status = status
        self.policy = policy
        self.lastBackupAtMillis = lastBackupAtMillis
        self.lastBackupStatus = lastBackupStatus
        self.lastErrorCode = lastErrorCode
        self.newestConsistency = newestConsistency
    }
}

/// One VM's share of the vault (docs/jobs.md, "Usage").
public struct VMUsage: Codable, Sendable, Equatable {
    public var vmName: String
    public var host: String
    /// Used data on its disks at the newest recovery point: non-zero chunks × chunk size (temporary disks are never backed up).
    public var protectedInstanceBytes: Int64
    /// Its unique chunks' stored bytes plus, for each chunk it shares, the stored bytes divided by the number of VMs sharing it.
    public var storageBytes: Int64
    /// Stored bytes of chunks only this VM references.
    public var uniqueBytes: Int64
    public var recoveryPoints: Int

    public init(vmName: String, host: String, protectedInstanceBytes: Int64, storageBytes: Int64, uniqueBytes: Int64, recoveryPoints: Int) {
        self.vmName = vmName
        self.host = host
        self.protectedInstanceBytes = protectedInstanceBytes
        self.storageBytes = storageBytes
        self.uniqueBytes = uniqueBytes
        self.recoveryPoints = recoveryPoints
    }
}

public struct StorageSummary: Codable, Sendable, Equatable {
    /// Sum of the disk sizes of every recovery point.
    public var logicalBytes: Int64
    /// Stored bytes of the chunks recovery points reference; the per-VM `storageBytes` add up to it.
    public var referencedBytes: Int64
    /// Stored bytes of every chunk in the store (referenced plus what the next collection may delete).
    public var storedBytes: Int64
    /// logical ÷ referenced.
    public var reductionRatio: Double

    public init(logicalBytes: Int64, referencedBytes: Int64, storedBytes: Int64) {
        self.logicalBytes = logicalBytes
        self.referencedBytes = referencedBytes
        self.storedBytes = storedBytes
        self.reductionRatio = referencedBytes > 0 ? Double(logicalBytes) / Double(referencedBytes) : 0
    }
}

public struct Dashboard: Codable, Sendable, Equatable {
    public var generatedAtMillis: Int64
    public var vms: [VMStatus]
    /// VMs by protection status.
    public var protection: [String: Int]
    /// Jobs created in the last 24 hours, by status.
    public var jobsLast24Hours: [String: Int]
    public var storage: StorageSummary
    public var usage: [VMUsage]

    public init(generatedAtMillis: Int64, vms: [VMStatus], protection: [String: Int], jobsLast24Hours: [String: Int],
                storage: StorageSummary, usage: [VMUsage]) {
        self.generatedAtMillis = generatedAtMillis
        self.vms = vms
        self.protection = protection
        self.jobsLast24Hours = jobsLast24Hours
        self.storage = storage
        self.usage = usage
    }
}
