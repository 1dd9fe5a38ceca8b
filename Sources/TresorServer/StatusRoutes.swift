import Hummingbird
import TresorChunkStore
import TresorCore
import TresorEngine

/// The vault's summary and catalog, read-only: what `tresor list` and a restore's lookups need.
struct StatusRoutes {
    let state: ServerState
    private static let readers: Set<Role> = [.admin, .restore, .reader]

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.get("vault") { _, context in
            _ = try context.requireCaller()
            let summary = try await state.blocking {
                VaultSummary(vaultID: state.vault.id, region: state.directory.config.region, usage: try state.vault.catalog.usage(),
                             openSessions: state.service.openSessionCount)
            }
            return try HTTPCoding.json(summary)
        }
        api.get("vms") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "list VMs")
            guard let name = request.uri.queryParameters["name"].map(String.init) else {
                throw TresorError(.requestInvalid, "name the VM: /v1/vms?name=NAME[&host=HOST]")
            }
            let host = request.uri.queryParameters["host"].map(String.init)
            let vms = try await state.blocking { try state.vault.catalog.findVM(name: name, host: host) }
            return try HTTPCoding.json(vms.filter { AccessRules.visible(caller, vmName: $0.name) })
        }
        api.get("vms/:vm") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "read VMs")
            let id = try context.parameters.require("vm")
            guard let vm = try await state.blocking({ try state.vault.catalog.vm(id: id) }), AccessRules.visible(caller, vmName: vm.name) else {
                throw TresorError(.notFound, "the vault has no VM \(id)")
            }
            return try HTTPCoding.json(vm)
        }
        api.get("vms/:vm/disks") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "read VMs")
            let id = try context.parameters.require("vm")
            let disks = try await state.blocking { () -> [DiskRecord] in
                guard let vm = try state.vault.catalog.vm(id: id), AccessRules.visible(caller, vmName: vm.name) else { return [] }
                return try state.vault.catalog.disks(vmID: id)
            }
            return try HTTPCoding.json(disks)
        }
        api.get("recovery-points") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "list recovery points")
            let vmID = request.uri.queryParameters["vm"].map(String.init)
            let points = try await state.blocking { try state.vault.catalog.recoveryPoints(vmID: vmID) }
            return try HTTPCoding.json(points.filter { AccessRules.visible(caller, vmName: $0.vmName) })
        }
        api.get("recovery-points/:id") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, Self.readers, to: "read recovery points")
            let id = try context.parameters.require("id")
            guard let point = try await state.blocking({ try state.vault.catalog.recoveryPoint(id: id) }),
                  AccessRules.visible(caller, vmName: point.vmName)
            else { throw TresorError(.notFound, "the vault has no recovery point \(id)") }
            return try HTTPCoding.json(point)
        }
        api.get("domains/:domain/data-keys") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, [.admin, .restore], to: "read key records")
            let domain = try DomainID(try context.parameters.require("domain"))
            return try HTTPCoding.json(try await state.blocking { try state.vault.catalog.dataKeys(domain: domain) })
        }
        api.get("domains/:domain/bad-chunks") { _, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, [.admin, .restore], to: "read chunk records")
            let domain = try DomainID(try context.parameters.require("domain"))
            return try HTTPCoding.json(try await state.blocking { try state.vault.catalog.badChunks(domain: domain).sorted() })
        }
        // Verify, run by a key holder, reports chunks it found damaged: later backups upload them again.
        api.post("domains/:domain/bad-chunks") { request, context in
            let caller = try context.requireCaller()
            try AccessRules.require(caller, [.admin, .restore], to: "mark chunks bad")
            let domain = try DomainID(try context.parameters.require("domain"))
            let ids = try await HTTPCoding.decode([ChunkID].self, request)
            try state.record(context, action: "chunks.mark_bad", target: "domain \(domain): \(ids.count) chunks", result: "ok", durable: true)
            try await state.blocking { try state.vault.catalog.markBad(domain: domain, ids: ids) }
            return HTTPCoding.noContent()
        }
    }
}
