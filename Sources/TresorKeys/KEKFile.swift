public import TresorCore
import TresorCrypto

/// The kinds of key-encryption key a key store holds.
public enum KEKType: String, Codable, Sendable, CaseIterable {
    /// AES-256: wraps data keys with AES-KWP; whoever backs up must hold it (and its passphrase).
    case aes
    /// X25519: data keys are wrapped to the public half, so write-only clients need no secret.
    case x25519
}

/// A KEK as stored in a key store: `keks/<name>.json` (Keys/README.md, "Key store").
///
/// In an operator's key store `sealed` holds the secrets, encrypted under a key derived from the
/// passphrase with scrypt; in a write-only client's key store it is absent and only `publicKey` is there.
public struct KEKFile: Codable, Sendable {
    public static let format = "tresor-kek"
    public static let currentVersion = 1

    public var format: String = KEKFile.format
    public var version: Int = KEKFile.currentVersion
    public var name: String
    public var id: KeyID
    public var type: KEKType
    public var createdAtMillis: Int64
    /// Hex of the X25519 public key (x25519 KEKs only).
    public var publicKey: String?
    public var sealed: SealedSecrets?
    /// X25519 recovery KEKs whose public halves receive a wrap of every key this KEK wraps.
    public var recoveryKEKs: [RecoveryKEK]
    /// The KEK this one replaced, kept until a rotation has rewrapped everything (then removed).
    public var rotatingFrom: RetiredKEK?

    public init(name: String, id: KeyID, type: KEKType, createdAtMillis: Int64, publicKey: String?,
                sealed: SealedSecrets?, recoveryKEKs: [RecoveryKEK] = [], rotatingFrom: RetiredKEK? = nil) {
        self.name = name
        self.id = id
        self.type = type
        self.createdAtMillis = createdAtMillis
        self.publicKey = publicKey
        self.sealed = sealed
        self.recoveryKEKs = recoveryKEKs
        self.rotatingFrom = rotatingFrom
    }
}

public struct RecoveryKEK: Codable, Sendable, Equatable {
    public var name: String
    public var id: KeyID
    public var publicKey: String
    public init(name: String, id: KeyID, publicKey: String) {
        self.name = name
        self.id = id
        self.publicKey = publicKey
    }
}

public struct RetiredKEK: Codable, Sendable {
    public var id: KeyID
    public var publicKey: String?
    public var sealed: SealedSecrets
}

/// Secrets sealed under a passphrase: `key = scrypt(passphrase, salt, N, r, p)`, then AES-256-GCM with
/// a random nonce and `"tresor-kek-v1|<KEK ID>|<type>"` as associated data, so a sealed blob cannot be
/// moved to another KEK entry.
public struct SealedSecrets: Codable, Sendable {
    public var kdf: String = "scrypt"
    public var n: UInt64
    public var r: UInt64
    public var p: UInt64
    public var salt: String
    public var nonce: String
    public var ciphertext: String

    var parameters: Scrypt.Parameters { Scrypt.Parameters(n: self.n, r: self.r, p: self.p) }
}

/// What a write-only client holds besides the public KEK: `client.json` (Keys/README.md).
/// Nothing here decrypts stored data.
public struct ClientKeysFile: Codable, Sendable {
    public static let format = "tresor-client-keys"
    public static let currentVersion = 1

    public var format: String = ClientKeysFile.format
    public var version: Int = ClientKeysFile.currentVersion
    public var kekName: String
    /// Hex of the root the domain ID keys derive from (deduplication needs them), for a client that may
    /// back up into any domain; nil for a client limited to one domain.
    public var idRoot: String?
    /// The one key domain a limited client backs up into, and that domain's ID key (hex).
    public var domain: String?
    public var idKey: String?
    /// Hex of the client's Ed25519 signing seed.
    public var signingSeed: String
    public var certificate: SignerCertificate
}
