/// Where an object lives in a chunk store, as a relative path (docs/formats.md, "Vault layout"):
///
/// ```
/// domains/<domain>/chunks/<ab>/<chunk ID>        chunk objects
/// domains/<domain>/index/<ab>/<sha-256>          index pages
/// domains/<domain>/keys/<key ID>/<KEK ID>.wrap   key wraps
/// manifests/<recovery point ID>.manifest          signed manifests
/// ```
/// Chunks and pages sit under their key domain, so "already stored" is answered within a domain only.
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible {
    public let path: String

    private init(path: String) { self.path = path }

    public var description: String { self.path }

    public static func chunk(domain: DomainID, id: ChunkID) -> ObjectKey {
        let hex = id.hex
        return ObjectKey(path: "domains/\(domain)/chunks/\(hex.prefix(2))/\(hex)")
    }

    public static func indexPage(domain: DomainID, sha256 hex: String) -> ObjectKey {
        ObjectKey(path: "domains/\(domain)/index/\(hex.prefix(2))/\(hex)")
    }

    public static func keyWrap(domain: DomainID, keyID: KeyID, kekID: KeyID) -> ObjectKey {
        ObjectKey(path: "domains/\(domain)/keys/\(keyID.hex)/\(kekID.hex).wrap")
    }

    /// The soft-delete record of a recovery point, beside its manifest (docs/formats.md, "Soft delete").
    public static func softDelete(recoveryPoint id: String) -> ObjectKey {
        ObjectKey(path: "manifests/\(id).deleted")
    }

    /// The recovery point a soft-delete record names, or nil for any other object.
    public var softDeletedID: String? {
        guard self.path.hasPrefix(Self.manifestsFolder + "/"), self.path.hasSuffix(".deleted") else { return nil }
        return String(self.path.dropFirst(Self.manifestsFolder.count + 1).dropLast(".deleted".count))
    }

    /// A backup policy (docs/formats.md, "Policy"); policy names are letters, digits, '-' and '_'.
    public static func policy(named name: String) -> ObjectKey {
        ObjectKey(path: "policies/\(name).json")
    }

    public static let policiesFolder = "policies"

    /// A VM's protection: which policy it follows (docs/formats.md, "Protection").
    public static func protection(vmID: String) -> ObjectKey {
        ObjectKey(path: "protection/\(vmID).json")
    }

    public static let protectionFolder = "protection"

    /// How long an on-demand ("backup now") recovery point is kept (docs/formats.md, "On-demand retention").
    public static func onDemandKeep(recoveryPoint id: String) -> ObjectKey {
        ObjectKey(path: "retention/\(id).json")
    }

    public static let retentionFolder = "retention"

    /// A registered VM (docs/formats.md, "Registration"), named by the SHA-256 (hex) of "host NUL name" so
    /// that any host and VM name is a safe file name.
    public static func registration(digest: String) -> ObjectKey {
        ObjectKey(path: "registrations/\(digest).json")
    }

    public static let registrationsFolder = "registrations"

    /// The vault's storage quotas (docs/formats.md, "Quotas").
    public static let quotas = ObjectKey(path: "quotas/quotas.json")

    public static func manifest(recoveryPoint id: String) -> ObjectKey {
        ObjectKey(path: "manifests/\(id).manifest")
    }

    /// The recovery point a manifest key names, or nil for any other object.
    public var manifestID: String? {
        guard self.path.hasPrefix(Self.manifestsFolder + "/"), self.path.hasSuffix(".manifest") else { return nil }
        return String(self.path.dropFirst(Self.manifestsFolder.count + 1).dropLast(".manifest".count))
    }

    /// Recovery point IDs are lower-case UUIDs; anything that is safe as a file name of that alphabet is
    /// accepted, so an ID from a client can never name a path outside `manifests/`.
    public static func isValidManifestID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D }
    }

    /// Folders that `list` walks.
    public static func chunksFolder(domain: DomainID) -> String { "domains/\(domain)/chunks" }
    public static func keysFolder(domain: DomainID) -> String { "domains/\(domain)/keys" }
    public static let domainsFolder = "domains"
    public static let manifestsFolder = "manifests"

    /// Rebuilds a key from a listed path, refusing anything outside the layout.
    public init?(listedPath: String) {
        let parts = listedPath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        self.path = listedPath
    }
}

/// A key domain's name: the trust boundary for deduplication. Lower-case letters, digits and '-',
/// 1 to 64 characters, so it is safe as a path component.
public struct DomainID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws {
        guard Self.isValid(rawValue) else {
            throw TresorError(.invalidArgument, "'\(rawValue)' is not a valid key domain name (a-z, 0-9 and '-', at most 64)")
        }
        self.rawValue = rawValue
    }

    public static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: "-")
        }
    }

    /// The default domain of a VM: its own, so nothing it stores is shared with another VM.
    public static func forVM(id: String) -> DomainID {
        try! DomainID("vm-" + id.lowercased())  // a UUID string is always valid
    }

    public var description: String { self.rawValue }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(self.rawValue)
    }
}
