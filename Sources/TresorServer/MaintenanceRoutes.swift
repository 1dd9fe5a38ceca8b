import Hummingbird
import TresorCore
import TresorEngine

/// Soft delete, undelete and garbage collection for admins; read leases for restores and verifies
/// (docs/server.md, "Deleting and collecting"). Backup tokens delete nothing: a compromised VM cannot
/// destroy its own backups.
struct MaintenanceRoutes {
    let state: ServerState
    private static let readers: Set<Role> = [.admin, .restore]

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.delete("recovery-points/:id") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, [.admin], to: "delete recovery points")
            let id = try context.parameters.require("id")
            return try await state.audited(context, action: "recovery_point.delete", target: id, durable: true) {
                let point = try await state.blocking { try state.service.deleteRecoveryPoint(id, by: caller.id, now: VaultClock.nowMillis) }
                return try HTTPCoding.json(point)
            }
        }
        api.post("recovery-points/:id/undelete") { _, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "undelete recovery points")
            let id = try context.parameters.require("id")
            return try await state.audited(context, action: "recovery_point.undelete", target: id, durable: true) {
                try HTTPCoding.json(try await state.blocking { try state.service.undeleteRecoveryPoint(id) })
            }
        }
        api.post("gc") { _, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "collect garbage")
            return try await state.audited(context, action: "gc", target: "vault", durable: true) {
                try HTTPCoding.json(try await state.blocking { try state.collectGarbage() })
            }
        }
        api.get("leases") { _, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "list read leases")
            return try HTTPCoding.json(state.service.leases.active(now: VaultClock.nowMillis))
        }
        api.post("leases") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "lease recovery points")
            let asked = try await HTTPCoding.decode(LeaseRequest.self, request)
            try await Self.requireReadable(asked.recoveryPoints, caller, state)
            let lease = try await state.blocking {
                try state.service.leases.grant(asked.recoveryPoints, holder: caller.id, now: VaultClock.nowMillis)
            }
            return try HTTPCoding.json(lease, status: .created)
        }
        api.put("leases/:id") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "lease recovery points")
            let id = try Self.leaseID(context)
            let asked = try await HTTPCoding.decode(LeaseRequest.self, request)
            try await Self.requireReadable(asked.recoveryPoints, caller, state)
            let lease = try await state.blocking {
                try state.service.leases.renew(id, points: asked.recoveryPoints, holder: caller.id, now: VaultClock.nowMillis)
            }
            return try HTTPCoding.json(lease)
        }
        api.delete("leases/:id") { _, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "release leases")
            let id = try Self.leaseID(context)
            try await state.blocking { try state.service.leases.release(id, now: VaultClock.nowMillis) }
            return HTTPCoding.noContent()
        }
    }

    /// Lease IDs are UUIDs the vault made; anything else is refused before it reaches the lease file.
    private static func leaseID(_ context: VaultRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        guard ObjectKey.isValidManifestID(id) else { throw TresorError(.requestInvalid, "'\(id)' is not a lease ID") }
        return id
    }

    /// Every point exists and the caller may read it (a token limited to a VM leases that VM's points only).
    private static func requireReadable(_ ids: [String], _ caller: AccessTokenRecord, _ state: ServerState) async throws {
        guard !ids.isEmpty, ids.count <= ServerLimits.maximumLookup else {
            throw TresorError(.requestInvalid, "a lease names 1 to \(ServerLimits.maximumLookup) recovery points")
        }
        try await state.blocking {
            for id in ids {
                guard ObjectKey.isValidManifestID(id), let point = try state.vault.catalog.recoveryPoint(id: id),
                      AccessRules.visible(caller, vmName: point.vmName) else {
                    throw TresorError(.notFound, "the vault has no recovery point '\(id)'")
                }
            }
        }
    }
}
