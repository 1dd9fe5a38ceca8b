import ArgumentParser
import Foundation
import TresorCommandLine
import TresorCore
import TresorEngine

extension Tresor {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recovery points, oldest first.")

        @OptionGroup var vaultOptions: VaultOptions
        @Option(help: "Only this VM.") var vm: String?
        @Option(help: "The VM's host, when several VMs share the name.") var host: String?
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let opened = try VaultAccess.open(self.vaultOptions, exclusive: false)
                let vmID = try self.vm.map { try opened.vault.findVM(name: $0, host: self.host).id }
                let points = try opened.vault.catalog.recoveryPoints(vmID: vmID)
                if self.output.json {
                    try self.output.print(points)
                    return
                }
                if points.isEmpty {
                    print("no recovery points")
                    return
                }
                let header = ["RECOVERY POINT", "VM", "HOST", "SEQ", "CREATED (UTC)", "DISKS", "LOGICAL", "STORED", "CONSISTENCY", "STATE"]
                let rows = points.map { point in
                    [point.id, point.vmName, point.host, String(point.sequence),
                     SystemInfo.timestamp(millis: point.createdAtMillis),
                     String(point.diskCount), String(point.logicalBytes), String(point.bytesStored), point.consistency,
                     RecoveryPointState.describe(point)]
                }
                printTable(header: header, rows: rows)
            }
        }
    }
}
