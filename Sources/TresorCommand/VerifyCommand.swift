import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

extension Tresor {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a vault's structure and, optionally, decrypt and re-hash chunk data.",
            discussion: """
                Checks every recovery point's signature, keys and index pages, that every chunk they use exists, \
                and each VM's chain of recovery points. --read-data also decrypts every chunk and recomputes its \
                keyed ID; --read-data-subset N% does so for a random N% of chunks. Missing or altered chunks are \
                reported with the recovery points and disks they break and are marked bad, so the next backup \
                stores their data again. Exits 2 when damage was found.
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @Flag(help: "Decrypt and re-hash every chunk.") var readData = false
        @Option(help: "Decrypt and re-hash a random share of chunks, e.g. 10%.") var readDataSubset: String?
        @OptionGroup var keyOptions: KeyOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if self.readData && self.readDataSubset != nil {
                throw ValidationError("--read-data and --read-data-subset exclude each other")
            }
            if let subset = self.readDataSubset { _ = try ReadDataMode.subset(argument: subset) }
        }

        func run() throws {
            try runReportingErrors("tresor") {
                let mode: ReadDataMode = try self.readData ? .all : self.readDataSubset.map(ReadDataMode.subset(argument:)) ?? ReadDataMode.none
                let keys = try self.keyOptions.keyRing()
                // Exclusive: verify marks damaged chunks bad in the catalog.
                let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                // Every point, soft-deleted ones too (their data is kept, so it must be sound).
                let hold = try opened.maintenance.holdForReading(try opened.vault.catalog.recoveryPoints(vmID: nil).map(\.id))
                defer { hold.release() }
                let progress = ProgressCounter()
                let report = try ProgressDisplay(counter: progress, label: "verify", quiet: self.output.json).during {
                    try Verifier.run(vault: opened.vault, keys: keys, mode: mode, progress: progress)
                }
                if self.output.json {
                    try self.output.print(report)
                } else {
                    print("checked \(report.recoveryPoints) recovery points, \(report.chunksReferenced) chunks; read \(report.chunksRead) chunks (\(report.bytesRead) bytes)")
                    for problem in report.problems {
                        let breaks = problem.breaks.map { "\($0.vm)/\($0.recoveryPoint)" + ($0.disk.map { " disk \($0)" } ?? "") }
                        print("DAMAGE \(problem.kind.rawValue): \(problem.message); breaks \(breaks.joined(separator: ", "))")
                    }
                    if report.chunksMarkedBad > 0 { print("marked \(report.chunksMarkedBad) chunks bad: the next backup stores their data again") }
                    print(report.ok ? "no damage found" : "damage found: \(report.problems.count) problems")
                }
                if !report.ok {
                    throw TresorError(.verifyFailed, "verify found \(report.problems.count) problems in \(self.vaultOptions.vault)")
                }
            }
        }
    }
}
