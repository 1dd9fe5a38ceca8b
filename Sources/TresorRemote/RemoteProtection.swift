import NIOCore
import NIOHTTP1
import TresorCore
public import TresorEngine

/// A served vault's protection routes (`/v1/protection`).
public struct RemoteProtection: ProtectionStore {
    let connection: VaultConnection

    public func protections() throws -> [ProtectionRecord] {
        try self.connection.getJSON([ProtectionRecord].self, "/v1/protection")
    }

    public func protect(vmName: String, host: String?, policy: String) throws -> ProtectionRecord {
        try VaultConnection.decode(ProtectionRecord.self, try self.connection.send(
            .PUT, Self.path(vmName, host), body: ByteBuffer(bytes: try JSON.encode(ProtectionRequest(policy: policy))),
            contentType: "application/json"))
    }

    public func stopProtection(vmName: String, host: String?, deleteData: Bool) throws -> ProtectionRecord {
        try VaultConnection.decode(ProtectionRecord.self, try self.connection.send(
            .DELETE, Self.path(vmName, host) + "\(host == nil ? "?" : "&")data=\(deleteData ? "delete" : "retain")"))
    }

    private static func path(_ vmName: String, _ host: String?) -> String {
        "/v1/protection/\(VaultConnection.escape(vmName))" + (host.map { "?host=\(VaultConnection.escape($0))" } ?? "")
    }
}
