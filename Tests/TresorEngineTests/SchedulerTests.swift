import Foundation
import Testing
import TresorCatalog
import TresorCore
@testable import TresorEngine
import TresorTestSupport

/// The scheduler's slots in a policy's zone, and the jobs (queued or missed) it makes from them.
struct SchedulerTests {
    let hour: Int64 = 3_600_000
    let day: Int64 = 86_400_000

    func policy(_ schedule: BackupSchedule, zone: String = "UTC") -> BackupPolicy {
        BackupPolicy(name: "p", timeZone: zone, schedule: schedule, retention: RetentionRules(daily: .init(days: 30)), instantRestoreDays: 2)
    }

    func utc(_ text: String) -> Int64 {
        let formatter = ISO8601DateFormatter()
        return Int64(formatter.date(from: text)!.timeIntervalSince1970 * 1000)
    }

    @Test func dailyWeeklyAndHourlySlotsFallWhereThePolicySaysAcrossDaylightSaving() throws {
        // Berlin leaves winter time on 2026-03-29 at 02:00 (to 03:00): 02:30 does not exist that day.
        let berlin = self.policy(BackupSchedule(frequency: .daily, times: ["02:30", "22:00"]), zone: "Europe/Berlin")
        let slots = try ScheduleSlots.slots(of: berlin, after: self.utc("2026-03-28T00:00:00Z"), upTo: self.utc("2026-03-30T00:00:00Z"))
        #expect(slots == [self.utc("2026-03-28T01:30:00Z"), self.utc("2026-03-28T21:00:00Z"),
                          self.utc("2026-03-29T01:30:00Z"),  // the skipped 02:30 moves forward by the gap: 03:30 CEST
                          self.utc("2026-03-29T20:00:00Z")])
        // Weekly on Saturday and Sunday at 06:00 UTC, over one week from Monday 2026-11-16.
        let weekly = self.policy(BackupSchedule(frequency: .weekly, times: ["06:00"], weekdays: [.saturday, .sunday]))
        #expect(try ScheduleSlots.slots(of: weekly, after: self.utc("2026-11-16T00:00:00Z"), upTo: self.utc("2026-11-23T00:00:00Z"))
                == [self.utc("2026-11-21T06:00:00Z"), self.utc("2026-11-22T06:00:00Z")])
        // Every 4 hours in a 12-hour window from 08:00: 08, 12, 16 (20:00 is the window's end, not a slot).
        let hourly = self.policy(BackupSchedule(frequency: .hourly, times: ["08:00"], everyHours: 4, windowHours: 12))
        #expect(try ScheduleSlots.slots(of: hourly, after: self.utc("2026-11-22T00:00:00Z"), upTo: self.utc("2026-11-23T00:00:00Z"))
                == [8, 12, 16].map { self.utc("2026-11-22T00:00:00Z") + Int64($0) * self.hour })
        // The bounds: after is excluded, upTo included.
        let at = self.utc("2026-11-22T06:00:00Z")
        #expect(try ScheduleSlots.slots(of: weekly, after: at, upTo: at + self.hour).isEmpty)
        #expect(try ScheduleSlots.slots(of: weekly, after: at - 1, upTo: at) == [at])
    }

    @Test func eachSlotMakesOneJobAndSlotsThatCannotRunAreRecordedMissed() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 1 << 20, seed: 71)
        let start = self.utc("2026-11-20T12:00:00Z")
        _ = try BackupEngine.run(BackupRequest(vmName: "web", host: "hv1", diskPaths: [disk], workers: 2), vault: t.vault, keys: keys, now: start)
        _ = try PolicyBook(vault: t.vault, now: { start }).create(self.policy(BackupSchedule(frequency: .daily, times: ["22:00"])))
        _ = try VaultService(vault: t.vault).protect(vmName: "web", host: nil, policy: "p", now: start)
        let jobs = JobQueue(store: try SQLiteJobStore(vaultDirectory: t.vaultPath), vault: t.vault)
        let scheduler = BackupScheduler(vault: t.vault, jobs: jobs)

        #expect(try scheduler.tick(now: start + self.hour).isEmpty, "no slot since protection")
        let due = self.utc("2026-11-20T22:00:00Z")
        let first = try scheduler.tick(now: due + 1000)
        #expect(first.count == 1 && first[0].status == .queued && first[0].trigger == .scheduled && first[0].scheduledForMillis == due)
        #expect(try scheduler.tick(now: due + 60_000).isEmpty, "a slot makes one job, however many ticks see it")

        // The next day's slot while that job is still queued: recorded missed, naming the conflict.
        let busy = try scheduler.tick(now: due + self.day + 1000)
        #expect(busy.count == 1 && busy[0].status == .failed && busy[0].errorCode == "schedule.missed")
        #expect(busy[0].message?.contains("another operation is in progress") == true)
        // Two hours on, nobody took the queued job: it fails as missed too.
        try jobs.expireJobs(now: due + 2 * self.hour + 2000)
        #expect(try jobs.job(id: first[0].id).status == .failed)

        // The vault down for three days: the older slots are missed, the newest, late by over two hours, too.
        let late = try scheduler.tick(now: due + 4 * self.day + 3 * self.hour)
        #expect(late.map(\.scheduledForMillis) == [due + 2 * self.day, due + 3 * self.day, due + 4 * self.day])
        #expect(late.allSatisfy { $0.status == .failed && $0.errorCode == "schedule.missed" })
        // Back in time for the next slot: it is queued.
        let next = try scheduler.tick(now: due + 5 * self.day + 30 * 60_000)
        #expect(next.count == 1 && next[0].status == .queued)
        // A stopped VM gets no jobs.
        _ = try VaultService(vault: t.vault).stopProtection(vmName: "web", host: nil, deleteData: false, by: "test", now: due + 5 * self.day)
        #expect(try scheduler.tick(now: due + 6 * self.day + 1000).isEmpty)
    }
}
