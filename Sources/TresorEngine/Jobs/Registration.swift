import Foundation
public import TresorCore
import TresorCrypto

/// A VM registered with the vault: reported by its host's agent, in the vault's region, with a disk count
/// the vault accepts (docs/jobs.md, "Registration"). Stored in the store, so a rebuilt catalog keeps it.
public struct RegistrationRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-registration"
    public var format = RegistrationRecord.format
    public var version = 1
    public var vmName: String
    public var host: String
    public var region: String
    public var registeredAtMillis: Int64

    public init(vmName: String, host: String, region: String, registeredAtMillis: Int64) {
        self.vmName = vmName
        self.host = host
        self.region = region
        self.registeredAtMillis = registeredAtMillis
    }

    /// Azure Backup protects VMs with up to 32 data disks.
    public static let maximumDataDisks = 32

    static func key(vmName: String, host: String) -> ObjectKey {
        let digest = Array((host + "\u{0}" + vmName).utf8).withUnsafeBytes { Hex.encode(SHA256.hash($0)) }
        return .registration(digest: digest)
    }
}

extension Vault {
    public func registrations() throws -> [RegistrationRecord] {
        try self.store.list(folder: ObjectKey.registrationsFolder).filter { $0.path.hasSuffix(".json") }.map { key in
            let bytes = try self.store.get(key)
            try FormatStamp.check(bytes, format: RegistrationRecord.format, supported: 1, what: "registration \(key.path)")
            return try JSON.decode(RegistrationRecord.self, from: bytes, what: key.path)
        }.sorted { ($0.vmName, $0.host) < ($1.vmName, $1.host) }
    }

    func registration(vmName: String, host: String) throws -> RegistrationRecord? {
        try self.registrations().first { $0.vmName == vmName && $0.host == host }
    }

    func write(_ record: RegistrationRecord) throws {
        try self.store.putDurably(RegistrationRecord.key(vmName: record.vmName, host: record.host), bytes: try JSON.encode(record))
    }
}

extension JobQueue {
    /// Registers VMs in bulk, one job per VM, each ending at once: `completed` (registered now, or already),
    /// or `failed` with the check that refused it. Names no agent reports fail the whole request.
    public func register(_ request: RegisterRequest, vaultRegion: String, now: Int64) throws -> [JobRecord] {
        guard !request.vmNames.isEmpty else { throw TresorError(.invalidArgument, "name at least one VM to register") }
        let targets = try request.vmNames.map { try self.reportedVM(name: $0, host: request.host) }
        return try targets.map { vm, agent in
            var job = JobRecord(id: UUID().uuidString.lowercased(), kind: .register, trigger: .onDemand, vmName: vm.name,
                                host: agent.report.host, createdAtMillis: now)
            job.startedAtMillis = now
            let dataDisks = vm.disks.count { $0.role == .data }
            if try self.vault.registration(vmName: vm.name, host: agent.report.host) != nil {
                job.status = .completed
                job.endedAtMillis = now
                job.message = "already registered"
            } else if let problem = VMNaming.problem(vmName: vm.name, host: agent.report.host) {
                // Registered, such a VM could never be backed up: the backup's session refuses the names.
                job.end(.failed, .invalidArgument, problem, action: "rename the VM in its agent's configuration", at: now)
            } else if agent.report.region != vaultRegion {
                job.end(.failed, .regionMismatch, "VM '\(vm.name)' is in region \(agent.report.region ?? "(none)"); this vault serves \(vaultRegion)",
                        action: "register it with a vault of its region", at: now)
            } else if !agent.isRunning(now: now) {
                job.end(.failed, .agentNotRunning, "VM '\(vm.name)' is not in a state to be registered: the agent on \(agent.report.host) is not running",
                        action: "start `tresor agent` on \(agent.report.host), then register again", at: now)
            } else if dataDisks > RegistrationRecord.maximumDataDisks {
                job.end(.failed, .tooManyDisks, "VM '\(vm.name)' has \(dataDisks) data disks; at most \(RegistrationRecord.maximumDataDisks) are supported",
                        action: "detach data disks, or mark disks that need no backup as temporary in the agent's configuration", at: now)
            } else {
                try self.vault.write(RegistrationRecord(vmName: vm.name, host: agent.report.host, region: vaultRegion, registeredAtMillis: now))
                job.status = .completed
                job.endedAtMillis = now
                job.message = "registered"
            }
            try self.store.insert(job)
            return job
        }
    }
}
