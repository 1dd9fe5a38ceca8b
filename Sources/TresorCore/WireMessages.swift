/// JSON bodies of the vault's HTTP API that are not records of their own (docs/server.md).

/// Every error response: `{"error": {"code": ..., "message": ..., "action": ...}}`.
public struct ErrorEnvelope: Codable, Sendable {
    public struct Body: Codable, Sendable {
        public var code: String
        public var message: String
        public var action: String?
    }

    public var error: Body

    public init(_ error: TresorError) {
        self.error = Body(code: error.code.rawValue, message: error.message, action: error.recommendedAction)
    }

    public var tresorError: TresorError {
        TresorError(TresorError.Code(self.error.code), self.error.message, action: self.error.action)
    }
}

public struct LookupRequest: Codable, Sendable {
    public var ids: [ChunkID]
    public init(ids: [ChunkID]) { self.ids = ids }
}

/// `POST /v1/chunk-reads`: chunk objects of one domain, answered as a ChunkReadBatch body.
public struct ChunkReadRequest: Codable, Sendable {
    public var domain: DomainID
    public var ids: [ChunkID]
    public init(domain: DomainID, ids: [ChunkID]) {
        self.domain = domain
        self.ids = ids
    }
}

/// `POST /v1/chunk-sizes` answers the same request: each chunk object's size, for a verify's structure check.
public struct ChunkSizesResponse: Codable, Sendable {
    /// Per asked ID, the object's size in bytes, or null when the vault holds no such object.
    public var sizes: [Int?]
    public init(sizes: [Int?]) { self.sizes = sizes }

    /// The most IDs one request may name.
    public static let maximumIDs = 1024
}

public struct LookupResponse: Codable, Sendable {
    /// Per asked ID, the stored chunk's data key, or null when the vault lacks it.
    public var keys: [KeyID?]
    /// Per asked ID, the data key of a delta chunk's base (null otherwise).
    public var baseKeys: [KeyID?]?
    public init(keys: [KeyID?], baseKeys: [KeyID?]? = nil) {
        self.keys = keys
        self.baseKeys = baseKeys
    }

    public init(_ answers: [StoredChunkKeys?]) {
        self.init(keys: answers.map { $0?.dataKey }, baseKeys: answers.map { $0?.baseDataKey })
    }

    /// The answers as keys, checked against the number asked.
    public func answers(asked: Int) throws -> [StoredChunkKeys?] {
        guard self.keys.count == asked, self.baseKeys.map({ $0.count == asked }) ?? true else {
            throw TresorError(.serverError, "the vault answered \(self.keys.count) of \(asked) lookups")
        }
        return self.keys.indices.map { i in self.keys[i].map { StoredChunkKeys(dataKey: $0, baseDataKey: self.baseKeys?[i]) } }
    }
}

public struct IndexPageStored: Codable, Sendable {
    public var added: Bool
    public init(added: Bool) { self.added = added }
}

/// The answer to deleting a retired KEK's wraps.
public struct KeyWrapsDeleted: Codable, Sendable {
    public var deleted: Int
    public init(deleted: Int) { self.deleted = deleted }
}

public struct VaultSummary: Codable, Sendable {
    public var vaultID: String
    public var region: String
    public var usage: CatalogUsage
    public var openSessions: Int
    public init(vaultID: String, region: String, usage: CatalogUsage, openSessions: Int) {
        self.vaultID = vaultID
        self.region = region
        self.usage = usage
        self.openSessions = openSessions
    }
}

/// Object paths a listing returned.
public struct ObjectListing: Codable, Sendable {
    public var paths: [String]
    public init(paths: [String]) { self.paths = paths }
}
