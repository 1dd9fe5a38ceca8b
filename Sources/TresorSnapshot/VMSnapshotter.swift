import Foundation
import Glibc
public import TresorCore

/// Takes a VM's snapshot before a backup reads it (docs/snapshots.md, "Taking a snapshot"):
/// pre-script → freeze → snapshot → thaw → post-script, then the consistency those steps earned. The
/// disks are then read from the snapshot, never from the live VM.
public enum VMSnapshotter {
    public struct Request: Sendable {
        public var vmName: String
        public var host: String
        public var diskPaths: [String]
        public var settings: SnapshotSettings
        public var tier: SnapshotTier?
        /// The configuration's power state, for VMs the agent cannot ask (reflink).
        public var configuredPower: ReportedVM.PowerState
        /// Names this snapshot's folder and overlays; unique per job.
        public var tag: String
        public var now: Int64

        public init(vmName: String, host: String, diskPaths: [String], settings: SnapshotSettings, tier: SnapshotTier?,
                    configuredPower: ReportedVM.PowerState, tag: String, now: Int64) {
            self.vmName = vmName
            self.host = host
            self.diskPaths = diskPaths
            self.settings = settings
            self.tier = tier
            self.configuredPower = configuredPower
            self.tag = tag
            self.now = now
        }
    }

    public static func take(_ request: Request) throws -> HeldSnapshot {
        let settings = request.settings
        guard settings.method != .none, let tier = request.tier else {
            return HeldSnapshot(request: request, readPaths: request.diskPaths, consistency: .notSnapshotted)
        }
        tier.prune(vmName: request.vmName, now: request.now)
        let folder = try tier.makeFolder(vmName: request.vmName, tag: request.tag)
        do {
            return try self.take(request, tier: tier, folder: folder)
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    private static func take(_ request: Request, tier: SnapshotTier, folder: String) throws -> HeldSnapshot {
        let settings = request.settings
        // QEMU serves one QMP client at a time: the connection is closed as soon as the overlays exist.
        var qmp = try settings.method == .qmp ? QMPConnection.connectIfListening(settings.qmpSocket ?? "") : nil
        let running = switch settings.method {
        case .qmp: try qmp.map { try QEMUSnapshot.runState($0) == "running" } ?? false
        default: request.configuredPower != .stopped
        }
        var warnings = [String]()
        // Scripts and freezing quiesce what runs; a stopped VM has nothing to quiesce.
        let scripts = try settings.scripts.map { try ConsistencyScripts.load(path: $0) }
        let runScripts = running && scripts?.hasScripts == true
        var scriptsHeld = runScripts
        if runScripts, let scripts {
            do {
                try scripts.run(.pre, workDirectory: folder)
            } catch let error as TresorError {
                guard scripts.continueOnFailure else {
                    // Whatever the pre-script did quiesce resumes before the job fails.
                    try? scripts.run(.post, workDirectory: folder)
                    throw error
                }
                warnings.append("\(error)")
                scriptsHeld = false
            }
        }
        let mounts = settings.freeze ?? []
        var freeze: FileSystemFreeze?
        if running, !mounts.isEmpty, scripts?.freezeEnabled ?? true {
            let attempt = FileSystemFreeze(mounts: mounts, timeoutSeconds: settings.freezeTimeoutSeconds ?? SnapshotSettings.defaultFreezeTimeoutSeconds)
            do {
                try attempt.freeze()
                freeze = attempt
            } catch {
                warnings.append("\(error)")
            }
        }
        var overlays = [QEMUSnapshot.Overlay]()
        var clones = [String]()
        var failure: (any Error)?
        do {
            if let qmp {
                overlays = try QEMUSnapshot(qmp: qmp, overlayDirectory: tier.overlayFolder).take(diskPaths: request.diskPaths, tag: request.tag)
            } else if settings.method == .reflink {
                clones = try self.clone(request.diskPaths, into: folder)
            }
        } catch {
            failure = error
        }
        qmp = nil
        var frozeThrough = false
        if let freeze {
            do {
                try freeze.thaw()
                frozeThrough = true
            } catch {
                warnings.append("\(error)")
            }
        }
        // The post-script runs whatever happened, so that the applications resume.
        if runScripts, let scripts {
            do {
                try scripts.run(.post, workDirectory: folder)
            } catch let error as TresorError {
                if !scripts.continueOnFailure, failure == nil { failure = error } else { warnings.append("\(error)") }
                scriptsHeld = false
            }
        }
        let held = HeldSnapshot(request: request, readPaths: request.diskPaths, consistency: .crash)
        held.overlays = overlays
        held.folder = folder
        if let failure {
            held.release(recoveryPoint: nil, keepUntilMillis: 0)
            throw failure
        }
        held.consistency = !running ? .crash : scriptsHeld ? .application : frozeThrough ? .fileSystem : .crash
        held.warnings = warnings
        if clones.isEmpty, settings.method == .qmp {
            // The disk files stand still now (under overlays, or with the VM stopped): copy them into the tier
            // where the file system can, and let the VM write to its disks again at once.
            if let copies = try? self.clone(request.diskPaths, into: folder) {
                clones = copies
                held.commitOverlays()
            }
        }
        if !clones.isEmpty { held.readPaths = clones.map { "\(folder)/\($0)" } }
        held.cloneFiles = clones
        return held
    }

    /// Reflink copies of `paths` named disk-0.raw, disk-1.raw … inside `folder`.
    private static func clone(_ paths: [String], into folder: String) throws -> [String] {
        var names = [String]()
        do {
            for (index, path) in paths.enumerated() {
                let name = "disk-\(index).raw"
                try Reflink.clone(path, to: "\(folder)/\(name)")
                names.append(name)
            }
        } catch {
            for name in names { unlink("\(folder)/\(name)") }
            throw error
        }
        return names
    }
}

/// A snapshot taken and not yet let go: where to read each disk, the consistency earned, and what to do
/// once the backup ended.
public final class HeldSnapshot {
    public let request: VMSnapshotter.Request
    /// Per disk, in the request's order: the file to read.
    public internal(set) var readPaths: [String]
    public internal(set) var consistency: Consistency
    /// Steps that failed but let the backup go on (a script with continueBackupOnFailure, a freeze).
    public internal(set) var warnings: [String] = []
    var overlays: [QEMUSnapshot.Overlay] = []
    var folder: String?
    var cloneFiles: [String] = []

    init(request: VMSnapshotter.Request, readPaths: [String], consistency: Consistency) {
        self.request = request
        self.readPaths = readPaths
        self.consistency = consistency
    }

    /// Whether the snapshot's copies stay in the snapshot tier.
    public var keepsCopies: Bool { !self.cloneFiles.isEmpty }

    /// Change detection: against the VM's newest kept snapshot of the same disks, the byte ranges of each
    /// disk both copies share, and the recovery point that snapshot made. Nil without copies on both sides.
    public func unchangedSinceKeptSnapshot() -> (recoveryPoint: String, ranges: [[Range<Int64>]])? {
        guard let tier = self.request.tier, let folder = self.folder, !self.cloneFiles.isEmpty else { return nil }
        let candidates = tier.snapshots(vmName: self.request.vmName).filter {
            $0.folder != folder && $0.record.host == self.request.host && $0.record.disks.map(\.sourcePath) == self.request.diskPaths
        }
        guard let base = candidates.max(by: { $0.record.createdAtMillis < $1.record.createdAtMillis }) else { return nil }
        do {
            let ranges = try zip(base.record.disks, self.cloneFiles).map { older, newer in
                try ChangedBlocks.unchangedRanges(older: "\(base.folder)/\(older.file)", newer: "\(folder)/\(newer)")
            }
            return (base.record.recoveryPoint, ranges)
        } catch {
            self.warnings.append("change detection skipped: \(error)")
            return nil
        }
    }

    /// Commits QEMU overlays still held, and keeps the copies in the tier until `keepUntilMillis` when a
    /// recovery point was made from them, or removes them. Never throws: the backup's outcome stands, and
    /// an overlay that could not be committed is committed by the next snapshot of the VM.
    public func release(recoveryPoint: String?, keepUntilMillis: Int64) {
        self.commitOverlays()
        guard let folder = self.folder else { return }
        if let recoveryPoint, let tier = self.request.tier, !self.cloneFiles.isEmpty {
            let record = SnapshotRecord(
                format: SnapshotRecord.format, version: SnapshotRecord.version, vmName: self.request.vmName, host: self.request.host,
                createdAtMillis: self.request.now, keepUntilMillis: keepUntilMillis, consistency: self.consistency,
                recoveryPoint: recoveryPoint,
                disks: zip(self.request.diskPaths, self.cloneFiles).map { SnapshotRecord.Disk(sourcePath: $0, file: $1) })
            do {
                try tier.keep(record, in: folder)
                return
            } catch {
                self.warnings.append("\(error)")
            }
        }
        try? FileManager.default.removeItem(atPath: folder)
        self.folder = nil
    }

    func commitOverlays() {
        guard !self.overlays.isEmpty, let socket = self.request.settings.qmpSocket else { return }
        do {
            guard let qmp = try QMPConnection.connectIfListening(socket) else {
                throw TresorError(.snapshotFailed, "QEMU stopped while its disks were on overlays; they stay in \(self.request.tier?.overlayFolder ?? "")",
                                  action: "start the VM again: the next backup commits them")
            }
            try QEMUSnapshot(qmp: qmp, overlayDirectory: self.request.tier?.overlayFolder ?? "").commit(self.overlays)
        } catch {
            self.warnings.append("\(error)")
        }
        self.overlays = []
    }
}
