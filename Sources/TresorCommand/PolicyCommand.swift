import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

extension Tresor {
    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Backup policies: schedule and grandfather-father-son retention (docs/retention.md).",
            discussion: "Every vault has DefaultPolicy (daily at 02:00 UTC, 30 days). Changing a policy re-evaluates the retention of existing points.",
            subcommands: [List.self, Show.self, Create.self, Update.self])

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the vault's policies.")
            @OptionGroup var vaultOptions: VaultOptions
            @OptionGroup var output: OutputOptions

            func run() throws {
                try runReportingErrors("tresor") {
                    let records = try VaultAccess.open(self.vaultOptions, exclusive: false).policies.policies()
                    if self.output.json { return try self.output.print(records) }
                    printTable(header: ["POLICY", "ZONE", "SCHEDULE", "RETENTION", "INSTANT RESTORE"],
                               rows: records.map { [$0.policy.name, $0.policy.timeZone, PolicyText.schedule($0.policy.schedule),
                                                    PolicyText.retention($0.policy.retention), "\($0.policy.instantRestoreDays) days"] })
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show one policy.")
            @OptionGroup var vaultOptions: VaultOptions
            @Argument(help: "The policy's name.") var name: String
            @OptionGroup var output: OutputOptions

            func run() throws {
                try runReportingErrors("tresor") {
                    let record = try VaultAccess.open(self.vaultOptions, exclusive: false).policies.policy(named: self.name)
                    try PolicyText.report(record, output: self.output)
                }
            }
        }

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a policy from flags or a JSON file.")
            @OptionGroup var vaultOptions: VaultOptions
            @Argument(help: "The policy's name.") var name: String
            @OptionGroup var fields: PolicyFields
            @OptionGroup var output: OutputOptions

            func run() throws {
                try runReportingErrors("tresor") {
                    let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                    let start = BackupPolicy(name: self.name, timeZone: "UTC", schedule: BackupPolicy.defaultPolicy.schedule,
                                             retention: RetentionRules(), instantRestoreDays: 2)
                    let record = try opened.policies.create(try self.fields.apply(to: start))
                    try PolicyText.report(record, output: self.output)
                }
            }
        }

        struct Update: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Change a policy: the flags given replace those fields.")
            @OptionGroup var vaultOptions: VaultOptions
            @Argument(help: "The policy's name.") var name: String
            @OptionGroup var fields: PolicyFields
            @OptionGroup var output: OutputOptions

            func run() throws {
                try runReportingErrors("tresor") {
                    let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                    let current = try opened.policies.policy(named: self.name).policy
                    let record = try opened.policies.update(try self.fields.apply(to: current))
                    try PolicyText.report(record, output: self.output)
                }
            }
        }
    }
}

/// The flags that set a policy's fields; only those given change anything.
struct PolicyFields: ParsableArguments {
    @Option(help: "A JSON policy file (docs/retention.md) instead of the flags below.", completion: .file()) var fromFile: String?
    @Option(help: "IANA time zone of the schedule and retention days, e.g. Europe/Berlin.") var zone: String?
    @Option(help: "Daily backups at HH:MM.") var dailyAt: String?
    @Option(help: "Weekly backups at HH:MM, on --on-days.") var weeklyAt: String?
    @Option(help: "Days of weekly backups, e.g. sat,sun.") var onDays: String?
    @Option(help: "Hourly backups: window start HH:MM (with --every-hours and --window-hours).") var hourlyFrom: String?
    @Option(help: "Hourly backups: every 4, 6, 8, 12 or 24 hours.") var everyHours: Int?
    @Option(help: "Hourly backups: window length in hours.") var windowHours: Int?
    @Option(help: "Keep every scheduled point N days.") var keepDays: Int?
    @Option(help: "Keep weekly points N weeks (their days: --weekly-on).") var keepWeeks: Int?
    @Option(help: "Days whose point is the weekly one, e.g. sun.") var weeklyOn: String?
    @Option(help: "Keep monthly points N months (their day: --monthly-on).") var keepMonths: Int?
    @Option(help: "The monthly point's day: 'day 15', 'last day', 'first sunday', 'last saturday'.") var monthlyOn: String?
    @Option(help: "Keep yearly points N years (months: --yearly-in, day: --yearly-on).") var keepYears: Int?
    @Option(help: "Months of yearly points, 1 to 12, e.g. 1 or 1,7.") var yearlyIn: String?
    @Option(help: "The yearly point's day within those months, as --monthly-on.") var yearlyOn: String?
    @Option(help: "Days the agent keeps each snapshot for instant restore.") var instantRestoreDays: Int?
    @Option(help: "Remove a retention kind: daily, weekly, monthly or yearly.") var clear: [String] = []

    func apply(to start: BackupPolicy) throws -> BackupPolicy {
        if let file = self.fromFile {
            let policy = try JSON.decode(BackupPolicy.self, from: try AtomicFile.read(file), what: file)
            guard policy.name == start.name else {
                throw TresorError(.invalidArgument, "\(file) names policy '\(policy.name)', not '\(start.name)'")
            }
            return policy
        }
        var policy = start
        if let zone = self.zone { policy.timeZone = zone }
        if let time = self.dailyAt { policy.schedule = BackupSchedule(frequency: .daily, times: [time]) }
        if let time = self.weeklyAt {
            policy.schedule = BackupSchedule(frequency: .weekly, times: [time], weekdays: try Self.weekdays(self.onDays ?? "sun"))
        }
        if let time = self.hourlyFrom {
            policy.schedule = BackupSchedule(frequency: .hourly, times: [time], everyHours: self.everyHours ?? 4, windowHours: self.windowHours ?? 24)
        }
        if let days = self.keepDays { policy.retention.daily = .init(days: days) }
        if let weeks = self.keepWeeks {
            policy.retention.weekly = .init(weekdays: try Self.weekdays(self.weeklyOn ?? "sun"), weeks: weeks)
        }
        if let months = self.keepMonths { policy.retention.monthly = .init(on: self.monthlyOn ?? "last sunday", months: months) }
        if let years = self.keepYears {
            let months = try (self.yearlyIn ?? "1").split(separator: ",").map { text in
                guard let month = Int(text) else { throw TresorError(.invalidArgument, "'\(text)' is not a month number") }
                return month
            }
            policy.retention.yearly = .init(months: months, on: self.yearlyOn ?? "first sunday", years: years)
        }
        for kind in self.clear {
            switch kind {
            case "daily": policy.retention.daily = nil
            case "weekly": policy.retention.weekly = nil
            case "monthly": policy.retention.monthly = nil
            case "yearly": policy.retention.yearly = nil
            default: throw TresorError(.invalidArgument, "--clear takes daily, weekly, monthly or yearly, not '\(kind)'")
            }
        }
        if let days = self.instantRestoreDays { policy.instantRestoreDays = days }
        if policy.schedule.frequency == .weekly, self.instantRestoreDays == nil { policy.instantRestoreDays = 5 }
        return policy
    }

    /// "sat,sun" or "saturday,sunday".
    static func weekdays(_ text: String) throws -> [Weekday] {
        try text.lowercased().split(separator: ",").map { word in
            guard let day = Weekday.allCases.first(where: { $0.rawValue == word || $0.rawValue.prefix(3) == word }) else {
                throw TresorError(.invalidArgument, "'\(word)' is not a weekday", action: "write mon, tue, … or monday, tuesday, …")
            }
            return day
        }
    }
}

enum PolicyText {
    static func schedule(_ schedule: BackupSchedule) -> String {
        let time = schedule.times.first ?? "?"
        switch schedule.frequency {
        case .daily: return "daily at \(time)"
        case .weekly: return "weekly at \(time) on \(schedule.weekdays.map { String($0.rawValue.prefix(3)) }.joined(separator: ","))"
        case .hourly: return "every \(schedule.everyHours ?? 0) h from \(time) for \(schedule.windowHours ?? 0) h"
        }
    }

    static func retention(_ rules: RetentionRules) -> String {
        var parts: [String] = []
        if let daily = rules.daily { parts.append("daily \(daily.days) d") }
        if let weekly = rules.weekly { parts.append("weekly (\(weekly.weekdays.map { String($0.rawValue.prefix(3)) }.joined(separator: ","))) \(weekly.weeks) w") }
        if let monthly = rules.monthly { parts.append("monthly (\(monthly.on)) \(monthly.months) mo") }
        if let yearly = rules.yearly { parts.append("yearly (\(yearly.on) of \(yearly.months.map(String.init).joined(separator: ","))) \(yearly.years) y") }
        return parts.joined(separator: ", ")
    }

    static func report(_ record: PolicyRecord, output: OutputOptions) throws {
        if output.json { return try output.print(record) }
        let policy = record.policy
        print("policy \(policy.name) (\(policy.timeZone)): \(Self.schedule(policy.schedule)); keeps \(Self.retention(policy.retention)); instant restore \(policy.instantRestoreDays) days")
    }
}
