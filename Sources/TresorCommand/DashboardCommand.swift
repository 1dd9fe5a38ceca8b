import ArgumentParser
import Foundation
import TresorCommandLine
import TresorCore

extension Tresor {
    struct DashboardCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dashboard",
            abstract: "Protected VMs by state, jobs of the last 24 hours, storage and each VM's usage, as of now.",
            discussion: "Example: tresor dashboard --vault https://vault:8443 [--json]")

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let board = try JobAccess.dashboard(self.vaultOptions)
                if self.output.json { return try self.output.print(board) }
                print("as of \(SystemInfo.timestamp(millis: board.generatedAtMillis)) (UTC)")
                print("VMs: " + ProtectionStatus.allCases.compactMap { state in board.protection[state.rawValue].map { "\($0) \(state.rawValue)" } }
                    .joined(separator: ", "))
                for vm in board.vms {
                    print("  \(vm.vmName)@\(vm.host)  \(vm.status.rawValue)  policy=\(vm.policy ?? "-")  last backup "
                          + (vm.lastBackupAtMillis.map { "\(SystemInfo.timestamp(millis: $0)) \(vm.lastBackupStatus ?? "")" } ?? "never")
                          + (vm.lastErrorCode.map { " error[\($0)]" } ?? "")
                          + (vm.newestConsistency.map { ", newest point \($0)" } ?? ""))
                }
                let jobs = JobStatus.allCases.compactMap { status in board.jobsLast24Hours[status.rawValue].map { "\($0) \(status.rawValue)" } }
                print("jobs, last 24 h: " + (jobs.isEmpty ? "none" : jobs.joined(separator: ", ")))
                let storage = board.storage
                print("storage: \(storage.logicalBytes) logical, \(storage.referencedBytes) referenced, \(storage.storedBytes) stored bytes; "
                      + "reduction \(String(format: "%.2f", storage.reductionRatio))×")
                UsageCommand.printTable(board.usage)
            }
        }
    }

    struct UsageCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "usage",
            abstract: "Each VM's protected instance size and the backup storage it consumes (its share of shared chunks).",
            discussion: "The per-VM storage figures add up to the stored bytes recovery points reference.")

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let usage = try JobAccess.dashboard(self.vaultOptions).usage
                if self.output.json { return try self.output.print(usage) }
                Self.printTable(usage)
            }
        }

        static func printTable(_ usage: [VMUsage]) {
            print("VM  HOST  POINTS  INSTANCE BYTES  STORAGE BYTES  UNIQUE BYTES")
            for vm in usage {
                print("\(vm.vmName)  \(vm.host)  \(vm.recoveryPoints)  \(vm.protectedInstanceBytes)  \(vm.storageBytes)  \(vm.uniqueBytes)")
            }
        }
    }
}
