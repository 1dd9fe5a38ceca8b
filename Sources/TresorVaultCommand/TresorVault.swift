import ArgumentParser
import TresorChunkStore
import TresorCommandLine
import TresorCore
import TresorEngine

@main
struct TresorVault: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tresor-vault",
        abstract: "Tresor's vault: create vaults and keep their catalogs.",
        subcommands: [Init.self, RebuildCatalog.self])
}

extension TresorVault {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a vault in a new or empty directory.")

        @Argument(help: "Directory for the vault.", completion: .directory)
        var directory: String

        @Option(help: "Region the vault serves (VMs of other regions are refused).")
        var region = "default"

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-vault") {
                let vault = try VaultDirectory.create(at: self.directory, region: self.region, now: SystemInfo.nowMillis)
                _ = try VaultAccess.open(self.directory, exclusive: true)
                if self.output.json {
                    try self.output.print(vault.config)
                } else {
                    print("created vault \(vault.config.vaultID) (region \(vault.config.region)) in \(self.directory)")
                }
            }
        }
    }

    struct RebuildCatalog: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the catalog from the chunk store alone (manifests, chunk headers, key wraps).")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-vault") {
                let summary = try VaultAccess.rebuildCatalog(self.directory)
                if self.output.json {
                    try self.output.print(summary)
                } else {
                    print("rebuilt catalog: \(summary.recoveryPoints) recovery points of \(summary.vms) VMs, \(summary.chunks) chunks, \(summary.dataKeys) data keys")
                    for path in summary.skipped { print("skipped unreadable object \(path)") }
                }
            }
        }
    }
}
