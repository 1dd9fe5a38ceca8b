import ArgumentParser
import TresorCommandLine
import TresorCore
public import TresorEngine
public import TresorFileSystems

/// The file-system parsers read a recovery point's disk through the engine's random-access reader.
extension RecoveryPointDiskReader: BlockSource {}

/// What selects a guest file system: the disk and, when it has a partition table, the partition.
struct VolumeOptions: ParsableArguments {
    @Option(help: "Which disk, counting from 0 in the order they were backed up.") var disk: Int
    @Option(help: "Which partition (numbered as Linux names them: 1…, logical MBR partitions from 5); needed when the disk has several.")
    var partition: Int?
}

/// What `tresor-restore browse --json` prints.
struct BrowseResult: Codable {
    var recoveryPoint: String
    var disk: Int
    var partitionTable: PartitionTable
    var fileSystem: String?
    var path: String?
    var entries: [FileEntry]
    var chunksFetched: Int
}

extension TresorRestore {
    struct Browse: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a disk's partitions and the files of a guest file system (ext2/3/4, FAT) in a recovery point, reading only the chunks needed.")

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @OptionGroup var volume: VolumeOptions
        @Option(help: "A directory (or file) inside the guest.") var path = "/"
        @Flag(help: "List directories below it too.") var recursive = false
        @OptionGroup var keyOptions: KeyOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    let reader = try RecoveryPointDiskReader(recoveryPoint, position: self.volume.disk)
                    let table = try PartitionTable.read(reader)
                    if table.scheme != .none && table.partitions.count > 1 && self.volume.partition == nil {
                        let result = BrowseResult(recoveryPoint: recoveryPoint.body.recoveryPointID, disk: self.volume.disk, partitionTable: table,
                                                  fileSystem: nil, path: nil, entries: [], chunksFetched: reader.chunksFetched)
                        if self.outputOptions.json { return try self.outputOptions.print(result) }
                        print("disk \(self.volume.disk): \(table.scheme.rawValue) with \(table.partitions.count) partitions; choose one with --partition")
                        printTable(header: ["#", "START", "SIZE", "TYPE", "NAME"], rows: table.partitions.map { ["\($0.number)", "\($0.start)", "\($0.size)", $0.type, $0.name ?? ""] })
                        return
                    }
                    let (_, tree) = try Volume.open(reader, partition: self.volume.partition)
                    let top = try Volume.find(self.path, in: tree)
                    var entries: [FileEntry] = []
                    func walk(_ directory: FileEntry, prefix: String, depth: Int) throws {
                        for child in try tree.list(directory).sorted(by: { $0.name < $1.name }) {
                            var shown = child
                            shown.name = prefix + child.name
                            entries.append(shown)
                            if self.recursive, child.kind == .directory, depth < 64 { try walk(child, prefix: shown.name + "/", depth: depth + 1) }
                        }
                    }
                    if top.kind == .directory { try walk(top, prefix: "", depth: 0) } else { entries = [top] }
                    if self.outputOptions.json {
                        try self.outputOptions.print(BrowseResult(recoveryPoint: recoveryPoint.body.recoveryPointID, disk: self.volume.disk, partitionTable: table,
                                                                  fileSystem: tree.kindName, path: self.path, entries: entries, chunksFetched: reader.chunksFetched))
                    } else {
                        printTable(header: ["MODE", "OWNER", "SIZE", "MODIFIED (UTC)", "NAME"], rows: entries.map { e in
                            [Self.modeString(e), "\(e.uid):\(e.gid)", "\(e.size)", Self.date(e.modifiedSeconds),
                             e.name + (e.target.map { " -> \($0)" } ?? "")]
                        })
                    }
                }
            }
        }

        static func modeString(_ e: FileEntry) -> String {
            let type: Character = switch e.kind {
            case .directory: "d"
            case .symlink: "l"
            case .characterDevice: "c"
            case .blockDevice: "b"
            case .fifo: "p"
            case .socket: "s"
            case .file: "-"
            }
            let bits = "rwxrwxrwx"
            return String(type) + String(bits.enumerated().map { i, c in e.permissions & (0o400 >> UInt32(i)) != 0 ? c : "-" })
        }

        static func date(_ seconds: Int64) -> String {
            SystemInfo.timestamp(millis: seconds * 1000)
        }
    }

    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Extract files or directories from a guest file system in a recovery point, with permissions, owners, times and symlinks.",
            discussion: "Nothing is written outside --output-dir and no symlink is followed; device nodes and setuid/setgid bits only with their flags. Owners are set when run as root.")

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @OptionGroup var volume: VolumeOptions
        @Option(help: "The file or directory inside the guest to extract.") var path: String
        @Option(help: "Folder to extract into (created if missing; the entry goes in under its own name).", completion: .directory) var outputDir: String
        @Flag(help: "Create device nodes (character and block devices).") var devices = false
        @Flag(help: "Keep setuid and setgid bits.") var setuid = false
        @OptionGroup var keyOptions: KeyOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    let reader = try RecoveryPointDiskReader(recoveryPoint, position: self.volume.disk)
                    let (_, tree) = try Volume.open(reader, partition: self.volume.partition)
                    let entry = try Volume.find(self.path, in: tree)
                    let progress = ProgressCounter()
                    if entry.kind == .file { progress.setTotal(entry.size) }
                    let options = Extractor.Options(devices: self.devices, setuid: self.setuid, progress: { progress.add($0) },
                                                    isCancelled: { progress.isCancelled })
                    let result = try RestoreJob.run(self.vaultOptions, point: recoveryPoint, description: "files \(self.path) into \(self.outputDir)",
                                                    progress: progress) {
                        try Extractor(tree: tree, options: options).extract(entry, into: self.outputDir)
                    }
                    if self.outputOptions.json {
                        try self.outputOptions.print(result)
                    } else {
                        print("extracted \(self.path) into \(self.outputDir): \(result.files) files (\(result.bytes) bytes), \(result.directories) directories, "
                            + "\(result.symlinks) symlinks, \(result.special) special files; \(reader.chunksFetched) of the disk's chunks read")
                        for skipped in result.skipped { print("skipped \(skipped)") }
                    }
                }
            }
        }
    }
}
