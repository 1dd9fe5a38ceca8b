import Hummingbird
import TresorCore
import TresorEngine

/// Protection of VMs under policies (docs/retention.md, "Protection"): admins change it, status roles
/// read it; a VM-limited token sees its VM only.
struct ProtectionRoutes {
    let state: ServerState
    private static let readers: Set<Role> = [.admin, .restore, .reader]

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.get("protection") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "read protection")
            let records = try await state.blocking { try state.service.protections() }
            return try HTTPCoding.json(records.filter { AccessRules.visible(caller, vmName: $0.vmName) })
        }
        api.put("protection/:vm") { request, context in
            try AccessRules.require(try context.requireCaller(), [.admin], to: "protect VMs")
            let vm = try context.parameters.require("vm")
            let host = request.uri.queryParameters["host"].map(String.init)
            guard let policy = try await HTTPCoding.decode(ProtectionRequest.self, request).policy else {
                throw TresorError(.requestInvalid, "name the policy: {\"policy\": NAME}")
            }
            return try await state.audited(context, action: "vm.protect", target: "\(vm) with \(policy)", durable: true) {
                try HTTPCoding.json(try await state.blocking {
                    try state.service.protect(vmName: vm, host: host, policy: policy, now: VaultClock.nowMillis)
                })
            }
        }
        api.delete("protection/:vm") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, [.admin], to: "stop protection")
            let vm = try context.parameters.require("vm")
            let host = request.uri.queryParameters["host"].map(String.init)
            let data = request.uri.queryParameters["data"].map(String.init) ?? "retain"
            guard data == "retain" || data == "delete" else { throw TresorError(.requestInvalid, "data= takes retain or delete") }
            return try await state.audited(context, action: "vm.stop_protection", target: "\(vm), data \(data)", durable: true) {
                try HTTPCoding.json(try await state.blocking {
                    try state.service.stopProtection(vmName: vm, host: host, deleteData: data == "delete", by: caller.id, now: VaultClock.nowMillis)
                })
            }
        }
    }
}
