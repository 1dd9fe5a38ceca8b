import ArgumentParser
import Foundation
import Synchronization
import Glibc
import TresorCommandLine
import TresorCore
import TresorEngine
import TresorExport

/// What `tresor-restore export --json` prints once the export listens.
struct ExportStarted: Codable {
    var recoveryPoint: String
    var disk: Int
    var size: Int64
    var name: String
    var uris: [String]
    var overlay: String?
    var writable: Bool
}

extension TresorRestore {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Instant restore from the vault: serve a disk of a recovery point as a Network Block Device, read at once.",
            discussion: """
                Clients (qemu-img, nbdcopy, nbdinfo, QEMU itself) read the disk while only the chunks they touch are fetched from the \
                vault; holes are reported through block status. The export listens on a Unix socket created mode 0600, or on TCP on \
                loopback only. It runs until SIGINT or SIGTERM and holds the recovery point against pruning meanwhile.
                """)

        @OptionGroup var vaultOptions: VaultOptions
        @OptionGroup var point: RecoveryPointOptions
        @Option(help: "Which disk, counting from 0 in the order they were backed up.") var disk: Int
        @Option(help: "Unix socket to listen on (created mode 0600).", completion: .file()) var socket: String?
        @Option(help: "Also (or instead) listen on TCP, loopback only: 127.0.0.1:PORT.") var listen: String?
        @Option(help: "The export's name (clients may also ask for the default, empty name).") var name = "tresor"
        @Option(help: "A copy-on-write overlay file (created mode 0600, or continued): the export becomes writable and writes land there.",
                completion: .file()) var overlay: String?
        @Flag(help: "With --overlay: copy every block not yet in the overlay from the vault in the background; then the overlay is the whole disk and the vault is no longer read.")
        var migrate = false
        @OptionGroup var keyOptions: KeyOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            try runReportingErrors("tresor-restore") {
                // Blocked before any thread starts, so every thread inherits it and only sigwait below takes them.
                var signals = sigset_t()
                sigemptyset(&signals)
                sigaddset(&signals, SIGINT)
                sigaddset(&signals, SIGTERM)
                pthread_sigmask(SIG_BLOCK, &signals, nil)

                try self.point.withOpened(vault: self.vaultOptions, keys: self.keyOptions) { recoveryPoint in
                    guard !self.migrate || self.overlay != nil else {
                        throw TresorError(.invalidArgument, "--migrate copies into an overlay", action: "add --overlay FILE")
                    }
                    let reader = try RecoveryPointDiskReader(recoveryPoint, position: self.disk)
                    let overlay = try self.overlay.map { try OverlayDisk(path: $0, base: reader, baseName: "\(recoveryPoint.body.recoveryPointID)/\(self.disk)") }
                    let served: any ExportedDisk = overlay ?? reader
                    let server = try NBDServer(name: self.name, disk: served, socketPath: self.socket, tcp: self.listen)
                    server.start()
                    let stopping = StopSignal()
                    if self.migrate, let overlay { Self.startMigration(overlay, json: self.outputOptions.json, stopping: stopping) }
                    var uris: [String] = []
                    if let socket = self.socket { uris.append("nbd+unix:///\(self.name)?socket=\(socket)") }
                    if let listen = self.listen { uris.append("nbd://\(listen)/\(self.name)") }
                    let started = ExportStarted(recoveryPoint: recoveryPoint.body.recoveryPointID, disk: self.disk, size: reader.size,
                                                name: self.name, uris: uris, overlay: self.overlay, writable: overlay != nil)
                    if self.outputOptions.json {
                        try self.outputOptions.print(started)
                    } else {
                        print("exporting disk \(self.disk) of \(started.recoveryPoint) (\(reader.size) bytes, \(overlay == nil ? "read-only" : "writes to \(self.overlay!)")) as \(uris.joined(separator: " and ")); SIGINT or SIGTERM stops")
                    }
                    fflushStandardOutput()
                    var received: Int32 = 0
                    sigwait(&signals, &received)
                    stopping.set()
                    server.stop()
                    try overlay?.flush()
                    if !self.outputOptions.json { print("export stopped; \(reader.chunksFetched) chunks were fetched from the vault") }
                }
            }
        }

        /// Copies the rest of the disk into the overlay on its own thread and says when it is whole.
        static func startMigration(_ overlay: OverlayDisk, json: Bool, stopping: StopSignal) {
            let thread = Thread {
                do {
                    try overlay.migrate(shouldStop: { stopping.isSet })
                    if overlay.isComplete {
                        print(json ? #"{"migrated":true,"overlay":"\#(overlay.path)"}"# : "migration complete: \(overlay.path) is the whole disk; the vault is no longer read")
                        fflushStandardOutput()
                    }
                } catch {
                    FileHandleOutput.standardError("tresor-restore: migration stopped: \(error)\n")
                }
            }
            thread.start()
        }
    }
}

/// Tells a background thread to finish.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { self.flag.load(ordering: .relaxed) }
    func set() { self.flag.store(true, ordering: .relaxed) }
}
