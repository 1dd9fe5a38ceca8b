import Testing
import TresorCrypto
import TresorTestSupport

/// Each libcrypto wrapper against the RFC / NIST vectors in Keys/vectors.
struct KnownAnswerTests {
    @Test func hmacSHA256MatchesRFC4231() throws {
        for v in try Vectors.load("hmac-sha256") {
            var key = Vectors.bytes(v, "key")
            let mac = HMACSHA256.authenticate(Vectors.bytes(v, "data"), key: SymmetricKey(SecretBytes(consuming: &key)))
            #expect(mac == Vectors.bytes(v, "mac"), "\(v["source"]!)")
        }
    }

    @Test func poly1305MatchesRFC8439() throws {
        for v in try Vectors.load("poly1305") {
            var tag = [UInt8](repeating: 0, count: Poly1305.tagByteCount)
            Vectors.bytes(v, "data").withUnsafeBytes { data in
                Vectors.bytes(v, "key").withUnsafeBytes { key in
                    tag.withUnsafeMutableBytes { Poly1305.authenticate(data, oneTimeKey: key, into: $0) }
                }
            }
            #expect(tag == Vectors.bytes(v, "tag"), "\(v["source"]!)")
        }
    }

    @Test func hkdfMatchesRFC5869() throws {
        for v in try Vectors.load("hkdf-sha256") {
            var out = [UInt8](repeating: 0, count: v["length"] as! Int)
            try Vectors.bytes(v, "ikm").withUnsafeBytes { ikm in
                try out.withUnsafeMutableBytes { try HKDF.derive(ikm: ikm, salt: Vectors.bytes(v, "salt"), info: Vectors.bytes(v, "info"), into: $0) }
            }
            #expect(out == Vectors.bytes(v, "okm"), "\(v["source"]!)")
        }
    }

    @Test func scryptMatchesRFC7914() throws {
        for v in try Vectors.load("scrypt") {
            var out = [UInt8](repeating: 0, count: v["length"] as! Int)
            let parameters = Scrypt.Parameters(n: UInt64(v["n"] as! Int), r: UInt64(v["r"] as! Int), p: UInt64(v["p"] as! Int))
            try Vectors.bytes(v, "password").withUnsafeBytes { pass in
                try out.withUnsafeMutableBytes { try Scrypt.derive(passphrase: pass, salt: Vectors.bytes(v, "salt"), parameters: parameters, into: $0) }
            }
            #expect(out == Vectors.bytes(v, "key"), "\(v["source"]!)")
        }
    }

    @Test func aesKeyWrapWithPaddingMatchesRFC5649() throws {
        for v in try Vectors.load("aes-kwp") {
            let kek = Vectors.bytes(v, "kek")
            let wrapped = try Vectors.bytes(v, "key").withUnsafeBytes { key in try kek.withUnsafeBytes { try AESKeyWrap.wrap(key, kek: $0) } }
            #expect(wrapped == Vectors.bytes(v, "wrapped"), "\(v["source"]!)")
            let unwrapped = try kek.withUnsafeBytes { SymmetricKey(try AESKeyWrap.unwrap(wrapped, kek: $0)) }
            #expect(unwrapped.withUnsafeBytes { Array($0) } == Vectors.bytes(v, "key"))
            var altered = wrapped
            altered[3] ^= 1
            #expect(throws: CryptoError.self) { try kek.withUnsafeBytes { _ = try AESKeyWrap.unwrap(altered, kek: $0) } }
        }
    }

    @Test func aes256GCMMatchesNISTVectors() throws {
        for v in try Vectors.load("aes-256-gcm") {
            var keyBytes = Vectors.bytes(v, "key")
            let key = SymmetricKey(SecretBytes(consuming: &keyBytes))
            let sealed = try AESGCM().seal(key: key, nonce: Vectors.bytes(v, "nonce"), associatedData: Vectors.bytes(v, "aad"),
                                           plaintext: Vectors.bytes(v, "plaintext"))
            #expect(sealed == Vectors.bytes(v, "ciphertext") + Vectors.bytes(v, "tag"), "\(v["source"]!)")
            let opened = try AESGCM().open(key: key, nonce: Vectors.bytes(v, "nonce"), associatedData: Vectors.bytes(v, "aad"), sealed: sealed)
            #expect(opened == Vectors.bytes(v, "plaintext"))
            var tampered = sealed
            tampered[tampered.count - 1] ^= 1
            #expect(throws: CryptoError(.authenticationFailure, operation: "AES-256-GCM open")) {
                try AESGCM().open(key: key, nonce: Vectors.bytes(v, "nonce"), associatedData: Vectors.bytes(v, "aad"), sealed: tampered)
            }
            #expect(throws: CryptoError.self) {
                try AESGCM().open(key: key, nonce: Vectors.bytes(v, "nonce"), associatedData: [1], sealed: sealed)
            }
        }
    }

    @Test func x25519MatchesRFC7748() throws {
        for v in try Vectors.load("x25519") {
            let alice = Vectors.bytes(v, "alicePrivate")
            #expect(try alice.withUnsafeBytes { try X25519.publicKey(privateKey: $0) } == Vectors.bytes(v, "alicePublic"))
            let shared = try alice.withUnsafeBytes { SymmetricKey(try X25519.sharedSecret(privateKey: $0, peerPublicKey: Vectors.bytes(v, "bobPublic"))) }
            #expect(shared.withUnsafeBytes { Array($0) } == Vectors.bytes(v, "shared"))
        }
    }

    @Test func ed25519MatchesRFC8032() throws {
        for v in try Vectors.load("ed25519") {
            var seedBytes = Vectors.bytes(v, "seed")
            let seed = SecretBytes(consuming: &seedBytes)
            #expect(try Ed25519.publicKey(seed: seed) == Vectors.bytes(v, "publicKey"))
            let signature = try Ed25519.sign(Vectors.bytes(v, "message"), seed: seed)
            #expect(signature == Vectors.bytes(v, "signature"), "\(v["source"]!)")
            #expect(Ed25519.isValid(signature: signature, for: Vectors.bytes(v, "message"), publicKey: Vectors.bytes(v, "publicKey")))
            #expect(!Ed25519.isValid(signature: signature, for: Vectors.bytes(v, "message") + [0], publicKey: Vectors.bytes(v, "publicKey")))
        }
    }
}

struct KeyHandlingTests {
    @Test func sealedKeyBoxOpensOnlyWithTheRecipientsPrivateKey() throws {
        let recipient = try SecretBytes(randomCount: 32)
        let other = try SecretBytes(randomCount: 32)
        let publicKey = try recipient.withUnsafeBytes { try X25519.publicKey(privateKey: $0) }
        let dataKey = try SymmetricKey(randomCount: 32)
        let box = try SealedKeyBox.seal(dataKey, to: publicKey)
        let opened = try SealedKeyBox.open(box, privateKey: recipient)
        let same = opened.bytes.constantTimeEquals(dataKey.bytes)
        #expect(same)
        #expect(throws: CryptoError.self) { try SealedKeyBox.open(box, privateKey: other) }
        // Two wraps of one key differ (fresh ephemeral keys), so wraps reveal nothing about equality.
        #expect(try SealedKeyBox.seal(dataKey, to: publicKey) != box)
    }

    @Test func secretsNeverPrint() throws {
        let key = try SymmetricKey(randomCount: 32)
        let hex = key.withUnsafeBytes { $0.map { String($0, radix: 16) }.joined() }
        #expect("\(key)" == "SymmetricKey(32 bytes, redacted)")
        #expect(!String(describing: key).contains(hex))
    }

    @Test func constantTimeComparisonIsCorrect() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
    }
}
