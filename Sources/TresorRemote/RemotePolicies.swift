import NIOCore
import NIOHTTP1
public import TresorCore
public import TresorEngine

/// A served vault's policies (`/v1/policies`); the checks and the clock are the server's.
public struct RemotePolicies: PolicyStore {
    let connection: VaultConnection

    public func policies() throws -> [PolicyRecord] {
        try self.connection.getJSON([PolicyRecord].self, "/v1/policies")
    }

    public func policy(named name: String) throws -> PolicyRecord {
        try self.connection.getJSON(PolicyRecord.self, "/v1/policies/\(VaultConnection.escape(name))")
    }

    public func create(_ policy: BackupPolicy) throws -> PolicyRecord {
        try self.connection.postJSON(PolicyRecord.self, "/v1/policies", policy)
    }

    public func update(_ policy: BackupPolicy) throws -> PolicyRecord {
        try VaultConnection.decode(PolicyRecord.self, try self.connection.send(
            .PUT, "/v1/policies/\(VaultConnection.escape(policy.name))", body: ByteBuffer(bytes: try JSON.encode(policy)),
            contentType: "application/json"))
    }
}
