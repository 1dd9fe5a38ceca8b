import TresorCore
import TresorEngine

/// Who may do what (docs/server.md, "Roles"). Every route names the roles it admits; a token limited to a
/// VM sees and touches that VM's data only.
enum AccessRules {
    static func require(_ caller: AccessTokenRecord, _ roles: Set<Role>, to what: String) throws {
        guard roles.contains(caller.role) else {
            throw TresorError(.forbidden, "a \(caller.role.rawValue) token may not \(what)",
                              action: "use a token of role \(roles.map(\.rawValue).sorted().joined(separator: " or "))")
        }
    }

    /// A token limited to one VM may act on that VM only.
    static func requireVM(_ caller: AccessTokenRecord, name: String) throws {
        if let scope = caller.vmName, scope != name {
            throw TresorError(.forbidden, "this token is limited to VM '\(scope)', not '\(name)'")
        }
    }

    /// An agent token acts for its own host's VMs only.
    static func requireHost(_ caller: AccessTokenRecord, host: String) throws {
        guard caller.role == .agent else { return }
        guard let scope = caller.hostName, scope == host else {
            throw TresorError(.forbidden, "this agent token speaks for host '\(caller.hostName ?? "-")', not '\(host)'")
        }
    }

    static func visible(_ caller: AccessTokenRecord, vmName: String) -> Bool {
        caller.vmName == nil || caller.vmName == vmName
    }

    /// Reading a stored object by path: whole recovery points (chunks, pages, wraps, manifests) are for
    /// restore and admin tokens; a limited token reads only its VM's domain and manifests.
    static func requireObjectRead(_ caller: AccessTokenRecord, path: String, vault: Vault) throws {
        try Self.require(caller, [.admin, .restore], to: "read stored objects")
        guard let scope = caller.vmName else { return }
        let vms = try vault.catalog.findVM(name: scope, host: nil)
        if let id = ObjectKey(listedPath: path)?.manifestID {
            guard let point = try vault.catalog.recoveryPoint(id: id), vms.contains(where: { $0.id == point.vmID }) else {
                throw TresorError(.forbidden, "this token is limited to VM '\(scope)'")
            }
            return
        }
        let parts = path.split(separator: "/")
        guard parts.count >= 2, parts[0] == "domains", vms.contains(where: { $0.domainID.rawValue == parts[1] }) else {
            throw TresorError(.forbidden, "this token is limited to VM '\(scope)'")
        }
    }
}
