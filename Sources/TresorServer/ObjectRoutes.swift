import HTTPTypes
import Hummingbird
import NIOCore
import TresorChunkStore
import TresorCore
import TresorEngine

/// Stored objects by path, read-only, for restore and verify: the client opens and checks them with keys
/// the vault never sees.
struct ObjectRoutes {
    let state: ServerState

    func register(_ api: RouterGroup<VaultRequestContext>) {
        let state = self.state
        api.get("objects/**") { _, context in
            let key = try await Self.readableKey(context, state)
            do {
                let body = try await state.blocking { try Self.read(key, state) }
                state.metrics.served(bytes: body.readableBytes)
                return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(byteBuffer: body))
            } catch let error as TresorError where error.code == .missingObject {
                throw TresorError(.notFound, "the vault holds no object \(key.path)")
            }
        }
        // The size alone (x-tresor-size), or 404: what `ObjectStore.size(of:)` asks.
        api.head("objects/**") { _, context in
            let key = try await Self.readableKey(context, state)
            guard let size = try await state.blocking({ try state.vault.store.size(of: key) }) else {
                return Response(status: .notFound)
            }
            return Response(status: .ok, headers: [HTTPField.Name.tresorSize: String(size)])
        }
        api.get("listing/**") { _, context in
            let folder = try await Self.readableKey(context, state).path
            let keys = try await state.blocking { try state.vault.store.list(folder: folder) }
            return try HTTPCoding.json(ObjectListing(paths: keys.map(\.path)))
        }
    }

    /// An object read with direct I/O straight into the response's buffer (AlignedByteBuffer), as a local
    /// restore reads it: objects are written with direct I/O, and reading them through the page cache
    /// would fill it for nothing.
    private static func read(_ key: ObjectKey, _ state: ServerState) throws -> ByteBuffer {
        guard let size = try state.vault.store.size(of: key) else {
            throw TresorError(.notFound, "the vault holds no object \(key.path)")
        }
        return try AlignedByteBuffer.make(capacity: size) { try state.vault.store.read(key, into: $0) }
    }

    /// The object (or folder) a call names, once the caller may read it.
    private static func readableKey(_ context: VaultRequestContext, _ state: ServerState) async throws -> ObjectKey {
        let key = try Self.objectKey(context)
        let caller = try context.requireCaller()
        try await state.blocking { try AccessRules.requireObjectRead(caller, path: key.path, vault: state.vault) }
        return key
    }

    /// The object path after the route's prefix, refused unless it lies inside the store's layout and
    /// uses only the characters the layout's names use.
    private static func objectKey(_ context: VaultRequestContext) throws -> ObjectKey {
        let path = context.parameters.getCatchAll().joined(separator: "/")
        let allowed = path.utf8.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || [0x2D, 0x2E, 0x5F, 0x2F].contains($0)
        }
        guard allowed, let key = ObjectKey(listedPath: path),
              path.hasPrefix(ObjectKey.domainsFolder + "/") || path.hasPrefix(ObjectKey.manifestsFolder + "/") || path == ObjectKey.manifestsFolder
        else { throw TresorError(.requestInvalid, "'\(path)' is not an object path of the vault's layout") }
        return key
    }
}

extension HTTPField.Name {
    /// An object's size, answered to HEAD.
    static let tresorSize = HTTPField.Name("x-tresor-size")!
    /// CRC-32C (8 hex digits) of an uploaded body: the transport checksum.
    static let tresorCRC32C = HTTPField.Name("x-tresor-crc32c")!
    /// On an agent's empty poll: a discovery waits for this agent's report.
    static let tresorReportRequested = HTTPField.Name("x-tresor-report-requested")!
    /// Every error answer's code, also where no body is sent (HEAD).
    static let tresorErrorCode = HTTPField.Name("x-tresor-error")!
}
