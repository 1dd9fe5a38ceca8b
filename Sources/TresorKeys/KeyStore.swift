#if canImport(Glibc)
import Glibc
#endif
public import TresorCore
public import TresorCrypto

/// A key store directory (Keys/README.md, "Key store"):
///
/// ```
/// DIR/keystore.json        format stamp; "writeOnly": true in a client's key store
/// DIR/keks/<name>.json     one KEKFile per KEK
/// DIR/client.json          a write-only client's ID root, signing seed and certificate
/// ```
/// Folders are created mode 0700 and files 0600.
public struct KeyStore: Sendable {
    public static let format = "tresor-keystore"
    public static let currentVersion = 1

    struct Header: Codable {
        var format = KeyStore.format
        var version = KeyStore.currentVersion
        var writeOnly: Bool
    }

    public let path: String
    public let isWriteOnly: Bool

    /// Opens a key store, creating an empty operator key store when `create` and the folder has none.
    public static func open(at path: String, create: Bool = false, writeOnly: Bool = false) throws -> KeyStore {
        let headerPath = path + "/keystore.json"
        if !AtomicFile.exists(headerPath) {
            guard create else {
                throw TresorError(.keyStore, "\(path) is not a Tresor key store (no keystore.json)",
                                  action: "create a KEK with 'tresor keys create NAME --keystore \(path)'")
            }
            try POSIX.makeDirectories(path + "/keks")
            try AtomicFile.write(try JSON.encode(Header(writeOnly: writeOnly), pretty: true), to: headerPath)
            return KeyStore(path: path, isWriteOnly: writeOnly)
        }
        let bytes = try AtomicFile.read(headerPath)
        try FormatStamp.check(bytes, format: format, supported: currentVersion, what: headerPath)
        let header = try JSON.decode(Header.self, from: bytes, what: headerPath)
        return KeyStore(path: path, isWriteOnly: header.writeOnly)
    }

    private func kekPath(_ name: String) -> String { self.path + "/keks/\(name).json" }

    static func validate(name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 64,
              name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a)
                  || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }),
              name.first != "."
        else {
            throw TresorError(.invalidArgument, "'\(name)' is not a valid KEK name (letters, digits, '-', '_', '.'; at most 64)")
        }
    }

    public func load(_ name: String) throws -> KEKFile {
        try Self.validate(name: name)
        let path = self.kekPath(name)
        guard AtomicFile.exists(path) else {
            throw TresorError(.kekNotFound, "key store \(self.path) has no KEK named '\(name)'",
                              action: "list KEKs with 'tresor keys list --keystore \(self.path)'")
        }
        let bytes = try AtomicFile.read(path)
        try FormatStamp.check(bytes, format: KEKFile.format, supported: KEKFile.currentVersion, what: path)
        let file = try JSON.decode(KEKFile.self, from: bytes, what: path)
        guard file.name == name else { throw TresorError(.keyStore, "\(path) describes KEK '\(file.name)'") }
        return file
    }

    public func names() throws -> [String] {
        try POSIX.directoryEntries(self.path + "/keks").map(\.name).filter { $0.hasSuffix(".json") }
            .map { String($0.dropLast(5)) }.sorted()
    }

    /// The write-only clients this operator enrolled (`clients/*.json`).
    public func enrolledClients() throws -> [EnrolledClient] {
        try POSIX.directoryEntries(self.path + "/clients").map(\.name).filter { $0.hasSuffix(".json") }.map { name in
            let path = self.path + "/clients/" + name
            return try JSON.decode(EnrolledClient.self, from: try AtomicFile.read(path), what: path)
        }.sorted { $0.name < $1.name }
    }

    public func save(_ file: KEKFile) throws {
        try POSIX.makeDirectories(self.path + "/keks")
        try AtomicFile.write(try JSON.encode(file, pretty: true), to: self.kekPath(file.name))
    }

    /// Creates a KEK with fresh secrets: the KEK itself, an ID root and a signing key.
    public func create(name: String, type: KEKType, passphrase: borrowing SecretBytes, now: Int64,
                       parameters: Scrypt.Parameters = .keyStoreDefault) throws -> KEKFile {
        try Self.validate(name: name)
        guard !self.isWriteOnly else {
            throw TresorError(.writeOnlyClient, "\(self.path) is a write-only client key store; create KEKs in an operator's key store")
        }
        guard !AtomicFile.exists(self.kekPath(name)) else {
            throw TresorError(.kekExists, "key store \(self.path) already has a KEK named '\(name)'")
        }
        let secret = try SecretBytes(randomCount: 32)
        let idRoot = try SymmetricKey(randomCount: 32)
        let seed = try SecretBytes(randomCount: 32)
        let id = KeyID(bytes: try SecureRandom.bytes(KeyID.byteCount))
        let publicKey = type == .x25519 ? Hex.encode(try secret.withUnsafeBytes { try X25519.publicKey(privateKey: $0) }) : nil
        let payload = UnlockedKEK.payload(secret: secret, idRoot: idRoot, signingSeed: seed, trustedRoots: [])
        let sealed = try Self.seal(payload, kekID: id, type: type, passphrase: passphrase, parameters: parameters)
        let file = KEKFile(name: name, id: id, type: type, createdAtMillis: now, publicKey: publicKey, sealed: sealed)
        try self.save(file)
        return file
    }

    /// Unseals a KEK's secrets; a wrong passphrase is reported as such and nothing else.
    public func unlock(_ name: String, passphrase: borrowing SecretBytes) throws -> UnlockedKEK {
        let file = try self.load(name)
        guard let sealed = file.sealed else {
            throw TresorError(.writeOnlyClient, "KEK '\(name)' in \(self.path) holds only a public key: this key store cannot decrypt",
                              action: "restore with the operator's key store")
        }
        let payload = try Self.unseal(sealed, kekID: file.id, type: file.type, passphrase: passphrase, name: name)
        return try UnlockedKEK(file: file, payload: payload)
    }

    /// Unseals the secrets of the KEK a rotation is moving away from.
    public func unlockRetired(_ file: KEKFile, passphrase: borrowing SecretBytes) throws -> UnlockedKEK? {
        guard let retired = file.rotatingFrom else { return nil }
        let payload = try Self.unseal(retired.sealed, kekID: retired.id, type: file.type, passphrase: passphrase, name: file.name)
        var old = file
        old.id = retired.id
        old.publicKey = retired.publicKey
        old.sealed = retired.sealed
        old.rotatingFrom = nil
        return try UnlockedKEK(file: old, payload: payload)
    }

    static func associatedData(kekID: KeyID, type: KEKType) -> [UInt8] {
        Array("tresor-kek-v1|\(kekID.hex)|\(type.rawValue)".utf8)
    }

    static func seal(_ payload: borrowing SecretBytes, kekID: KeyID, type: KEKType, passphrase: borrowing SecretBytes,
                     parameters: Scrypt.Parameters) throws -> SealedSecrets {
        let salt = try SecureRandom.bytes(32)
        let nonce = try SecureRandom.bytes(AESGCM.nonceByteCount)
        let key = try Scrypt.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
        let aad = associatedData(kekID: kekID, type: type)
        var sealed = [UInt8](repeating: 0, count: payload.count + AESGCM.tagByteCount)
        try payload.withUnsafeBytes { plain in
            try sealed.withUnsafeMutableBytes { out in
                try nonce.withUnsafeBytes { n in
                    try aad.withUnsafeBytes { a in
                        try AESGCM().seal(key: key, nonce: n, associatedData: a, plaintext: plain,
                                          ciphertext: UnsafeMutableRawBufferPointer(rebasing: out[0..<plain.count]),
                                          tag: UnsafeMutableRawBufferPointer(rebasing: out[plain.count...]))
                    }
                }
            }
        }
        return SealedSecrets(n: parameters.n, r: parameters.r, p: parameters.p, salt: Base64.encode(salt),
                             nonce: Base64.encode(nonce), ciphertext: Base64.encode(sealed))
    }

    static func unseal(_ sealed: SealedSecrets, kekID: KeyID, type: KEKType, passphrase: borrowing SecretBytes,
                       name: String) throws -> SecretBytes {
        guard sealed.kdf == "scrypt", sealed.n >= Scrypt.Parameters.minimum.n, sealed.r >= Scrypt.Parameters.minimum.r,
              sealed.p >= 1, sealed.n <= 1 << 22, sealed.r <= 32, sealed.p <= 16, sealed.n & (sealed.n - 1) == 0
        else {
            throw TresorError(.keyStore, "KEK '\(name)' has scrypt parameters outside the accepted range (N ≥ 2^16, r ≥ 8)")
        }
        guard let salt = Base64.decode(sealed.salt), let nonce = Base64.decode(sealed.nonce),
              let ciphertext = Base64.decode(sealed.ciphertext)
        else { throw TresorError(.keyStore, "KEK '\(name)' has a damaged sealed secret") }
        let key = try Scrypt.deriveKey(passphrase: passphrase, salt: salt, parameters: sealed.parameters)
        do {
            var plain = try AESGCM().open(key: key, nonce: nonce, associatedData: associatedData(kekID: kekID, type: type),
                                          sealed: ciphertext)
            return SecretBytes(consuming: &plain)
        } catch {
            throw TresorError(.wrongPassphrase, "wrong passphrase for KEK '\(name)' (or its sealed secret was altered)")
        }
    }

    // MARK: Write-only client key stores

    public func loadClientKeys() throws -> ClientKeysFile? {
        let path = self.path + "/client.json"
        guard AtomicFile.exists(path) else { return nil }
        let bytes = try AtomicFile.read(path)
        try FormatStamp.check(bytes, format: ClientKeysFile.format, supported: ClientKeysFile.currentVersion, what: path)
        return try JSON.decode(ClientKeysFile.self, from: bytes, what: path)
    }

    /// Makes a write-only client key store at `output`: the public KEK half (and the recovery KEKs'),
    /// the ID root, and a fresh signing key certified by this operator. The client's verify key and
    /// certificate are also recorded in this key store, under `clients/<name>.json`.
    /// With `domain`, the client gets only that domain's ID key instead of the ID root, so it can compute
    /// chunk IDs of no other domain.
    public func exportPublic(_ kek: UnlockedKEK, to output: String, clientName: String, domain: DomainID? = nil) throws {
        try Self.validate(name: clientName)
        guard kek.file.type == .x25519, let publicKey = kek.file.publicKey else {
            throw TresorError(.unsupportedKeyType, "KEK '\(kek.file.name)' is \(kek.file.type.rawValue): only an x25519 KEK has a public half to export",
                              action: "create one with 'tresor keys create NAME --type x25519'")
        }
        if AtomicFile.exists(output + "/keystore.json") {
            throw TresorError(.invalidArgument, "\(output) already holds a key store", action: "choose a new directory")
        }
        let client = try KeyStore.open(at: output, create: true, writeOnly: true)
        let seed = try SecretBytes(randomCount: 32)
        let verifyKey = try Ed25519.publicKey(seed: seed)
        let certificate = try kek.certify(signer: verifyKey, name: clientName)
        var publicFile = kek.file
        publicFile.sealed = nil
        publicFile.rotatingFrom = nil
        publicFile.publicKey = publicKey
        try client.save(publicFile)
        let idKey = try domain.map { try IDKeys.derive(root: kek.idRoot, domain: $0) }
        let keys = ClientKeysFile(kekName: kek.file.name,
                                  idRoot: domain == nil ? kek.idRoot.withUnsafeBytes { Hex.encode($0) } : nil,
                                  domain: domain?.rawValue, idKey: idKey?.withUnsafeBytes { Hex.encode($0) },
                                  signingSeed: seed.withUnsafeBytes { Hex.encode($0) }, certificate: certificate)
        try AtomicFile.write(try JSON.encode(keys, pretty: true), to: output + "/client.json", mode: 0o600)
        try POSIX.makeDirectories(self.path + "/clients")
        try AtomicFile.write(try JSON.encode(EnrolledClient(name: clientName, kekName: kek.file.name, verifyKey: Hex.encode(verifyKey),
                                                            certificate: certificate), pretty: true),
                             to: self.path + "/clients/\(clientName).json")
    }

    /// Re-seals a KEK's secrets (rotation, new trusted roots) under the same passphrase.
    public func reseal(_ file: KEKFile, payload: borrowing SecretBytes, passphrase: borrowing SecretBytes) throws -> SealedSecrets {
        try Self.seal(payload, kekID: file.id, type: file.type, passphrase: passphrase,
                      parameters: file.sealed?.parameters ?? .keyStoreDefault)
    }
}

/// A write-only client an operator enrolled: `clients/<name>.json` in the operator's key store.
public struct EnrolledClient: Codable, Sendable {
    public var format = "tresor-enrolled-client"
    public var version = 1
    public var name: String
    public var kekName: String
    public var verifyKey: String
    public var certificate: SignerCertificate
}
