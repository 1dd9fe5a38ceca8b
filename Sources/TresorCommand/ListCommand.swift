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
                let opened = try VaultAccess.open(self.vaultOptions.vault, exclusive: false)
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
                print("RECOVERY POINT                        VM               HOST             SEQ  CREATED (UTC)        DISKS  LOGICAL      STORED       CONSISTENCY")
                let formatter = DateFormatter()
                formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
                formatter.timeZone = TimeZone(identifier: "UTC")
                for point in points {
                    let created = formatter.string(from: Date(timeIntervalSince1970: Double(point.createdAtMillis) / 1000))
                    print([point.id.padding(toLength: 37, withPad: " ", startingAt: 0),
                           point.vmName.padding(toLength: 16, withPad: " ", startingAt: 0),
                           point.host.padding(toLength: 16, withPad: " ", startingAt: 0),
                           String(point.sequence).padding(toLength: 4, withPad: " ", startingAt: 0),
                           created.padding(toLength: 20, withPad: " ", startingAt: 0),
                           String(point.diskCount).padding(toLength: 6, withPad: " ", startingAt: 0),
                           String(point.logicalBytes).padding(toLength: 12, withPad: " ", startingAt: 0),
                           String(point.bytesStored).padding(toLength: 12, withPad: " ", startingAt: 0),
                           point.consistency].joined(separator: " "))
                }
            }
        }
    }
}
