public import TresorCore

/// The vault's scheduler (docs/jobs.md, "Scheduler"): on each tick, every protected VM whose policy had a
/// slot since the last one handled gets a backup job for its newest slot. Slots that cannot run are
/// recorded as failed jobs with `schedule.missed`, so that they show in job lists, the dashboard and alerts:
/// slots that passed while the vault was down (all but the newest, and the newest too when it is older
/// than the grace period), and a slot whose VM still has a job queued or running.
public struct BackupScheduler: Sendable {
    /// How late a slot may still start: Azure starts a scheduled backup within two hours of its time.
    public static let graceMillis: Int64 = 2 * 3_600_000
    /// How far back a tick looks after a long outage; older slots are not listed one by one.
    static let lookBackMillis: Int64 = 8 * 86_400_000

    let vault: Vault
    let jobs: JobQueue

    public init(vault: Vault, jobs: JobQueue) {
        self.vault = vault
        self.jobs = jobs
    }

    /// Creates the jobs (queued or missed) that are due at `now`; returns them.
    /// Ends discoveries that have their answers (or waited long enough).
    public func finishDiscoveries(now: Int64, vaultRegion: String) throws {
        let protected = Set(try self.vault.protectionRecords().filter { $0.state == .protected }.map { $0.vmName + "@" + $0.host })
            .union(try self.vault.registrations().map { $0.vmName + "@" + $0.host })
        try self.jobs.finishDiscoveries(now: now, vaultRegion: vaultRegion, protected: protected)
    }

    @discardableResult
    public func tick(now: Int64) throws -> [JobRecord] {
        let book = PolicyBook(vault: self.vault, now: { now })
        var made: [JobRecord] = []
        for protection in try self.vault.protectionRecords() where protection.state == .protected {
            let policy = try book.policy(named: protection.policy).policy
            let handled = try self.jobs.lastScheduledSlot(vmName: protection.vmName, host: protection.host) ?? protection.updatedAtMillis
            let slots = try ScheduleSlots.slots(of: policy, after: max(handled, now - Self.lookBackMillis), upTo: now)
            guard let newest = slots.last else { continue }
            for slot in slots.dropLast() {
                made.append(try self.jobs.recordMissed(vmName: protection.vmName, host: protection.host, slotMillis: slot, now: now,
                                                       reason: "the vault was not running at the scheduled time"))
            }
            if now - newest > Self.graceMillis {
                made.append(try self.jobs.recordMissed(vmName: protection.vmName, host: protection.host, slotMillis: newest, now: now,
                                                       reason: "the vault was not running within two hours of the scheduled time"))
            } else if let job = try self.jobs.schedule(vmName: protection.vmName, host: protection.host, slotMillis: newest, now: now) {
                made.append(job)
            } else {
                made.append(try self.jobs.recordMissed(vmName: protection.vmName, host: protection.host, slotMillis: newest, now: now,
                                                       reason: "another operation is in progress for this item at the scheduled time"))
            }
        }
        return made
    }
}
