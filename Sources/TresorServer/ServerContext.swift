public import Hummingbird
import NIOCore
import TresorCore

/// Per request: the caller, once the token middleware has authenticated it.
public struct VaultRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    var caller: AccessTokenRecord?
    /// The request's connection, whose read size an upload widens while it holds a slot.
    let channel: any Channel

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// For bodies Hummingbird collects: none is larger than one chunk object (`ServerLimits.maximumBody`).
    public var maxUploadSize: Int { ServerLimits.maximumBody }

    /// The authenticated caller; routes behind the token middleware always have one.
    func requireCaller() throws -> AccessTokenRecord {
        guard let caller = self.caller else { throw TresorError(.missingToken, "this call needs a token") }
        return caller
    }
}

enum ServerLimits {
    /// A chunk batch (`POST …/chunks`), the largest body the API takes.
    static let maximumBatch = ChunkBatch.maximumBytes
    /// Any other body: at most one chunk object of the largest chunk size, header and tag included.
    static let maximumBody = ChunkBatch.maximumObject
    /// IDs per lookup request.
    static let maximumLookup = 4096
}
