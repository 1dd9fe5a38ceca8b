import Foundation
import Glibc
public import TresorCore
public import TresorSnapshot

/// `tresor agent --config FILE` (docs/jobs.md, "Agent configuration"): the host, its key store, its VMs and
/// their disks, and when and how fast the agent may back up.
public struct AgentConfig: Codable, Sendable {
    public struct VM: Codable, Sendable {
        public var name: String
        public var power: ReportedVM.PowerState?
        public var disks: [Disk]
        /// How to snapshot the VM before reading it; absent reads the disks live (not-snapshotted).
        public var snapshot: SnapshotSettings?
    }

    public struct Disk: Codable, Sendable {
        public var path: String
        public var role: ReportedDisk.Role
    }

    /// Hours of the day when backups may start, in a time zone; jobs wait in the vault's queue outside them.
    public struct Window: Codable, Sendable {
        public var start: String
        public var hours: Int
        public var zone: String?
    }

    public var host: String
    public var region: String?
    /// A write-only client's key store (`tresor keys export-public`): no passphrase on the host.
    public var keystore: String
    public var kek: String
    /// Upload limit, e.g. "50MiB" per second; absent means no limit.
    public var bandwidthLimit: String?
    public var backupWindow: Window?
    /// The snapshot tier: where snapshots are kept for instant restore (docs/snapshots.md). Needed by the
    /// qmp and reflink snapshot methods; reflink copies must be on the disks' file system.
    public var snapshotDirectory: String?
    /// Where the change cache lives (docs/formats.md, "Change cache"); absent: the default cache folder.
    public var cacheDirectory: String?
    public var vms: [VM]

    /// Reads and checks a configuration file; every mistake is one clear error naming the file.
    public static func load(path: String) throws -> AgentConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TresorError(.invalidArgument, "cannot read the agent configuration \(path)")
        }
        let config: AgentConfig
        do {
            config = try JSONDecoder().decode(AgentConfig.self, from: data)
        } catch {
            throw TresorError(.invalidArgument, "the agent configuration \(path) is not valid: \(error)",
                              action: "see docs/jobs.md, \"Agent configuration\"")
        }
        try config.validate(path: path)
        return config
    }

    func validate(path: String) throws {
        func fail(_ message: String) -> TresorError { TresorError(.invalidArgument, "\(path): \(message)") }
        guard !self.host.isEmpty else { throw fail("host is empty") }
        var names = Set<String>()
        for vm in self.vms {
            guard names.insert(vm.name).inserted else { throw fail("VM '\(vm.name)' is named twice") }
            guard vm.disks.contains(where: { $0.role == .os }) else { throw fail("VM '\(vm.name)' has no OS disk") }
            guard vm.disks.count(where: { $0.role == .os }) == 1 else { throw fail("VM '\(vm.name)' has more than one OS disk") }
            if let snapshot = vm.snapshot {
                do {
                    try snapshot.validate(vmName: vm.name, hasSnapshotDirectory: self.snapshotDirectory != nil)
                } catch let error as TresorError {
                    throw fail(error.message)
                }
                for mount in snapshot.freeze ?? [] where Self.sameFileSystem(mount, self.snapshotDirectory) {
                    throw fail("VM '\(vm.name)' freezes \(mount), which holds the snapshotDirectory: the agent would wait on itself")
                }
            }
        }
        if let directory = self.snapshotDirectory, !directory.hasPrefix("/") {
            throw fail("snapshotDirectory '\(directory)' is not an absolute path")
        }
        if let limit = self.bandwidthLimit, (ByteSize(argument: limit)?.bytes ?? 0) <= 0 {
            throw fail("bandwidthLimit '\(limit)' is not a size such as 50MiB")
        }
        if let window = self.backupWindow {
            guard LocalTime(parsing: window.start) != nil else { throw fail("backupWindow.start '\(window.start)' is not HH:MM") }
            guard (1...24).contains(window.hours) else { throw fail("backupWindow.hours must be 1 to 24") }
            if let zone = window.zone, !ZoneClock.isKnownZone(zone) { throw fail("backupWindow.zone '\(zone)' is not an IANA time zone") }
        }
    }

    /// Whether `path` and the nearest existing folder of `other` are on one file system.
    private static func sameFileSystem(_ path: String, _ other: String?) -> Bool {
        guard var other else { return false }
        var first = stat(), second = stat()
        guard stat(path, &first) == 0 else { return false }
        while stat(other, &second) != 0 {
            guard let slash = other.lastIndex(of: "/"), slash != other.startIndex else { other = "/"; break }
            other = String(other[..<slash])
        }
        return stat(other, &second) == 0 && first.st_dev == second.st_dev
    }

    public var snapshotTier: SnapshotTier? { self.snapshotDirectory.map { SnapshotTier(root: $0) } }

    public var bandwidthBytesPerSecond: Int? { self.bandwidthLimit.flatMap { ByteSize(argument: $0)?.bytes } }

    /// Whether backups may start at `millis`.
    public func windowIsOpen(atMillis millis: Int64) -> Bool {
        guard let window = self.backupWindow, let start = LocalTime(parsing: window.start) else { return true }
        guard let clock = try? ZoneClock(zone: window.zone ?? "UTC") else { return true }
        let minuteOfDay = clock.local(millis).seconds / 60
        let minutes = (minuteOfDay - (start.hour * 60 + start.minute) + 24 * 60) % (24 * 60)
        return minutes < window.hours * 60
    }
}
