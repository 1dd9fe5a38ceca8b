import Hummingbird
import TresorCore
import TresorEngine

/// Key maintenance for admins (docs/server.md, "Key maintenance"): list the wraps made for a KEK, add
/// wraps (a recovery KEK's, a rotated KEK's, a new data key's), delete a retired KEK's wraps. Only wraps
/// pass; the operator's process unwraps and wraps keys, the vault never holds one in the clear.
struct KeyRoutes {
    let state: ServerState

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        let wraps = VaultKeyWraps(vault: state.vault)
        api.get("key-wraps") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "read key wraps")
            let kek = try Self.kek(request)
            return try HTTPCoding.json(try await state.blocking { try wraps.wraps(madeFor: kek) })
        }
        api.post("key-wraps") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "store key wraps")
            let records = try await HTTPCoding.decode([KeyWrapRecord].self, request, limit: ServerLimits.maximumBody)
            return try await state.audited(context, action: "wraps.store", target: "\(records.count) wraps", durable: true) {
                try await state.blocking { try wraps.store(records) }
                return HTTPCoding.noContent()
            }
        }
        api.delete("key-wraps") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "delete key wraps")
            let kek = try Self.kek(request)
            return try await state.audited(context, action: "wraps.delete", target: "KEK \(kek)", durable: true) {
                let deleted = try await state.blocking { try wraps.deleteWraps(madeFor: kek) }
                return try HTTPCoding.json(KeyWrapsDeleted(deleted: deleted))
            }
        }
    }

    /// The `kek` query parameter: one KEK ID.
    private static func kek(_ request: Request) throws -> KeyID {
        guard let text = request.uri.queryParameters["kek"], let id = KeyID(hex: String(text)) else {
            throw TresorError(.requestInvalid, "name the KEK with ?kek= (32 hex digits)")
        }
        return id
    }
}
