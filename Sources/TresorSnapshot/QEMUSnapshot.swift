import Foundation
import TresorCore

/// Point-in-time snapshots of a running QEMU VM's disks (docs/snapshots.md, "QEMU"): one QMP transaction
/// puts a fresh qcow2 overlay on top of every disk at the same instant, so the disk files stop changing
/// and can be read (or reflink-cloned) at leisure while the guest writes to the overlays; afterwards each
/// overlay is committed back into its disk and deleted. An overlay left by an agent that died is found by
/// its name and committed before the next snapshot.
public struct QEMUSnapshot {
    /// One disk's overlay while a snapshot is held.
    public struct Overlay: Sendable, Equatable {
        public var diskPath: String
        public var overlayPath: String
        public var nodeName: String
    }

    static let overlayPrefix = "tresor-overlay-"

    let qmp: QMPConnection
    let overlayDirectory: String

    public init(qmp: QMPConnection, overlayDirectory: String) {
        self.qmp = qmp
        self.overlayDirectory = overlayDirectory
    }

    /// Puts overlays on all of `diskPaths` atomically. Each path must be the image of one of the VM's block
    /// devices; a disk still on an overlay of ours from an earlier run is committed first.
    public func take(diskPaths: [String], tag: String) throws -> [Overlay] {
        try self.commitLeftovers()
        let devices = try self.blockDevices()
        var overlays = [Overlay]()
        var actions = [[String: Any]]()
        for (index, path) in diskPaths.enumerated() {
            guard let device = devices.first(where: { $0.filename == path }) else {
                throw TresorError(.snapshotFailed, "the VM behind this QMP socket has no disk \(path) (it has \(devices.map(\.filename).joined(separator: ", ")))",
                                  action: "name the disks by the file names QEMU opened them with")
            }
            let overlay = Overlay(diskPath: path, overlayPath: "\(self.overlayDirectory)/\(Self.overlayPrefix)\(tag)-\(index).qcow2",
                                  nodeName: "tresor-\(tag)-\(index)")
            try? FileManager.default.removeItem(atPath: overlay.overlayPath)
            actions.append(["type": "blockdev-snapshot-sync", "data": [
                "node-name": device.nodeName, "snapshot-file": overlay.overlayPath,
                "snapshot-node-name": overlay.nodeName, "format": "qcow2",
            ] as [String: Any]])
            overlays.append(overlay)
        }
        try FileManager.default.createDirectory(atPath: self.overlayDirectory, withIntermediateDirectories: true)
        try self.qmp.execute("transaction", ["actions": actions])
        return overlays
    }

    /// Writes each overlay's blocks back into its disk while the VM runs, pivots the VM back onto the disk,
    /// and deletes the overlay.
    public func commit(_ overlays: [Overlay]) throws {
        for overlay in overlays {
            try self.commit(nodeName: overlay.nodeName, overlayPath: overlay.overlayPath)
        }
    }

    /// Commits every overlay of ours still on top of a disk (an agent killed while holding a snapshot).
    public func commitLeftovers() throws {
        for device in try self.blockDevices() where URL(fileURLWithPath: device.filename).lastPathComponent.hasPrefix(Self.overlayPrefix) {
            try self.commit(nodeName: device.nodeName, overlayPath: device.filename)
        }
    }

    private func commit(nodeName: String, overlayPath: String) throws {
        let jobID = "commit-\(nodeName)"
        try self.qmp.execute("block-commit", ["device": nodeName, "job-id": jobID])
        // An active commit first copies, then reports ready and mirrors new writes until told to complete.
        var completing = false
        while true {
            guard let job = try self.blockJobs().first(where: { $0["device"] as? String == jobID }) else { break }
            if let error = job["error"] as? String { throw TresorError(.snapshotFailed, "committing \(overlayPath) failed: \(error)") }
            if !completing, job["ready"] as? Bool == true {
                try self.qmp.execute("block-job-complete", ["device": jobID])
                completing = true
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard try !self.blockDevices().contains(where: { $0.filename == overlayPath }) else {
            throw TresorError(.snapshotFailed, "the VM still runs on the overlay \(overlayPath) after committing it",
                              action: "look at QEMU's log; the overlay holds the VM's newest writes, do not delete it")
        }
        try? FileManager.default.removeItem(atPath: overlayPath)
    }

    private struct BlockDevice {
        var nodeName: String
        var filename: String
    }

    /// The top image of every block device the VM has.
    private func blockDevices() throws -> [BlockDevice] {
        let devices = try self.qmp.execute("query-block") as? [[String: Any]] ?? []
        return devices.compactMap { device in
            guard let inserted = device["inserted"] as? [String: Any], let node = inserted["node-name"] as? String,
                  let image = inserted["image"] as? [String: Any], let filename = image["filename"] as? String else { return nil }
            return BlockDevice(nodeName: node, filename: filename)
        }
    }

    private func blockJobs() throws -> [[String: Any]] {
        try self.qmp.execute("query-block-jobs") as? [[String: Any]] ?? []
    }

    /// "running", "paused", "shutdown" …: QEMU's run state, for the agent's power report.
    public static func runState(_ qmp: QMPConnection) throws -> String {
        let status = try qmp.execute("query-status") as? [String: Any]
        return status?["status"] as? String ?? "unknown"
    }
}
