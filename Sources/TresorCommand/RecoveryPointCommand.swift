import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

extension Tresor {
    struct RecoveryPoint: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recovery-point",
            abstract: "List, delete and undelete recovery points.",
            discussion: """
                delete is a soft delete: the point's data stays for 14 days (by the vault's clock), during which \
                'undelete' brings it back; then garbage collection ('tresor gc') purges it. Nothing shortens \
                those 14 days. A delete waits for no running backup of the VM: it is refused while one runs.
                """,
            subcommands: [List.self, Delete.self, Undelete.self])

        struct Delete: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Soft-delete a recovery point.")
            @OptionGroup var vaultOptions: VaultOptions
            @Argument(help: "The recovery point's ID.") var id: String
            @OptionGroup var output: OutputOptions

            func run() throws {
                try change(self.vaultOptions, self.output) { try $0.deleteRecoveryPoint(self.id) }
            }
        }

        struct Undelete: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Bring back a soft-deleted recovery point.")
            @OptionGroup var vaultOptions: VaultOptions
            @Argument(help: "The recovery point's ID.") var id: String
            @OptionGroup var output: OutputOptions

            func run() throws {
                try change(self.vaultOptions, self.output) { try $0.undeleteRecoveryPoint(self.id) }
            }
        }
    }
}

/// Opens the vault as its writer, makes one change to a recovery point and reports the point.
private func change(_ vault: VaultOptions, _ output: OutputOptions, _ body: (any VaultMaintenance) throws -> RecoveryPointRecord) throws {
    try runReportingErrors("tresor") {
        let opened = try VaultAccess.open(vault, exclusive: true)
        try report(try body(opened.maintenance), output: output)
    }
}

private func report(_ point: RecoveryPointRecord, output: OutputOptions) throws {
    if output.json {
        try output.print(point)
    } else {
        print("recovery point \(point.id) of VM '\(point.vmName)': \(RecoveryPointState.describe(point))")
    }
}

/// How listings show whether a point is live or soft-deleted.
enum RecoveryPointState {
    static func describe(_ point: RecoveryPointRecord) -> String {
        guard let deleted = point.deletedAtMillis else { return "live" }
        return "deleted, purged after \(SystemInfo.timestamp(millis: SoftDelete.purgeableAt(deleted)))"
    }
}
