import NIOCore
import NIOHTTP1
public import TresorCore
public import TresorEngine

/// A served vault's key wraps, through its admin routes (`/v1/key-wraps`); the checks are the server's.
public struct RemoteKeyWraps: KeyWrapStore {
    let connection: VaultConnection
    /// Wraps per request, well inside the server's body limit (a wrap is a few hundred bytes of JSON).
    static let batch = 1000

    public init(connection: VaultConnection) {
        self.connection = connection
    }

    public func wraps(madeFor kekID: KeyID) throws -> [KeyWrapRecord] {
        try self.connection.getJSON([KeyWrapRecord].self, "/v1/key-wraps?kek=\(kekID.hex)")
    }

    public func store(_ wraps: [KeyWrapRecord]) throws {
        for start in stride(from: 0, to: wraps.count, by: Self.batch) {
            let part = Array(wraps[start..<min(start + Self.batch, wraps.count)])
            _ = try self.connection.send(.POST, "/v1/key-wraps", body: ByteBuffer(bytes: try JSON.encode(part)), contentType: "application/json")
        }
    }

    public func deleteWraps(madeFor kekID: KeyID) throws -> Int {
        try VaultConnection.decode(KeyWrapsDeleted.self, try self.connection.send(.DELETE, "/v1/key-wraps?kek=\(kekID.hex)")).deleted
    }
}
