import ArgumentParser
import TresorCommandLine
import TresorCore
import TresorEngine

extension TresorRestore {
    /// Where the undo record goes: given, or beside a file target; a device's folder (/dev) is no place for it.
    static func undoFile(_ given: String?, target: String) throws -> String {
        if let given { return given }
        guard !target.hasPrefix("/dev/") else {
            throw TresorError(.invalidArgument, "a block device needs --undo-file", action: "name a file on another disk for the undo record")
        }
        return target + ".tresor-undo"
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll an existing disk image or block device back to a recovery point, writing only the 4 KiB blocks that differ.",
            discussion: """
                The target must not be in use: a mounted device, a file attached to a loop device or locked by a running VM is \
                refused. The previous contents of every block are saved to the undo record before the block is overwritten, so a \
                cancelled or killed rollback can be finished (--resume) or undone ('tresor-restore undo').
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @Option(help: "Which disk, counting from 0 in the order they were backed up.") var disk: Int
        @Option(help: "The existing disk image or block device to roll back.", completion: .file()) var target: String
        @Option(help: "The undo record (default: TARGET.tresor-undo; required for a block device).", completion: .file()) var undoFile: String?
        @Flag(help: "Finish a rollback that was interrupted, keeping its undo record.") var resume = false
        @Flag(help: "Keep the undo record after success (then 'tresor-restore undo' can reverse the rollback).") var keepUndo = false
        @OptionGroup var keyOptions: KeyOptions
        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                let undoFile = try TresorRestore.undoFile(self.undoFile, target: self.target)
                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    let progress = ProgressCounter()
                    let result = try RestoreJob.run(self.vaultOptions, point: recoveryPoint, description: "rollback of \(self.target) to disk \(self.disk)",
                                                    progress: progress) {
                        try ProgressDisplay(counter: progress, label: "rollback", quiet: self.outputOptions.json).during {
                            try RollbackEngine.rollback(recoveryPoint, position: self.disk, target: self.target, undoFile: undoFile,
                                                        resume: self.resume, keepUndo: self.keepUndo, workers: self.pipeline.workers, progress: progress)
                        }
                    }
                    if self.outputOptions.json {
                        try self.outputOptions.print(result)
                    } else {
                        print("rolled \(self.target) back to disk \(self.disk) of \(result.recoveryPoint): \(result.bytesCompared) bytes compared, "
                            + "\(result.bytesWritten) written in \(result.blocksWritten) blocks"
                            + (result.undoKept ? "; undo record kept in \(undoFile)" : ""))
                    }
                }
            }
        }
    }

    struct Undo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a disk back as it was before a rollback, from the rollback's undo record (no vault or keys needed).")

        @Option(help: "The disk image or block device the rollback ran on.", completion: .file()) var target: String
        @Option(help: "The undo record (default: TARGET.tresor-undo).", completion: .file()) var undoFile: String?
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                let result = try RollbackEngine.undo(undoFile: try TresorRestore.undoFile(self.undoFile, target: self.target), target: self.target)
                if self.outputOptions.json {
                    try self.outputOptions.print(result)
                } else {
                    print("put \(self.target) back as it was before its rollback to \(result.recoveryPoint): \(result.bytesRestored) bytes in \(result.rangesRestored) ranges")
                }
            }
        }
    }
}
