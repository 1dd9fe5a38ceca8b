import Foundation
import Glibc
public import TresorCore

/// What `snapshot.json` says about one kept snapshot (docs/formats.md, "Snapshot tier").
public struct SnapshotRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-snapshot"
    public static let version = 1

    public struct Disk: Codable, Sendable, Equatable {
        /// The disk as the agent's configuration names it.
        public var sourcePath: String
        /// The kept copy, a file name inside the snapshot's folder.
        public var file: String

        public init(sourcePath: String, file: String) {
            self.sourcePath = sourcePath
            self.file = file
        }
    }

    public var format: String
    public var version: Int
    public var vmName: String
    public var host: String
    public var createdAtMillis: Int64
    /// The agent removes the snapshot after this: the policy's instant-restore days.
    public var keepUntilMillis: Int64
    public var consistency: Consistency
    /// The recovery point made from this snapshot; a snapshot without one is never kept.
    public var recoveryPoint: String
    public var disks: [Disk]
}

/// The snapshot tier on the agent's host (docs/snapshots.md, "Snapshot tier"): reflink copies of each
/// backed-up disk, one folder per snapshot under `<root>/<vm>/`, kept for the policy's instant-restore
/// days so that a restore can start from the host at once. A folder without `snapshot.json` belongs to a
/// backup still running or one that died; pruning removes it unless it is the running one.
public struct SnapshotTier: Sendable {
    public let root: String
    public static let recordName = "snapshot.json"

    public init(root: String) {
        self.root = root
    }

    /// Where QEMU's overlays live while a snapshot is held: outside every snapshot folder, so removing a
    /// snapshot can never remove an overlay that holds a VM's newest writes.
    public var overlayFolder: String { "\(self.root)/.overlays" }

    /// A new, empty folder for a snapshot of `vmName`, mode 0700.
    public func makeFolder(vmName: String, tag: String) throws -> String {
        let folder = "\(self.vmFolder(vmName))/\(tag)"
        try POSIX.makeDirectories(folder)
        return folder
    }

    /// Marks a folder as a kept snapshot: from now on pruning removes it only when it expires.
    public func keep(_ record: SnapshotRecord, in folder: String) throws {
        try AtomicFile.write(try JSON.encode(record, pretty: true), to: "\(folder)/\(Self.recordName)")
    }

    /// The kept snapshots of one VM, oldest first.
    public func snapshots(vmName: String) -> [(folder: String, record: SnapshotRecord)] {
        let vmFolder = self.vmFolder(vmName)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: vmFolder)) ?? []
        return names.sorted().compactMap { name in
            let folder = "\(vmFolder)/\(name)"
            guard let bytes = try? AtomicFile.read("\(folder)/\(Self.recordName)"),
                  let record = try? JSON.decode(SnapshotRecord.self, from: bytes, what: "\(folder)/\(Self.recordName)"),
                  record.format == SnapshotRecord.format else { return nil }
            return (folder, record)
        }
    }

    /// Removes every snapshot of `vmName` that expired at `now`, and every unfinished folder except
    /// `sparing`; returns the folders removed.
    @discardableResult
    public func prune(vmName: String, now: Int64, sparing: String? = nil) -> [String] {
        let vmFolder = self.vmFolder(vmName)
        let kept = Dictionary(uniqueKeysWithValues: self.snapshots(vmName: vmName).map { ($0.folder, $0.record) })
        var removed = [String]()
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: vmFolder)) ?? []).sorted() {
            let folder = "\(vmFolder)/\(name)"
            guard folder != sparing else { continue }
            if let record = kept[folder], record.keepUntilMillis > now { continue }
            if (try? FileManager.default.removeItem(atPath: folder)) != nil { removed.append(folder) }
        }
        return removed
    }

    /// VM names become one path component: anything but ASCII letters, digits, '-' and '_' is escaped.
    public func vmFolder(_ vmName: String) -> String {
        var safe = ""
        for scalar in vmName.unicodeScalars {
            if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) || "-_".unicodeScalars.contains(scalar) {
                safe.unicodeScalars.append(scalar)
            } else {
                safe += String(format: "%%%02X", scalar.value)
            }
        }
        return "\(self.root)/\(safe)"
    }
}
