import Testing
import TresorCore
import TresorEngine

/// Grandfather-father-son retention walked through years in a test: which points survive, exactly.
/// Expected dates were worked out by hand and checked with Python's calendar and zoneinfo.
struct RetentionPlanTests {
    let berlin = try! ZoneClock(zone: "Europe/Berlin")

    func at(_ y: Int, _ m: Int, _ d: Int, _ hour: Int = 2, _ minute: Int = 0) -> Int64 {
        self.berlin.instant(CivilDate(year: y, month: m, day: d), seconds: hour * 3600 + minute * 60)
    }

    func policy(_ retention: RetentionRules) -> BackupPolicy {
        BackupPolicy(name: "gfs", timeZone: "Europe/Berlin", schedule: BackupSchedule(frequency: .daily, times: ["02:00"]),
                     retention: retention, instantRestoreDays: 2)
    }

    @Test func civilDatesCountDaysWeekdaysAndMonthEnds() {
        #expect(CivilDate(year: 1970, month: 1, day: 1).dayNumber == 0)
        #expect(CivilDate(year: 2000, month: 3, day: 1).dayNumber == 11017)
        #expect(CivilDate(dayNumber: 11017) == CivilDate(year: 2000, month: 3, day: 1))
        #expect(CivilDate(year: 2026, month: 11, day: 22).weekday == .sunday)
        #expect(CivilDate(year: 2026, month: 1, day: 31).adding(months: 1) == CivilDate(year: 2026, month: 2, day: 28))
        #expect(CivilDate(year: 2024, month: 1, day: 31).adding(months: 1) == CivilDate(year: 2024, month: 2, day: 29))
        #expect(CivilDate(year: 2026, month: 12, day: 15).adding(months: 1) == CivilDate(year: 2027, month: 1, day: 15))
    }

    @Test func localTimesThatDaylightSavingSkipsMoveForwardAndRepeatedOnesTakeTheFirst() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        #expect(self.berlin.instant(CivilDate(year: 2026, month: 3, day: 29), seconds: 2 * 3600 + 1800) == 1_774_747_800_000)
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        #expect(self.berlin.instant(CivilDate(year: 2026, month: 10, day: 25), seconds: 2 * 3600 + 1800) == 1_792_888_200_000)
        #expect(self.berlin.local(1_792_891_800_000).date == CivilDate(year: 2026, month: 10, day: 25))
        #expect(self.berlin.local(1_792_891_800_000).seconds == 2 * 3600 + 1800)
    }

    @Test func retentionCountsLocalCalendarDaysAcrossDaylightSavingChanges() throws {
        let policy = self.policy(RetentionRules(daily: .init(days: 7)))
        let points = [RetentionPoint(id: "spring", createdAtMillis: 1_774_747_800_000),  // 03:30 CEST on 03-29
                      RetentionPoint(id: "first", createdAtMillis: 1_792_888_200_000),   // 02:30 CEST on 10-25
                      RetentionPoint(id: "second", createdAtMillis: 1_792_891_800_000)]  // 02:30 CET on 10-25
        let verdicts = try RetentionPlan.evaluate(points, policy: policy)
        #expect(verdicts.map(\.expiresAtMillis) == [1_775_352_600_000, 1_793_496_600_000, 1_793_496_600_000])
    }

    @Test func theWeeklyPointIsTheFirstOnOrAfterItsDayAndAFailedDayPassesItOn() throws {
        let policy = self.policy(RetentionRules(daily: .init(days: 7), weekly: .init(weekdays: [.sunday], weeks: 4)))
        var points: [RetentionPoint] = []
        for day in 7...22 where day != 15 {  // 2026-03-07 (Saturday) to 03-22; Sunday 03-15 failed
            points.append(RetentionPoint(id: "03-\(day)", createdAtMillis: self.at(2026, 3, day)))
        }
        points.append(RetentionPoint(id: "03-8 again", createdAtMillis: self.at(2026, 3, 8, 14)))
        let weekly = try RetentionPlan.evaluate(points, policy: policy).filter { $0.tags.contains(.weekly) }.map(\.id)
        // The first point (a Saturday) is the weekly one of the week that began the Sunday before it.
        #expect(weekly == ["03-7", "03-8", "03-16", "03-22"])
        let verdicts = try RetentionPlan.evaluate(points, policy: policy)
        #expect(verdicts.count == points.count, "\(verdicts.map(\.id))")
        let sunday = try #require(verdicts.first { $0.id == "03-8" })
        #expect(sunday.tags == [.daily, .weekly] && sunday.expiresAtMillis == self.at(2026, 4, 5))
        let again = try #require(verdicts.first { $0.id == "03-8 again" })
        #expect(again.tags == [.daily] && again.expiresAtMillis == self.at(2026, 3, 15, 14), "a second run that day is a daily point only")
    }

    @Test func threeYearsOfDailyBackupsLeaveExactlyTheGrandfatherFatherSonSet() throws {
        let gfs = self.policy(RetentionRules(daily: .init(days: 30), weekly: .init(weekdays: [.sunday], weeks: 12),
                                             monthly: .init(on: "last sunday", months: 12),
                                             yearly: .init(months: [1], on: "first sunday", years: 3)))
        var points: [RetentionPoint] = []
        var date = CivilDate(year: 2024, month: 1, day: 1)
        while date <= CivilDate(year: 2026, month: 12, day: 31) {
            points.append(RetentionPoint(id: date.description, createdAtMillis: self.berlin.instant(date, seconds: 2 * 3600)))
            date = date.adding(days: 1)
        }
        let now = self.at(2026, 12, 31, 12)
        let expired = Set(try RetentionPlan.expired(points, policy: gfs, now: now))
        let kept = points.map(\.id).filter { !expired.contains($0) }
        let daily = (2...31).map { "2026-12-\($0 < 10 ? "0" : "")\($0)" }
        let weekly = ["2026-10-11", "2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08", "2026-11-15", "2026-11-22", "2026-11-29"]
        let monthly = ["2026-01-25", "2026-02-22", "2026-03-29", "2026-04-26", "2026-05-31", "2026-06-28", "2026-07-26",
                       "2026-08-30", "2026-09-27"]
        // The first backup (a Monday) takes the yearly tag of the slot before it (2023's first Sunday).
        let yearly = ["2024-01-01", "2024-01-07", "2025-01-05", "2026-01-04"]
        #expect(kept == (yearly + monthly + weekly + daily).sorted())
        #expect(kept.count == 51)

        // Shortening the policy re-evaluates every existing point: only the last 30 days stay.
        let short = self.policy(RetentionRules(daily: .init(days: 30)))
        let afterChange = Set(try RetentionPlan.expired(points, policy: short, now: now))
        #expect(points.map(\.id).filter { !afterChange.contains($0) } == daily)
    }

    @Test func onDemandPointsKeepTheirOwnRetentionAndTakeNoPolicyTag() throws {
        let policy = self.policy(RetentionRules(daily: .init(days: 7), weekly: .init(weekdays: [.sunday], weeks: 4)))
        let points = [RetentionPoint(id: "now", createdAtMillis: self.at(2026, 3, 8, 10), keepUntilMillis: self.at(2026, 6, 1)),
                      RetentionPoint(id: "scheduled", createdAtMillis: self.at(2026, 3, 8, 12))]
        let verdicts = try RetentionPlan.evaluate(points, policy: policy)
        #expect(verdicts[0].tags == [.onDemand] && verdicts[0].expiresAtMillis == self.at(2026, 6, 1))
        #expect(verdicts[1].tags == [.daily, .weekly], "the on-demand point does not take the Sunday's weekly tag")
    }

    @Test func monthDaysFollowTheirRuleInEveryMonth() throws {
        #expect(try MonthDay(parsing: "last sunday") == .weekday(ordinal: 5, .sunday))
        #expect(try MonthDay(parsing: "first sunday") == .weekday(ordinal: 1, .sunday))
        #expect(try MonthDay(parsing: "last day") == .lastDay)
        #expect(try MonthDay(parsing: "day 15") == .day(15))
        for text in ["day 31", "day 0", "fifth monday", "sometimes"] {
            #expect { try MonthDay(parsing: text) } throws: { ($0 as? TresorError)?.code == .invalidArgument }
        }
    }

    @Test func policiesOutsideAzuresLimitsAreRefusedNamingTheProblem() throws {
        try BackupPolicy.defaultPolicy.validate()
        var tooShort = BackupPolicy.defaultPolicy
        tooShort.retention.daily = .init(days: 6)
        var weeklyWithDaily = BackupPolicy.defaultPolicy
        weeklyWithDaily.schedule = BackupSchedule(frequency: .weekly, times: ["22:00"], weekdays: [.saturday])
        weeklyWithDaily.instantRestoreDays = 5
        var badZone = BackupPolicy.defaultPolicy
        badZone.timeZone = "Mars/Olympus"
        var badHourly = BackupPolicy.defaultPolicy
        badHourly.schedule = BackupSchedule(frequency: .hourly, times: ["08:00"], everyHours: 5, windowHours: 12)
        var tooManyYears = BackupPolicy.defaultPolicy
        tooManyYears.retention.yearly = .init(months: [1], on: "first sunday", years: 100)
        for (policy, words) in [(tooShort, "7 to 9999 days"), (weeklyWithDaily, "weekly retention, not daily"),
                                (badZone, "IANA"), (badHourly, "every 4, 6, 8, 12 or 24"), (tooManyYears, "1 to 99 years")] {
            #expect { try policy.validate() } throws: { ($0 as? TresorError)?.message.contains(words) == true }
        }
    }
}
