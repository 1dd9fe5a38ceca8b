/// A data key or ID key wrapped under one KEK, stored as its own object (docs/formats.md, "Key wrap").
/// One key has one wrap per KEK; chunk headers and manifests name the key, and any wrap of it serves.
public struct KeyWrapRecord: Codable, Sendable, Equatable {
    public static let format = "tresor-key-wrap"
    public static let currentVersion = 1

    public enum Purpose: String, Codable, Sendable {
        /// A data key (BEK): encrypts chunks.
        case data
        /// The domain's ID key: keys the chunk IDs.
        case id
    }

    public enum Algorithm: String, Codable, Sendable {
        /// RFC 5649 under a symmetric AES-256 KEK.
        case aesKWP = "aes-256-kwp"
        /// Ephemeral X25519 + HKDF-SHA256 + AES-KWP to an X25519 KEK (Keys/README.md).
        case x25519KWP = "x25519-hkdf-sha256-kwp"
    }

    public var format: String = KeyWrapRecord.format
    public var version: Int = KeyWrapRecord.currentVersion
    public var domainID: String
    public var keyID: KeyID
    public var purpose: Purpose
    public var kekID: KeyID
    public var algorithm: Algorithm
    /// Base64 of the wrapped key.
    public var wrapped: String
    public var createdAtMillis: Int64

    public init(domainID: String, keyID: KeyID, purpose: Purpose, kekID: KeyID, algorithm: Algorithm,
                wrapped: [UInt8], createdAtMillis: Int64) {
        self.domainID = domainID
        self.keyID = keyID
        self.purpose = purpose
        self.kekID = kekID
        self.algorithm = algorithm
        self.wrapped = Base64.encode(wrapped)
        self.createdAtMillis = createdAtMillis
    }

    public static func parse(_ bytes: [UInt8], name: String) throws -> KeyWrapRecord {
        try FormatStamp.check(bytes, format: format, supported: currentVersion, what: "key wrap \(name)")
        return try JSON.decode(KeyWrapRecord.self, from: bytes, what: "key wrap \(name)")
    }

    public var wrappedBytes: [UInt8]? { Base64.decode(self.wrapped) }
}
