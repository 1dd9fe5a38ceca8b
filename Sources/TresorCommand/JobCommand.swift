import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorRemote

extension Tresor {
    struct Job: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, show and cancel the vault's jobs (backups run by agents).",
            subcommands: [List.self, Show.self, Cancel.self])
    }
}

extension Tresor.Job {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List jobs, oldest first: ID, kind, status, VM, host, created, bytes done.",
            discussion: "Example: tresor job list --vault https://vault:8443 \\\n    --status failed --since 24h")

        @OptionGroup var vaultOptions: VaultOptions
        @Option(help: "Only jobs of this kind (backup).") var kind: String?
        @Option(help: "Only jobs in this status: queued, in-progress, cancelling, cancelled, completed, failed.") var status: String?
        @Option(help: "Only jobs of the VM of this name.") var vm: String?
        @Option(help: "Only jobs created in this last while, e.g. 24h or 7d.") var since: String?
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let kind = try self.kind.map { text in
                    guard let kind = JobKind(rawValue: text) else { throw TresorError(.invalidArgument, "'\(text)' is not a job kind (backup)") }
                    return kind
                }
                let status = try self.status.map { text in
                    guard let status = JobStatus(rawValue: text) else {
                        throw TresorError(.invalidArgument, "'\(text)' is not a job status",
                                          action: "use \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    return status
                }
                let since = try self.since.map { SystemInfo.nowMillis - (try DurationText.milliseconds($0)) }
                let jobs = try JobAccess.jobs(self.vaultOptions, JobFilter(kind: kind, status: status, vmName: self.vm, sinceMillis: since))
                if self.output.json { return try self.output.print(jobs) }
                for job in jobs {
                    print("\(job.id)  \(job.kind.rawValue)  \(job.status.rawValue)  \(job.vmName)@\(job.host)  "
                          + "\(job.trigger.rawValue)  \(SystemInfo.timestamp(millis: job.createdAtMillis))  \(job.bytesDone)/\(job.bytesTotal) bytes"
                          + (job.errorCode.map { "  error[\($0)]" } ?? ""))
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job: its steps, bytes done, and the error and recommended action if it failed.")

        @OptionGroup var vaultOptions: VaultOptions
        @Argument(help: "The job's ID.") var id: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let job = try JobAccess.job(self.vaultOptions, id: self.id)
                if self.output.json { return try self.output.print(job) }
                print("job \(job.id): \(job.kind.rawValue) of \(job.vmName) on \(job.host), \(job.trigger.rawValue), \(job.status.rawValue)")
                print("created \(SystemInfo.timestamp(millis: job.createdAtMillis))"
                      + (job.startedAtMillis.map { ", started \(SystemInfo.timestamp(millis: $0))" } ?? "")
                      + (job.endedAtMillis.map { ", ended \(SystemInfo.timestamp(millis: $0))" } ?? ""))
                print("bytes \(job.bytesDone) of \(job.bytesTotal)")
                for task in job.tasks { print("  \(task.name): \(task.status.rawValue)") }
                if let point = job.recoveryPoint { print("recovery point \(point)") }
                if let keep = job.keepUntilMillis { print("kept until \(SystemInfo.timestamp(millis: keep))") }
                if let code = job.errorCode {
                    print("error[\(code)]: \(job.message ?? "")")
                    if let action = job.action { print("recommended action: \(action)") }
                }
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a queued job at once, or a running one at its agent's next progress report (admin token).")

        @OptionGroup var vaultOptions: VaultOptions
        @Argument(help: "The job's ID.") var id: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let job = try JobAccess.remote(self.vaultOptions, for: "cancelling a job").cancel(id: self.id)
                if self.output.json { return try self.output.print(job) }
                print("job \(job.id): \(job.status.rawValue)")
            }
        }
    }
}

/// One line per job of a bulk request: VM, status, message, and the error's code and action.
func printJobLine(_ job: JobRecord) {
    print("\(job.vmName)@\(job.host): \(job.status.rawValue), \(job.message ?? "")"
          + (job.errorCode.map { " (error[\($0)]" + (job.action.map { " — \($0)" } ?? "") + ")" } ?? ""))
}
