import ArgumentParser
import TresorChunkStore
import TresorCommandLine
import TresorCore
import TresorEngine

@main
struct TresorVault: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tresor-vault",
        abstract: "Tresor's vault: create vaults, keep their catalogs, serve them over HTTP with tokens.",
        subcommands: [Init.self, Info.self, RebuildCatalog.self, Serve.self, Token.self, Audit.self, Quota.self])

    /// A malformed command line is one line with a code, as every other failure (CommandLineEntry).
    static func main() async {
        await CommandLineEntry.run(Self.self, program: "tresor-vault")
    }
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

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a vault's identity and what it holds: VMs, recovery points, chunks, logical and stored bytes.")

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @OptionGroup var output: OutputOptions

        struct Report: Encodable {
            var vaultID: String
            var region: String
            var createdAtMillis: Int64
            var usage: CatalogUsage
        }

        func run() throws {
            try runReportingErrors("tresor-vault") {
                let (opened, directory) = try VaultAccess.openDirectory(self.directory, exclusive: false)
                let config = directory.config
                let report = Report(vaultID: config.vaultID, region: config.region, createdAtMillis: config.createdAtMillis,
                                    usage: try opened.vault.catalog.usage())
                if self.output.json {
                    try self.output.print(report)
                    return
                }
                let u = report.usage
                print("vault \(report.vaultID), region \(report.region)")
                print("\(u.vms) VMs in \(u.domains) key domains, \(u.recoveryPoints) recovery points")
                print("\(u.chunks) chunks (\(u.badChunks) marked bad), \(u.storedBytes) bytes stored for \(u.logicalBytes) logical bytes")
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
