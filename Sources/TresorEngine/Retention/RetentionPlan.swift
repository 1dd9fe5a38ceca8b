public import TresorCore

/// A recovery point as retention sees it: when the vault committed it, and for an on-demand backup the
/// retention it was given.
public struct RetentionPoint: Sendable, Equatable {
    public var id: String
    public var createdAtMillis: Int64
    /// On-demand backups keep this date instead of taking policy tags.
    public var keepUntilMillis: Int64?

    public init(id: String, createdAtMillis: Int64, keepUntilMillis: Int64? = nil) {
        self.id = id
        self.createdAtMillis = createdAtMillis
        self.keepUntilMillis = keepUntilMillis
    }
}

public enum RetentionTag: String, Codable, Sendable, Comparable {
    case daily, weekly, monthly, yearly, onDemand

    public static func < (a: RetentionTag, b: RetentionTag) -> Bool { a.order < b.order }
    private var order: Int { [.daily, .weekly, .monthly, .yearly, .onDemand].firstIndex(of: self)! }
}

/// A point's tags under a policy and when it expires: the latest of its tags' ends.
public struct RetentionVerdict: Codable, Sendable, Equatable {
    public var id: String
    public var tags: [RetentionTag]
    public var expiresAtMillis: Int64
}

/// Grandfather-father-son retention (docs/retention.md). Tags are a function of the policy and of the
/// points' commit times in the policy's zone, so changing a policy re-evaluates every existing point.
public enum RetentionPlan {
    public static func evaluate(_ points: [RetentionPoint], policy: BackupPolicy) throws -> [RetentionVerdict] {
        try policy.validate()
        let clock = try ZoneClock(zone: policy.timeZone)
        let rules = policy.retention
        let monthly = try rules.monthly.map { try MonthDay(parsing: $0.on) }
        let yearly = try rules.yearly.map { try MonthDay(parsing: $0.on) }
        var claimed: [RetentionTag: Set<Int>] = [:]  // slot day numbers already given their point
        var verdicts: [RetentionVerdict] = []
        for point in points.sorted(by: { ($0.createdAtMillis, $0.id) < ($1.createdAtMillis, $1.id) }) {
            if let until = point.keepUntilMillis {
                verdicts.append(RetentionVerdict(id: point.id, tags: [.onDemand], expiresAtMillis: until))
                continue
            }
            let (date, seconds) = clock.local(point.createdAtMillis)
            var tags: [RetentionTag] = []
            var expires = point.createdAtMillis
            func keep(_ tag: RetentionTag, until end: CivilDate) {
                tags.append(tag)
                expires = max(expires, clock.instant(end, seconds: seconds))
            }
            func firstInSlot(_ tag: RetentionTag, _ slot: CivilDate?) -> Bool {
                guard let slot else { return false }
                return claimed[tag, default: []].insert(slot.dayNumber).inserted
            }
            if let daily = rules.daily {
                keep(.daily, until: date.adding(days: daily.days))
            }
            if let weekly = rules.weekly, firstInSlot(.weekly, Self.weeklySlot(onOrBefore: date, weekdays: weekly.weekdays)) {
                keep(.weekly, until: date.adding(days: 7 * weekly.weeks))
            }
            if let rule = rules.monthly, let day = monthly, firstInSlot(.monthly, Self.monthlySlot(onOrBefore: date, day: day)) {
                keep(.monthly, until: date.adding(months: rule.months))
            }
            if let rule = rules.yearly, let day = yearly,
               firstInSlot(.yearly, Self.yearlySlot(onOrBefore: date, months: rule.months, day: day)) {
                keep(.yearly, until: date.adding(months: 12 * rule.years))
            }
            verdicts.append(RetentionVerdict(id: point.id, tags: tags, expiresAtMillis: expires))
        }
        return verdicts
    }

    /// The points whose retention has ended at `now`.
    public static func expired(_ points: [RetentionPoint], policy: BackupPolicy, now: Int64) throws -> [String] {
        try Self.evaluate(points, policy: policy).filter { $0.expiresAtMillis <= now }.map(\.id)
    }

    // MARK: Slots: the day a tag belongs to; the first point on or after it (before the next) takes the tag.

    static func weeklySlot(onOrBefore date: CivilDate, weekdays: [Weekday]) -> CivilDate? {
        let wanted = Set(weekdays)
        return (0..<7).lazy.map { date.adding(days: -$0) }.first { wanted.contains($0.weekday) }
    }

    static func monthlySlot(onOrBefore date: CivilDate, day: MonthDay) -> CivilDate? {
        let this = day.date(year: date.year, month: date.month)
        if this <= date { return this }
        let previous = CivilDate(year: date.year, month: date.month, day: 1).adding(months: -1)
        return day.date(year: previous.year, month: previous.month)
    }

    static func yearlySlot(onOrBefore date: CivilDate, months: [Int], day: MonthDay) -> CivilDate? {
        [date.year, date.year - 1].flatMap { year in months.map { day.date(year: year, month: $0) } }
            .filter { $0 <= date }.max()
    }
}

extension MonthDay {
    /// This rule's day in a month.
    func date(year: Int, month: Int) -> CivilDate {
        let length = CivilDate.daysIn(year: year, month: month)
        switch self {
        case .day(let day): return CivilDate(year: year, month: month, day: day)
        case .lastDay: return CivilDate(year: year, month: month, day: length)
        case .weekday(let ordinal, let weekday):
            if ordinal == 5 {
                let last = CivilDate(year: year, month: month, day: length)
                return last.adding(days: -((last.weekday.index - weekday.index + 7) % 7))
            }
            let first = CivilDate(year: year, month: month, day: 1)
            return first.adding(days: (weekday.index - first.weekday.index + 7) % 7 + 7 * (ordinal - 1))
        }
    }
}
