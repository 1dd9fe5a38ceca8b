import ArgumentParser
import Foundation
import TresorCommandLine
import TresorCompression
import TresorCore
import TresorEngine
import TresorKeys
import TresorSnapshot

extension Tresor {
    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Back up a VM's disks (raw images or block devices) into a vault.",
            discussion: """
                Prints the new recovery point's ID. Only chunks the VM's key domain lacks are compressed, \
                encrypted and stored. Without --snapshot-directory the disks are read as they are now and the \
                recovery point records consistency "not-snapshotted". With it, disk files on XFS or btrfs are \
                reflink-copied there first (crash-consistent), the copies are kept for --snapshot-keep-days, \
                and the next backup reads only the blocks written since (docs/snapshots.md).

                Example: tresor backup --vault /srv/vault --vm web1 \\
                    --disk /var/lib/vms/web1.img --keystore ~/.tresor --kek main
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @Option(help: "The VM's display name.") var vm: String
        @Option(help: "The host the VM runs on (default: this machine's name).") var host: String?
        @Option(name: .customLong("disk"), help: "A disk, in order (repeat for several disks).", completion: .file())
        var disks: [String]
        @OptionGroup var keyOptions: KeyOptions
        @Option(help: "Chunk size, 256KiB to 4MiB.") var chunkSize = ByteSize(argument: "1MiB")!
        @Option(help: "Key domain for a new VM (default: a domain of its own).") var domain: String?
        @Option(help: "zstd compression level (default: level 2 with a 2^18 hash table).") var compressionLevel: Int32?
        @Option(help: "Snapshot tier folder, on the disks' file system: reflink snapshots and change detection.", completion: .directory)
        var snapshotDirectory: String?
        @Option(help: "Days the snapshot stays in the snapshot tier.") var snapshotKeepDays = 2
        @Flag(help: "Store every changed chunk whole, not as the 4 KiB blocks that differ from its previous version.")
        var noDeltas = false
        @OptionGroup var cache: ChangeCacheOptions
        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard BackupRequest.chunkSizes.contains(self.chunkSize.bytes), self.chunkSize.bytes % 4096 == 0 else {
                throw ValidationError("--chunk-size must be between 256KiB and 4MiB, a multiple of 4KiB")
            }
            guard !self.disks.isEmpty else { throw ValidationError("name at least one --disk") }
            guard (1...30).contains(self.snapshotKeepDays) else { throw ValidationError("--snapshot-keep-days must be 1 to 30") }
        }

        func run() throws {
            try runReportingErrors("tresor") {
                let keys = try self.keyOptions.keyRing()
                let opened = try VaultAccess.open(self.vaultOptions, exclusive: true)
                var request = BackupRequest(
                    vmName: self.vm, host: self.host ?? SystemInfo.hostName, diskPaths: self.disks.map(SystemInfo.absolutePath),
                    chunkSize: self.chunkSize.bytes, domain: try self.domain.map(DomainID.init) ?? keys.onlyDomain,
                    compression: self.compressionLevel.map { ZstdSetting(level: $0) } ?? .chunkDefault, workers: self.pipeline.workers)
                request.deltas = !self.noDeltas
                request.changeCacheDirectory = self.cache.directory
                let now = SystemInfo.nowMillis
                let snapshot = try self.snapshotDirectory.map { directory in
                    try VMSnapshotter.take(VMSnapshotter.Request(
                        vmName: request.vmName, host: request.host, diskPaths: request.diskPaths, settings: SnapshotSettings(method: .reflink),
                        tier: SnapshotTier(root: SystemInfo.absolutePath(directory)), configuredPower: .unknown,
                        tag: "\(now)-cli", now: now))
                }
                if let snapshot { request.read(from: snapshot) }
                let progress = ProgressCounter()
                let outcome = Result {
                    try ProgressDisplay(counter: progress, label: "backup", quiet: self.output.json).during {
                        try BackupEngine.run(request, destination: opened.destination, keys: keys, progress: progress, now: now)
                    }
                }
                snapshot?.release(recoveryPoint: try? outcome.get().recoveryPoint,
                                  keepUntilMillis: now + Int64(self.snapshotKeepDays) * 86_400_000)
                let result = try outcome.get()
                if self.output.json {
                    try self.output.print(result)
                    return
                }
                print(result.recoveryPoint)
                if let warning = result.changeCacheWarning { FileHandleOutput.standardError("tresor: warning: \(warning)\n") }
                if SystemInfo.isTerminal(2) {
                    FileHandleOutput.standardError(
                        "read \(result.bytesRead) bytes (\(result.bytesUnchanged) known unchanged, \(result.chunksIDFromCache) chunk IDs from the cache) in \(String(format: "%.2f", result.seconds)) s (\(Int(result.throughputMBps)) MB/s): "
                            + "\(result.chunksNew) new (\(result.chunksDelta) as deltas, \(result.chunksDeltaFromCache) of them from the cache), \(result.chunksReused) reused, \(result.chunksZero) zero chunks; "
                            + "stored \(result.bytesStored) bytes + \(result.indexBytesAdded) index bytes\n")
                }
            }
        }
    }
}
