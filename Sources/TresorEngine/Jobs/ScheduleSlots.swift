public import TresorCore

/// The instants a policy's schedule asks for a backup (docs/jobs.md, "Scheduler"), in its time zone:
/// daily at each time; weekly on its days at each time; hourly every N hours from the window's start
/// while inside the window. A local time skipped by daylight saving moves forward by the gap (02:30 on the
/// spring-forward day in Berlin runs at 03:30); a repeated one runs once, at its first occurrence
/// (ZoneClock.instant).
public enum ScheduleSlots {
    /// Slots in (after, upTo], oldest first.
    public static func slots(of policy: BackupPolicy, after: Int64, upTo: Int64) throws -> [Int64] {
        guard upTo > after else { return [] }
        let clock = try ZoneClock(zone: policy.timeZone)
        let schedule = policy.schedule
        let times = schedule.times.compactMap(LocalTime.init(parsing:)).map { $0.hour * 3600 + $0.minute * 60 }
        var slots = Set<Int64>()
        // One day either side: a slot's local date can differ from the UTC date of the bounds.
        var date = clock.local(after).date.adding(days: -1)
        let last = clock.local(upTo).date.adding(days: 1)
        while !(last < date) {
            switch schedule.frequency {
            case .daily:
                for seconds in times { slots.insert(clock.instant(date, seconds: seconds)) }
            case .weekly:
                if schedule.weekdays.contains(date.weekday) {
                    for seconds in times { slots.insert(clock.instant(date, seconds: seconds)) }
                }
            case .hourly:
                guard let start = times.first, let every = schedule.everyHours, every > 0 else { break }
                let window = schedule.windowHours ?? 24
                let first = clock.instant(date, seconds: start)
                // Elapsed hours from the window's start, so a daylight-saving change does not skip or double a slot.
                for hour in stride(from: 0, to: window, by: every) { slots.insert(first + Int64(hour) * 3_600_000) }
            }
            date = date.adding(days: 1)
        }
        return slots.filter { $0 > after && $0 <= upTo }.sorted()
    }
}
