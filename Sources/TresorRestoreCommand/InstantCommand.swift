import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine
import TresorSnapshot

/// What `tresor-restore instant --json` prints.
struct InstantResult: Codable {
    var recoveryPoint: String
    var disk: Int
    var source: String
    var output: String
    var method: InstantCopy.Method
    var consistency: Consistency
    var createdAtMillis: Int64
    var seconds: Double
}

extension TresorRestore {
    struct Instant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Instant restore from the snapshot tier: a copy of a disk as the host kept it for a recovery point, without the vault.",
            discussion: "A reflink clone where the file system can (seconds, whatever the size), a sparse copy otherwise. The output is mode 0600.")

        @Option(help: "The agent's snapshotDirectory.", completion: .directory) var snapshotDirectory: String
        @Option(help: "The VM's name.") var vm: String
        @Option(help: "A recovery point ID (or its first 8+ characters), or 'latest' (the newest kept snapshot).") var recoveryPoint = "latest"
        @Option(help: "Which disk, counting from 0 in the order they were backed up.") var disk: Int
        @Option(help: "Output file.", completion: .file()) var output: String
        @Flag(help: "Replace an existing output file.") var force = false
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                let started = ContinuousClock.now
                let kept = SnapshotTier(root: self.snapshotDirectory).snapshots(vmName: self.vm)
                let match = self.recoveryPoint == "latest"
                    ? kept.max { $0.record.createdAtMillis < $1.record.createdAtMillis }
                    : kept.first { self.recoveryPoint.count >= 8 && $0.record.recoveryPoint.hasPrefix(self.recoveryPoint) }
                guard let (folder, record) = match else {
                    throw TresorError(.notFound, "the snapshot tier \(self.snapshotDirectory) keeps no snapshot of \(self.vm) for recovery point \(self.recoveryPoint)",
                                      action: "restore from the vault with 'tresor-restore disk' (the tier keeps points for the policy's instant-restore days)")
                }
                guard record.disks.indices.contains(self.disk) else {
                    throw TresorError(.invalidArgument, "the snapshot of \(record.recoveryPoint) holds disks 0…\(record.disks.count - 1), not \(self.disk)")
                }
                let source = "\(folder)/\(record.disks[self.disk].file)"
                let method = try InstantCopy.make(from: source, to: self.output, force: self.force)
                let result = InstantResult(recoveryPoint: record.recoveryPoint, disk: self.disk, source: record.disks[self.disk].sourcePath,
                                           output: self.output, method: method, consistency: record.consistency,
                                           createdAtMillis: record.createdAtMillis, seconds: (ContinuousClock.now - started).seconds)
                if self.outputOptions.json {
                    try self.outputOptions.print(result)
                } else {
                    print("copied disk \(self.disk) (\(result.source)) of \(record.recoveryPoint), \(record.consistency.rawValue), to \(self.output) by \(method.rawValue)")
                }
            }
        }
    }
}
