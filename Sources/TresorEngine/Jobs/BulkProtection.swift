import Foundation
public import TresorCore

extension JobQueue {
    /// Protects VMs in bulk, one job per VM, each ending at once: `completed` ("protected under P", or
    /// "already protected under P": protecting is idempotent) or `failed` with the reason `protect` gave.
    public func protect(_ request: ProtectRequest, now: Int64,
                        protectOne: (_ vmName: String, _ host: String?) throws -> ProtectionRecord) throws -> [JobRecord] {
        guard !request.vmNames.isEmpty else { throw TresorError(.invalidArgument, "name at least one VM to protect") }
        let before = try self.vault.protectionRecords()
        return try request.vmNames.map { name in
            var job = JobRecord(id: UUID().uuidString.lowercased(), kind: .protect, trigger: .onDemand, vmName: name,
                                host: request.host ?? "", createdAtMillis: now)
            job.startedAtMillis = now
            do {
                let record = try protectOne(name, request.host)
                let already = before.contains { $0.vmID == record.vmID && $0.state == .protected && $0.policy == request.policy }
                job.host = record.host
                job.status = .completed
                job.endedAtMillis = now
                job.message = already ? "already protected under \(request.policy)" : "protected under \(request.policy)"
            } catch let error as TresorError {
                job.end(.failed, error.code, error.message, action: error.recommendedAction, at: now)
            }
            try self.store.insert(job)
            return job
        }
    }
}
