import Foundation

/// A day of the proleptic Gregorian calendar, with arithmetic on day numbers (days since 1970-01-01),
/// so retention rules never depend on a time zone once the local date is known.
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    public var dayNumber: Int {
        let y = self.month <= 2 ? self.year - 1 : self.year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (self.month + (self.month > 2 ? -3 : 9)) + 2) / 5 + self.day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public init(dayNumber: Int) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day)
    }

    public var weekday: Weekday {
        // 1970-01-01 was a Thursday.
        Weekday.allCases[((self.dayNumber % 7) + 7 + 4) % 7]
    }

    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public func adding(days: Int) -> CivilDate { CivilDate(dayNumber: self.dayNumber + days) }

    /// The same day `count` months later, or the month's last day when it is shorter.
    public func adding(months count: Int) -> CivilDate {
        let index = self.year * 12 + (self.month - 1) + count
        let year = index / 12
        let month = index % 12 + 1
        return CivilDate(year: year, month: month, day: min(self.day, Self.daysIn(year: year, month: month)))
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { a.dayNumber < b.dayNumber }

    public var description: String {
        let m = self.month < 10 ? "0\(self.month)" : "\(self.month)"
        let d = self.day < 10 ? "0\(self.day)" : "\(self.day)"
        return "\(self.year)-\(m)-\(d)"
    }
}

/// Instants (vault clock, ms) seen in one IANA time zone.
public struct ZoneClock: Sendable {
    public let zone: String
    private let calendar: Calendar

    public init(zone: String) throws {
        guard let timeZone = TimeZone(identifier: zone) else {
            throw TresorError(.invalidArgument, "'\(zone)' is not an IANA time zone", action: "name one like Europe/Berlin or UTC")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.zone = zone
        self.calendar = calendar
    }

    public static func isKnownZone(_ zone: String) -> Bool { TimeZone(identifier: zone) != nil }

    /// The local date and the local time of day (seconds) of an instant.
    public func local(_ millis: Int64) -> (date: CivilDate, seconds: Int) {
        let parts = self.calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                                 from: Date(timeIntervalSince1970: Double(millis) / 1000))
        return (CivilDate(year: parts.year!, month: parts.month!, day: parts.day!), parts.hour! * 3600 + parts.minute! * 60 + parts.second!)
    }

    /// The instant of a local date and time of day. A time that does not exist (the hour skipped when
    /// daylight saving starts) moves forward by the gap; a time that exists twice (the hour repeated when
    /// it ends) is its first occurrence.
    public func instant(_ date: CivilDate, seconds: Int) -> Int64 {
        var parts = DateComponents()
        parts.year = date.year
        parts.month = date.month
        parts.day = date.day
        parts.hour = seconds / 3600
        parts.minute = seconds / 60 % 60
        parts.second = seconds % 60
        let resolved = self.calendar.date(from: parts)!
        return Int64((resolved.timeIntervalSince1970 * 1000).rounded())
    }
}
