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

    /// One chunk object of the largest chunk size, with room for its header and tag; everything else the
    /// API takes is smaller.
    public var maxUploadSize: Int { ServerLimits.maximumBody }

    /// The authenticated caller; routes behind the token middleware always have one.
    func requireCaller() throws -> AccessTokenRecord {
        guard let caller = self.caller else { throw TresorError(.missingToken, "this call needs a token") }
        return caller
    }
}

enum ServerLimits {
    /// A chunk batch holding the largest chunk object (a single chunk's upload is smaller still).
    static let maximumBody = ChunkBatch.maximumBytes
    /// IDs per lookup request.
    static let maximumLookup = 4096
}
