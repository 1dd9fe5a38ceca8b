import ArgumentParser
import Foundation
import TresorCommandLine
import TresorCore
import TresorRemote

extension Tresor {
    struct BackupNow: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup-now",
            abstract: "Queue an on-demand backup of a VM for its host's agent, with its own retention.",
            discussion: """
                Prints the job's ID. The recovery point is kept --keep-days days (default 30) whatever the VM's \
                policy says. Three on-demand backups per VM per UTC day, nine attempts per 24 hours.

                Example: tresor backup-now --vault https://vault:8443 --vm web1 \\
                    --keep-days 90 --wait
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @Option(help: "The VM's name.") var vm: String
        @Option(help: "Its host, when VMs of that name run on several.") var host: String?
        @Option(help: "Days to keep the recovery point.") var keepDays = 30
        @Flag(help: "Wait until the job ends; exit non-zero unless it completed.") var wait = false
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let jobs = try JobAccess.remote(self.vaultOptions, for: "backup-now")
                var job = try jobs.backupNow(BackupNowRequest(vmName: self.vm, host: self.host, keepDays: self.keepDays))
                if self.wait {
                    while !job.status.isFinished {
                        Thread.sleep(forTimeInterval: 1)
                        job = try jobs.job(id: job.id)
                    }
                }
                if self.output.json { try self.output.print(job) } else { print(job.id) }
                if self.wait && job.status != .completed {
                    throw TresorError(TresorError.Code(job.errorCode ?? TresorError.Code.cancelled.rawValue),
                                      "job \(job.id) ended \(job.status.rawValue)\(job.message.map { ": \($0)" } ?? "")",
                                      action: job.action)
                }
            }
        }
    }
}
