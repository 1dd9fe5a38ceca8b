import ArgumentParser
import Foundation
import TresorCommandLine
import TresorEngine

extension Tresor {
    struct Benchmark: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure this machine: SHA-256, HMAC-SHA256, zstd, AES-256-GCM and the chunk pipeline.",
            discussion: "Like proxmox-backup-client benchmark: single-core primitive speeds, then the backup pipeline (zero check, keyed ID, zstd, seal) on all cores over in-memory data of the benchmark image's mix.")

        @Option(help: "Seconds per measurement.") var seconds = 1.0
        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReportingErrors("tresor") {
                let report = try MachineBenchmark.run(secondsEach: self.seconds)
                if self.output.json {
                    try self.output.print(report)
                    return
                }
                for row in report.results {
                    print("\(row.name.padding(toLength: 42, withPad: " ", startingAt: 0)) \(String(format: "%8.0f", row.megabytesPerSecond)) MB/s")
                }
            }
        }
    }
}
