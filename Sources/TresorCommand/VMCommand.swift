import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine
import TresorRemote

extension Tresor {
    struct VM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm",
            abstract: "VMs the vault knows, and their protection under policies.",
            discussion: """
                A protected VM's points are pruned by its policy's retention at each 'tresor gc' (its newest point \
                always stays). 'stop-protection --retain-data' keeps every point; '--delete-data' soft-deletes them \
                (recoverable for 14 days). 'resume' protects it again under the same policy.
                """,
            subcommands: [List.self, Discover.self, Register.self, Protect.self, StopProtection.self, Resume.self])

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "VMs with their protection state, policy and last backup.")
            @OptionGroup var vaultOptions: VaultOptions
            @OptionGroup var output: OutputOptions

            struct Row: Encodable {
                var vmID: String
                var vmName: String
                var host: String
                var protection: String
                var policy: String?
                var lastBackupAtMillis: Int64?
                var recoveryPoints: Int
            }

            func run() throws {
                try runReportingErrors("tresor") {
                    let opened = try VaultAccess.open(self.vaultOptions, exclusive: false)
                    let points = try opened.vault.catalog.recoveryPoints(vmID: nil).filter { $0.deletedAtMillis == nil }
                    let protections = try opened.protection.protections()
                    var rows: [String: Row] = [:]
                    for point in points {
                        var row = rows[point.vmID] ?? Row(vmID: point.vmID, vmName: point.vmName, host: point.host, protection: "not protected",
                                                          policy: nil, lastBackupAtMillis: nil, recoveryPoints: 0)
                        row.recoveryPoints += 1
                        row.lastBackupAtMillis = max(row.lastBackupAtMillis ?? 0, point.createdAtMillis)
                        rows[point.vmID] = row
                    }
                    for record in protections {
                        var row = rows[record.vmID] ?? Row(vmID: record.vmID, vmName: record.vmName, host: record.host, protection: "",
                                                           policy: nil, lastBackupAtMillis: nil, recoveryPoints: 0)
                        row.protection = record.state == .protected ? "protected" : "protection stopped (data retained)"
                        row.policy = record.policy
                        rows[record.vmID] = row
                    }
                    let sorted = rows.values.sorted { ($0.vmName, $0.host) < ($1.vmName, $1.host) }
                    if self.output.json { return try self.output.print(sorted) }
                    printTable(header: ["VM", "HOST", "PROTECTION", "POLICY", "POINTS", "LAST BACKUP (UTC)"],
                               rows: sorted.map { [$0.vmName, $0.host, $0.protection, $0.policy ?? "-", String($0.recoveryPoints),
                                                   $0.lastBackupAtMillis.map { SystemInfo.timestamp(millis: $0) } ?? "-"] })
                }
            }
        }

        struct Protect: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Put VMs under a policy (or move them to another one), in bulk.",
                discussion: """
                    On a served vault, one job per VM, idempotent; a VM refused (unknown, ambiguous, no such policy) \
                    fails its own job. Exits non-zero when any VM failed.

                    Example: tresor vm protect --vault https://vault:8443 \\
                        --vm web1 --vm db1 --policy gfs
                    """)
            @OptionGroup var vaultOptions: VaultOptions
            @Option(name: .customLong("vm"), help: "A VM to protect (repeat for several).") var vms: [String]
            @Option(help: "Their host, when VMs of a name run on several.") var host: String?
            @Option(help: "The policy (see 'tresor policy list').") var policy = BackupPolicy.defaultPolicy.name
            @OptionGroup var output: OutputOptions

            func run() throws {
                try runReportingErrors("tresor") {
                    guard self.vaultOptions.isRemote else {
                        // A vault directory has no job queue: each VM is protected directly.
                        let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                        for vm in self.vms {
                            try report(try opened.protection.protect(vmName: vm, host: self.host, policy: self.policy), self.output)
                        }
                        return
                    }
                    let jobs = try JobAccess.remote(self.vaultOptions, for: "bulk protection")
                        .protect(ProtectRequest(vmNames: self.vms, host: self.host, policy: self.policy))
                    if self.output.json { try self.output.print(jobs) } else { jobs.forEach(printJobLine) }
                    if let failed = jobs.first(where: { $0.status != .completed }) {
                        throw TresorError(TresorError.Code(failed.errorCode ?? "vm.not_protected"),
                                          "\(jobs.count { $0.status != .completed }) of \(jobs.count) VMs were not protected: \(failed.message ?? "")")
                    }
                }
            }
        }

        struct StopProtection: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "stop-protection", abstract: "Stop protecting a VM.")
            @OptionGroup var vaultOptions: VaultOptions
            @Option(help: "The VM's name.") var vm: String
            @Option(help: "The VM's host, when several VMs share the name.") var host: String?
            @Flag(help: "Keep every recovery point (no retention applies any more).") var retainData = false
            @Flag(help: "Soft-delete every recovery point (recoverable for 14 days).") var deleteData = false
            @OptionGroup var output: OutputOptions

            func validate() throws {
                guard self.retainData != self.deleteData else { throw ValidationError("give --retain-data or --delete-data") }
            }

            func run() throws {
                try runReportingErrors("tresor") {
                    let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                    try report(try opened.protection.stopProtection(vmName: self.vm, host: self.host, deleteData: self.deleteData), self.output)
                }
            }
        }

        struct Resume: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Protect a VM again under the policy it had.")
            @OptionGroup var vaultOptions: VaultOptions
            @Option(help: "The VM's name.") var vm: String
            @Option(help: "The VM's host, when several VMs share the name.") var host: String?
            @OptionGroup var output: OutputOptions

            func run() throws {
                try runReportingErrors("tresor") {
                    let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                    let vm = try opened.vault.findVM(name: self.vm, host: self.host)
                    guard let record = try opened.protection.protections().first(where: { $0.vmID == vm.id }) else {
                        throw TresorError(.invalidArgument, "VM '\(vm.name)' was never protected", action: "use 'tresor vm protect'")
                    }
                    try report(try opened.protection.protect(vmName: vm.name, host: vm.host, policy: record.policy), self.output)
                }
            }
        }
    }
}

private func report(_ record: ProtectionRecord, _ output: OutputOptions) throws {
    if output.json { return try output.print(record) }
    let state = record.state == .protected ? "protected" : "protection stopped (data retained)"
    print("VM '\(record.vmName)' on \(record.host): \(state) under policy \(record.policy)")
}
