import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

extension TresorVault {
    struct Quota: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show and set the vault's storage quotas: the vault's stored bytes and each VM's.",
            discussion: """
                A backup that would pass a quota fails with quota.exceeded (HTTP 507) and leaves no recovery \
                point; points already made are intact. Changes apply to the next backup, also on a running server.
                """,
            subcommands: [Show.self, Set.self])
    }
}

extension TresorVault.Quota {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each limit beside what is stored.")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-vault") {
                let opened = try VaultAccess.open(self.directory, exclusive: false)
                let usage = try opened.vault.quotaUsage()
                let quotas = try opened.vault.quotas()
                if self.output.json { return try self.output.print(usage) }
                print("vault: \(usage.storedBytes) bytes stored, quota \(usage.limitBytes.map { "\($0) bytes" } ?? "none")")
                var rows = usage.vms.map { [$0.vmName, $0.host, String($0.storedBytes), $0.limitBytes.map(String.init) ?? "-"] }
                // Limits for VMs not backed up yet.
                for quota in quotas.vms where !usage.vms.contains(where: { $0.vmName == quota.vmName && (quota.host == nil || $0.host == quota.host) }) {
                    rows.append([quota.vmName, quota.host ?? "*", "0", String(quota.bytes)])
                }
                if !rows.isEmpty { printTable(header: ["VM", "HOST", "STORED", "QUOTA"], rows: rows) }
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set or clear quotas; what is not named stays.")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @Option(name: .customLong("vault"), help: "The vault's limit, e.g. 500GiB, or 'none'.")
        var vaultLimit: String?

        @Option(name: .customLong("vm"), help: "A VM's limit: NAME=SIZE or NAME@HOST=SIZE (SIZE 'none' clears it). Repeatable.")
        var vmLimits: [String] = []

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-vault") {
                // Not the writers' lock: a serving vault holds it, and quotas are one file replaced atomically,
                // read at each backup's start.
                let opened = try VaultAccess.open(self.directory, exclusive: false)
                var quotas = try opened.vault.quotas()
                if let text = self.vaultLimit {
                    quotas.vaultBytes = try Self.size(text, for: "--vault")
                }
                for assignment in self.vmLimits {
                    guard let equals = assignment.lastIndex(of: "="), equals != assignment.startIndex else {
                        throw TresorError(.invalidArgument, "--vm '\(assignment)' is not NAME=SIZE or NAME@HOST=SIZE")
                    }
                    let target = assignment[..<equals]
                    let parts = target.split(separator: "@", maxSplits: 1).map(String.init)
                    let host = parts.count == 2 ? parts[1] : nil
                    quotas.vms.removeAll { $0.vmName == parts[0] && $0.host == host }
                    if let bytes = try Self.size(String(assignment[assignment.index(after: equals)...]), for: "--vm \(target)") {
                        quotas.vms.append(QuotaRecord.VMQuota(vmName: parts[0], host: host, bytes: bytes))
                    }
                }
                quotas.vms.sort { ($0.vmName, $0.host ?? "") < ($1.vmName, $1.host ?? "") }
                try opened.vault.writeQuotas(quotas)
                if self.output.json { return try self.output.print(quotas) }
                print("vault quota: \(quotas.vaultBytes.map { "\($0) bytes" } ?? "none"); VM quotas: \(quotas.vms.count)")
            }
        }

        /// A size such as 20GiB, or nil for 'none'.
        static func size(_ text: String, for option: String) throws -> Int64? {
            if text == "none" { return nil }
            guard let size = ByteSize(argument: text), size.bytes > 0 else {
                throw TresorError(.invalidArgument, "\(option): '\(text)' is not a size such as 20GiB or 'none'")
            }
            return Int64(size.bytes)
        }
    }
}
