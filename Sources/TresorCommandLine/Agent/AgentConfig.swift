import Foundation
public import TresorCore

/// `tresor agent --config FILE` (docs/jobs.md, "Agent configuration"): the host, its key store, its VMs and
/// their disks, and when and how fast the agent may back up.
public struct AgentConfig: Codable, Sendable {
    public struct VM: Codable, Sendable {
        public var name: String
        public var power: ReportedVM.PowerState?
        public var disks: [Disk]
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
