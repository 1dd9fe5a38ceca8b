import ArgumentParser
import Foundation
import TresorCommandLine
import TresorCore
import TresorRemote

extension Tresor.VM {
    struct Discover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask every running agent to report now, and list the VMs they report that no policy protects yet.",
            discussion: """
                Runs as a job (one at a time); waits for it unless --no-wait. Each VM is shown with its host, the \
                agent's region and whether it is the vault's, its power state and its data disks.

                Example: tresor vm discover --vault https://vault:8443
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @Flag(inversion: .prefixedNo, help: "Wait for the discovery to end (at most a minute).") var wait = true
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let jobs = try JobAccess.remote(self.vaultOptions, for: "discovery")
                var job = try jobs.startDiscovery()
                while self.wait && !job.status.isFinished {
                    Thread.sleep(forTimeInterval: 0.5)
                    job = try jobs.job(id: job.id)
                }
                if self.output.json { return try self.output.print(job) }
                guard self.wait else { return print(job.id) }
                print("discovery \(job.id): \(job.message ?? job.status.rawValue)")
                for vm in job.discovered ?? [] {
                    print("  \(vm.name)  host=\(vm.host)  region=\(vm.region ?? "-")\(vm.sameRegion ? "" : " (not the vault's)")  "
                          + "\(vm.powerState.rawValue)  data disks \(vm.dataDisks)")
                }
            }
        }
    }
}
