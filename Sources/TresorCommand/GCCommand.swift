import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

extension Tresor {
    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Purge soft-deleted points past their 14 days and protected VMs' points past their retention, then delete chunks and index pages nothing references.",
            discussion: """
                Kept whatever their age: every live or soft-deleted point, points a restore or verify holds (a lease \
                on a served vault; on the vault's machine, a running reader makes the collection wait for a later \
                run), the point an open backup builds on, and every chunk an open backup was told is stored. Key \
                wraps are never collected.
                """)
        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                let report = try opened.maintenance.collectGarbage()
                if self.output.json {
                    try self.output.print(report)
                    return
                }
                if let skipped = report.skipped {
                    print("nothing collected: \(skipped)")
                    return
                }
                print("purged \(report.recoveryPointsPurged.count) recovery points; deleted \(report.chunksDeleted) chunks and \(report.indexPagesDeleted) index pages (\(report.bytesFreed) bytes); \(report.chunksReferenced) chunks referenced")
                if !report.recoveryPointsHeld.isEmpty {
                    print("kept for readers or running backups: \(report.recoveryPointsHeld.joined(separator: ", "))")
                }
            }
        }
    }
}
