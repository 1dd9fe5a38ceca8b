/// What a recovery point is: the body its client signs (docs/formats.md, "Manifest").
///
/// It covers everything a restore trusts: which VM and disks, in which order and of which sizes, the
/// chunk size, the SHA-256 of every index page, a commitment to every data key and to the domain's ID
/// key, the hash of the VM's previous manifest and a per-VM sequence number.
public struct ManifestBody: Codable, Sendable, Equatable {
    public static let format = "tresor-manifest"
    public static let currentVersion = 1

    public var format: String = ManifestBody.format
    public var version: Int = ManifestBody.currentVersion
    public var recoveryPointID: String
    public var vaultID: String
    public var vm: VMIdentity
    public var domainID: String
    public var sequence: UInt64
    /// SHA-256 (hex) of the previous recovery point's signed manifest object, nil for the first.
    public var previousManifest: String?
    public var createdAtMillis: Int64
    public var chunkSize: Int
    /// How the disks were read: "not-snapshotted" until snapshot providers exist.
    public var consistency: String
    public var disks: [DiskEntry]
    public var dataKeys: [KeyCommitment]
    public var idKeyCommitment: String
    public var stats: BackupStats

    public init(recoveryPointID: String, vaultID: String, vm: VMIdentity, domainID: String, sequence: UInt64,
                previousManifest: String?, createdAtMillis: Int64, chunkSize: Int, consistency: String,
                disks: [DiskEntry], dataKeys: [KeyCommitment], idKeyCommitment: String, stats: BackupStats) {
        self.recoveryPointID = recoveryPointID
        self.vaultID = vaultID
        self.vm = vm
        self.domainID = domainID
        self.sequence = sequence
        self.previousManifest = previousManifest
        self.createdAtMillis = createdAtMillis
        self.chunkSize = chunkSize
        self.consistency = consistency
        self.disks = disks
        self.dataKeys = dataKeys
        self.idKeyCommitment = idKeyCommitment
        self.stats = stats
    }
}

public struct VMIdentity: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var host: String
    public init(id: String, name: String, host: String) {
        self.id = id
        self.name = name
        self.host = host
    }
}

public struct DiskEntry: Codable, Sendable, Equatable {
    /// Position in the order the disks were given, from 0.
    public var position: Int
    public var id: String
    public var name: String
    public var source: String
    public var size: Int64
    public var chunkCount: Int
    public var zeroChunks: Int
    public var indexPages: [String]

    public init(position: Int, id: String, name: String, source: String, size: Int64, chunkCount: Int,
                zeroChunks: Int, indexPages: [String]) {
        self.position = position
        self.id = id
        self.name = name
        self.source = source
        self.size = size
        self.chunkCount = chunkCount
        self.zeroChunks = zeroChunks
        self.indexPages = indexPages
    }
}

/// Names a data key the recovery point's chunks use. Keys this backup created carry a commitment to
/// their value, `HMAC-SHA256(key, "tresor/key-commitment/v1")`; keys inherited from earlier backups are
/// named only (a write-only client cannot unwrap them to commit).
public struct KeyCommitment: Codable, Sendable, Equatable {
    public var id: KeyID
    public var commitment: String?
    public init(id: KeyID, commitment: String?) {
        self.id = id
        self.commitment = commitment
    }
}

public struct BackupStats: Codable, Sendable, Equatable {
    public var bytesRead: Int64 = 0
    public var bytesStored: Int64 = 0
    public var indexBytesAdded: Int64 = 0
    public var chunksNew: Int = 0
    public var chunksReused: Int = 0
    public var chunksZero: Int = 0
    public init() {}
}

/// The stored form of a recovery point: the exact body bytes, who signed them and the signature.
/// The signature covers `"tresor-manifest-v1\0" || body`, so it cannot be replayed as anything else.
public struct SignedManifest: Codable, Sendable {
    public static let format = "tresor-signed-manifest"
    public static let currentVersion = 1
    public static let signingContext = Array("tresor-manifest-v1\u{0}".utf8)

    public var format: String = SignedManifest.format
    public var version: Int = SignedManifest.currentVersion
    /// Base64 of the body's JSON bytes.
    public var body: String
    /// Hex of the client's Ed25519 verify key.
    public var signer: String
    /// Base64 of the Ed25519 signature.
    public var signature: String
    /// Present when the signer is a backup client: the operator's signing key vouches for it.
    public var certificate: SignerCertificate?

    public init(body: String, signer: String, signature: String, certificate: SignerCertificate?) {
        self.body = body
        self.signer = signer
        self.signature = signature
        self.certificate = certificate
    }

    /// Parses a stored manifest without checking its signature (the vault's view: it holds no verify keys).
    /// `name` is the recovery point ID it is stored under, which the body must repeat; nil for a manifest
    /// that is not stored yet (a commit).
    public static func parse(_ bytes: [UInt8], name: String?) throws -> (SignedManifest, [UInt8], ManifestBody) {
        let expectedID = name
        let name = name ?? "(uploaded)"
        try FormatStamp.check(bytes, format: format, supported: currentVersion, what: "manifest \(name)")
        let signed = try JSON.decode(SignedManifest.self, from: bytes, what: "manifest \(name)")
        guard let bodyBytes = Base64.decode(signed.body) else {
            throw TresorError(.corruptObject, "manifest \(name) has a body that is not base64")
        }
        try FormatStamp.check(bodyBytes, format: ManifestBody.format, supported: ManifestBody.currentVersion,
                              what: "manifest body \(name)")
        let body = try JSON.decode(ManifestBody.self, from: bodyBytes, what: "manifest body \(name)")
        if let expectedID, body.recoveryPointID != expectedID {
            throw TresorError(.corruptObject, "manifest \(name) describes recovery point \(body.recoveryPointID)")
        }
        return (signed, bodyBytes, body)
    }
}

/// An operator's statement that a backup client's verify key may sign recovery points. The operator's
/// own verify key (the issuer) is what every operator key store pins; clients' keys are trusted through
/// it, so a recovery key store set up once trusts clients enrolled later.
/// The signature covers `"tresor-signer-cert-v1\0" || signer (32) || issuer (32) || name (UTF-8)`.
public struct SignerCertificate: Codable, Sendable, Equatable {
    public static let signingContext = Array("tresor-signer-cert-v1\u{0}".utf8)

    public var signer: String
    public var issuer: String
    public var name: String
    public var signature: String

    public init(signer: String, issuer: String, name: String, signature: String) {
        self.signer = signer
        self.issuer = issuer
        self.name = name
        self.signature = signature
    }

    public static func message(signer: [UInt8], issuer: [UInt8], name: String) -> [UInt8] {
        signingContext + signer + issuer + Array(name.utf8)
    }
}
