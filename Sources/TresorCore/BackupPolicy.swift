/// A backup policy as Azure Backup's standard policy has it: when backups run (in an IANA time zone) and
/// how long their recovery points stay under grandfather-father-son retention (docs/retention.md).
public struct BackupPolicy: Codable, Sendable, Equatable {
    public var name: String
    /// IANA zone name, e.g. "Europe/Berlin": schedule times and retention days are local to it.
    public var timeZone: String
    public var schedule: BackupSchedule
    public var retention: RetentionRules
    /// How many days the agent keeps each point's snapshot on the host (instant restore).
    public var instantRestoreDays: Int

    public init(name: String, timeZone: String, schedule: BackupSchedule, retention: RetentionRules, instantRestoreDays: Int) {
        self.name = name
        self.timeZone = timeZone
        self.schedule = schedule
        self.retention = retention
        self.instantRestoreDays = instantRestoreDays
    }

    /// What every new vault has: daily at 02:00 UTC, each point kept 30 days, snapshots kept 2 days.
    public static let defaultPolicy = BackupPolicy(
        name: "DefaultPolicy", timeZone: "UTC", schedule: BackupSchedule(frequency: .daily, times: ["02:00"]),
        retention: RetentionRules(daily: .init(days: 30)), instantRestoreDays: 2)
}

public struct BackupSchedule: Codable, Sendable, Equatable {
    public enum Frequency: String, Codable, Sendable { case daily, weekly, hourly }
    public var frequency: Frequency
    /// Local "HH:MM": the time of a daily or weekly backup, or the start of an hourly window.
    public var times: [String]
    /// Weekly: the days it runs.
    public var weekdays: [Weekday]
    /// Hourly: every 4, 6, 8, 12 or 24 hours within the window.
    public var everyHours: Int?
    /// Hourly: the window's length in hours from its start.
    public var windowHours: Int?

    public init(frequency: Frequency, times: [String], weekdays: [Weekday] = [], everyHours: Int? = nil, windowHours: Int? = nil) {
        self.frequency = frequency
        self.times = times
        self.weekdays = weekdays
        self.everyHours = everyHours
        self.windowHours = windowHours
    }
}

public enum Weekday: String, Codable, Sendable, CaseIterable, Comparable {
    case sunday, monday, tuesday, wednesday, thursday, friday, saturday

    /// 0 for Sunday to 6 for Saturday.
    public var index: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: Weekday, b: Weekday) -> Bool { a.index < b.index }
}

/// Grandfather-father-son retention: each kind that is set tags recovery points, and a point lives as long
/// as its longest tag.
public struct RetentionRules: Codable, Sendable, Equatable {
    public struct Daily: Codable, Sendable, Equatable {
        public var days: Int
        public init(days: Int) { self.days = days }
    }

    public struct Weekly: Codable, Sendable, Equatable {
        public var weekdays: [Weekday]
        public var weeks: Int
        public init(weekdays: [Weekday], weeks: Int) {
            self.weekdays = weekdays
            self.weeks = weeks
        }
    }

    public struct Monthly: Codable, Sendable, Equatable {
        /// "day 15", "last day", "first sunday", "last saturday" (docs/retention.md).
        public var on: String
        public var months: Int
        public init(on: String, months: Int) {
            self.on = on
            self.months = months
        }
    }

    public struct Yearly: Codable, Sendable, Equatable {
        /// Months of the year, 1 to 12.
        public var months: [Int]
        public var on: String
        public var years: Int
        public init(months: [Int], on: String, years: Int) {
            self.months = months
            self.on = on
            self.years = years
        }
    }

    public var daily: Daily?
    public var weekly: Weekly?
    public var monthly: Monthly?
    public var yearly: Yearly?

    public init(daily: Daily? = nil, weekly: Weekly? = nil, monthly: Monthly? = nil, yearly: Yearly? = nil) {
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
        self.yearly = yearly
    }
}

/// A day of a month: a fixed day (1 to 28, so every month has it), the last day, or the first to fourth or
/// last of a weekday.
public enum MonthDay: Sendable, Equatable {
    case day(Int)
    case lastDay
    case weekday(ordinal: Int, Weekday)  // ordinal 1…4, or 5 for "last"

    static let ordinals = ["first": 1, "second": 2, "third": 3, "fourth": 4, "last": 5]

    public init(parsing text: String) throws {
        let words = text.lowercased().split(separator: " ").map(String.init)
        if words.count == 2, words[0] == "day", let day = Int(words[1]), (1...28).contains(day) {
            self = .day(day)
        } else if words == ["last", "day"] {
            self = .lastDay
        } else if words.count == 2, let ordinal = Self.ordinals[words[0]], let weekday = Weekday(rawValue: words[1]) {
            self = .weekday(ordinal: ordinal, weekday)
        } else {
            throw TresorError(.invalidArgument, "'\(text)' is not a day of the month",
                              action: "write 'day N' (1 to 28), 'last day', or 'first|second|third|fourth|last WEEKDAY'")
        }
    }
}

extension BackupPolicy {
    /// Azure's limits (docs/retention.md): an invalid policy is refused whole, naming the first problem.
    public func validate() throws {
        func fail(_ message: String) -> TresorError { TresorError(.invalidArgument, "policy '\(self.name)': \(message)") }
        guard (1...64).contains(self.name.count), self.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw fail("a name is 1 to 64 letters, digits, '-' or '_'")
        }
        guard ZoneClock.isKnownZone(self.timeZone) else { throw fail("'\(self.timeZone)' is not an IANA time zone") }
        for time in self.schedule.times where LocalTime(parsing: time) == nil {
            throw fail("'\(time)' is not a time of day (HH:MM)")
        }
        let rules = self.retention
        switch self.schedule.frequency {
        case .daily:
            guard self.schedule.times.count == 1 else { throw fail("a daily schedule has one time") }
            guard rules.daily != nil else { throw fail("a daily schedule needs daily retention") }
            guard (1...5).contains(self.instantRestoreDays) else { throw fail("instant restore keeps 1 to 5 days of snapshots") }
        case .weekly:
            guard self.schedule.times.count == 1, !self.schedule.weekdays.isEmpty else { throw fail("a weekly schedule has one time and at least one weekday") }
            guard rules.daily == nil, rules.weekly != nil else { throw fail("a weekly schedule takes weekly retention, not daily") }
            guard self.instantRestoreDays == 5 else { throw fail("a weekly schedule keeps snapshots 5 days") }
        case .hourly:
            guard self.schedule.times.count == 1, let every = self.schedule.everyHours, [4, 6, 8, 12, 24].contains(every),
                  let window = self.schedule.windowHours, (every...24).contains(window) else {
                throw fail("an hourly schedule has a start time, every 4, 6, 8, 12 or 24 hours, and a window of that to 24 hours")
            }
            guard rules.daily != nil else { throw fail("an hourly schedule needs daily retention") }
            guard (1...30).contains(self.instantRestoreDays) else { throw fail("instant restore keeps 1 to 30 days of snapshots") }
        }
        if let daily = rules.daily, !(7...9999).contains(daily.days) { throw fail("daily retention keeps 7 to 9999 days") }
        if let weekly = rules.weekly {
            guard !weekly.weekdays.isEmpty, (1...5163).contains(weekly.weeks) else { throw fail("weekly retention names weekdays and keeps 1 to 5163 weeks") }
            if self.schedule.frequency == .weekly, !Set(weekly.weekdays).isSubset(of: Set(self.schedule.weekdays)) {
                throw fail("weekly retention days must be days the schedule runs")
            }
        }
        if let monthly = rules.monthly {
            _ = try MonthDay(parsing: monthly.on)
            guard (1...1188).contains(monthly.months) else { throw fail("monthly retention keeps 1 to 1188 months") }
        }
        if let yearly = rules.yearly {
            _ = try MonthDay(parsing: yearly.on)
            guard !yearly.months.isEmpty, yearly.months.allSatisfy({ (1...12).contains($0) }), (1...99).contains(yearly.years) else {
                throw fail("yearly retention names months 1 to 12 and keeps 1 to 99 years")
            }
        }
    }
}

/// "HH:MM" on a 24-hour clock.
public struct LocalTime: Sendable, Equatable {
    public var hour: Int
    public var minute: Int

    public init?(parsing text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.hour = hour
        self.minute = minute
    }
}
