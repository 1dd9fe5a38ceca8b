import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorRemote

extension Tresor.VM {
    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register VMs their agents report, in bulk: one job per VM, idempotent.",
            discussion: """
                Refused per VM, with the reason in its job: a VM of another region than the vault's, a VM whose \
                agent is not running, more than 32 data disks. Exits non-zero when any VM failed.

                Example: tresor vm register --vault https://vault:8443 --vm web1 --vm db1
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @Option(name: .customLong("vm"), help: "A VM to register (repeat for several).") var vms: [String]
        @Option(help: "Their host, when VMs of a name run on several.") var host: String?
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let jobs = try JobAccess.remote(self.vaultOptions, for: "registration")
                    .register(RegisterRequest(vmNames: self.vms, host: self.host))
                if self.output.json { try self.output.print(jobs) } else { jobs.forEach(printJobLine) }
                if let failed = jobs.first(where: { $0.status != .completed }) {
                    throw TresorError(TresorError.Code(failed.errorCode ?? "vm.not_registered"),
                                      "\(jobs.count { $0.status != .completed }) of \(jobs.count) VMs were not registered")
                }
            }
        }
    }
}
