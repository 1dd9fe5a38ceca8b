import Hummingbird
import TresorCore
import TresorEngine

/// Backup policies (docs/retention.md): everyone with a status role reads them, admins change them.
struct PolicyRoutes {
    let state: ServerState
    private static let readers: Set<Role> = [.admin, .restore, .reader]

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        let book = PolicyBook(vault: state.vault, now: { VaultClock.nowMillis })
        api.get("policies") { _, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "read policies")
            return try HTTPCoding.json(try await state.blocking { try book.policies() })
        }
        api.get("policies/:name") { _, context in
            try AccessRules.require(try context.requireCaller(), Self.readers, to: "read policies")
            let name = try context.parameters.require("name")
            return try HTTPCoding.json(try await state.blocking { try book.policy(named: name) })
        }
        api.post("policies") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "create policies")
            let policy = try await HTTPCoding.decode(BackupPolicy.self, request)
            return try await state.audited(context, action: "policy.create", target: policy.name, durable: true) {
                try HTTPCoding.json(try await state.blocking { try book.create(policy) }, status: .created)
            }
        }
        api.put("policies/:name") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "change policies")
            let name = try context.parameters.require("name")
            let policy = try await HTTPCoding.decode(BackupPolicy.self, request)
            guard policy.name == name else {
                throw TresorError(.requestInvalid, "the body names policy '\(policy.name)', the path '\(name)'")
            }
            return try await state.audited(context, action: "policy.update", target: name, durable: true) {
                try HTTPCoding.json(try await state.blocking { try book.update(policy) })
            }
        }
    }
}
