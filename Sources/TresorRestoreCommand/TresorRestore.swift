import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

@main
struct TresorRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tresor-restore",
        abstract: "Tresor's restore tool: whole disks and VMs (raw or VHD), and rollbacks of existing disks, from the vault directory alone.",
        subcommands: [Disk.self, VM.self, Browse.self, Extract.self, Rollback.self, Undo.self, Instant.self, Export.self, Keys.self])

    /// A malformed command line is one line with a code, as every other failure (CommandLineEntry).
    static func main() {
        CommandLineEntry.run(Self.self, program: "tresor-restore")
    }
}

/// What selects a recovery point: the VM, its host when names repeat, and an ID or `latest`.
struct RecoveryPointOptions: ParsableArguments {
    @Option(help: "The VM's name.") var vm: String
    @Option(help: "The VM's host, when several VMs share the name.") var host: String?
    @Option(help: "A recovery point ID (or its first 8+ characters), or 'latest'.") var recoveryPoint = "latest"

    /// Runs `body` with the recovery point open: the vault opened for reading (its shared lock held), the point
    /// held against garbage collection (a lease on a served vault) and opened, verified and with its keys
    /// unwrapped. The hold and the lock are given back when `body` returns or throws.
    func withOpened<T>(vault: VaultOptions, keys keyOptions: KeyOptions, _ body: (OpenedRecoveryPoint) throws -> T) throws -> T {
        let keys = try keyOptions.keyRing()
        let opened = try VaultAccess.open(vault, exclusive: false)
        let vm = try opened.vault.findVM(name: self.vm, host: self.host)
        let record = try opened.vault.resolveRecoveryPoint(vm: vm, reference: self.recoveryPoint)
        let hold = try opened.maintenance.holdForReading([record.id])
        defer {
            hold.release()
            withExtendedLifetime(opened) {}
        }
        return try body(try OpenedRecoveryPoint(vault: opened.vault, keys: keys, recoveryPointID: record.id))
    }
}

extension TresorRestore {
    struct Disk: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore one disk of a recovery point to a raw file (sparse) or a block device.",
            discussion: "An existing output is refused unless --force; then a file is truncated first and a block device has its zero ranges zeroed.")

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @Option(help: "Which disk, counting from 0 in the order they were backed up.") var disk: Int
        @Option(help: "Output file or block device.", completion: .file()) var output: String
        @Option(help: "raw (sparse), or vhd (fixed VHD, as Azure takes uploaded disks; files only).") var format = DiskImageFormat.raw
        @OptionGroup var keyOptions: KeyOptions
        @Flag(help: "Overwrite an existing output.") var force = false
        @Flag(help: "Do not end with fdatasync (whatever went through the page cache may not be on disk yet).") var noSync = false
        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    let progress = ProgressCounter()
                    let result = try RestoreJob.run(self.vaultOptions, point: recoveryPoint, description: "disk \(self.disk) to \(self.output)",
                                                    progress: progress) {
                        try ProgressDisplay(counter: progress, label: "restore", quiet: self.outputOptions.json).during {
                            try RestoreEngine.restoreDisk(recoveryPoint, position: self.disk, output: self.output, force: self.force,
                                                          format: self.format, sync: !self.noSync, workers: self.pipeline.workers, progress: progress)
                        }
                    }
                    if self.outputOptions.json {
                        try self.outputOptions.print(result)
                    } else {
                        print("restored disk \(self.disk) of \(recoveryPoint.body.recoveryPointID) to \(self.output) (\(result.format.rawValue)): \(result.bytes) bytes, \(result.chunksRead) chunks read, \(result.chunksZero) zero")
                    }
                }
            }
        }
    }

    struct VM: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore every disk of a recovery point into a directory (disk-N-NAME files, .vhd added for VHDs).")

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @Option(help: "Directory for the disks (created if missing).", completion: .directory) var outputDir: String
        @Option(help: "raw (sparse) or vhd (fixed VHD).") var format = DiskImageFormat.raw
        @OptionGroup var keyOptions: KeyOptions
        @Flag(help: "Overwrite existing files.") var force = false
        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    for disk in recoveryPoint.body.disks { try self.format.check(size: disk.size) }
                    try POSIX.makeDirectories(self.outputDir)
                    // "restored/" and "restored" name the same folder, and the printed paths should say so.
                    var folder = Substring(self.outputDir)
                    while folder.count > 1 && folder.hasSuffix("/") { folder.removeLast() }
                    let outputs = recoveryPoint.body.disks.map { disk in
                        let safeName = disk.name.map { $0 == "/" ? "_" : $0 }
                        return (position: disk.position, path: "\(folder == "/" ? "" : folder)/disk-\(disk.position)-\(String(safeName))\(self.format.fileSuffix)")
                    }
                    let progress = ProgressCounter()
                    let results = try RestoreJob.run(self.vaultOptions, point: recoveryPoint, description: "VM into \(self.outputDir)", progress: progress) {
                        try ProgressDisplay(counter: progress, label: "restore", quiet: self.outputOptions.json).during {
                            try RestoreEngine.restoreDisks(recoveryPoint, outputs: outputs, force: self.force, format: self.format,
                                                           workers: self.pipeline.workers, progress: progress)
                        }
                    }
                    if self.outputOptions.json {
                        try self.outputOptions.print(results)
                    } else {
                        for r in results { print("restored disk \(r.disk) to \(r.output) (\(r.bytes) bytes)") }
                    }
                }
            }
        }
    }
}
