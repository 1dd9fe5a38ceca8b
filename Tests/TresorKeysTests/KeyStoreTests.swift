import Foundation
import Testing
import TresorCore
import TresorCrypto
import TresorKeys
import TresorTestSupport

struct KeyStoreTests {
    func passphrase(_ text: String = "a passphrase") -> SecretBytes {
        var bytes = Array(text.utf8)
        return SecretBytes(consuming: &bytes)
    }

    @Test func kekFilesHoldNoSecretInTheClearAndStateTheirParameters() throws {
        let dir = TemporaryDirectory()
        let store = try KeyStore.open(at: dir.path, create: true)
        let file = try store.create(name: "main", type: .x25519, passphrase: passphrase(), now: 1, parameters: .minimum)
        let text = try String(contentsOfFile: dir.file("keks/main.json"), encoding: .utf8)
        let kek = try store.unlock("main", passphrase: passphrase())
        let idRootHex = kek.idRoot.withUnsafeBytes { Hex.encode($0) }
        #expect(!text.contains(idRootHex))
        #expect(text.contains("\"n\" : 65536") && text.contains("\"r\" : 8"))
        #expect(file.publicKey?.count == 64)
        var st = stat()
        stat(dir.file("keks/main.json"), &st)
        #expect(st.st_mode & 0o077 == 0, "key files are private to their owner")
    }

    @Test func weakenedScryptParametersAreRefused() throws {
        let dir = TemporaryDirectory()
        let store = try KeyStore.open(at: dir.path, create: true)
        var file = try store.create(name: "main", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum)
        file.sealed!.n = 1024
        try store.save(file)
        #expect { try store.unlock("main", passphrase: passphrase()) } throws: { ($0 as? TresorError)?.code == .keyStore }
    }

    @Test func aSealedSecretMovedToAnotherKEKDoesNotOpen() throws {
        let dir = TemporaryDirectory()
        let store = try KeyStore.open(at: dir.path, create: true)
        let a = try store.create(name: "a", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum)
        var b = try store.create(name: "b", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum)
        b.sealed = a.sealed
        try store.save(b)
        #expect { try store.unlock("b", passphrase: passphrase()) } throws: { ($0 as? TresorError)?.code == .wrongPassphrase }
    }

    @Test func badNamesAndDuplicatesAreRefused() throws {
        let dir = TemporaryDirectory()
        let store = try KeyStore.open(at: dir.path, create: true)
        #expect(throws: TresorError.self) { try store.create(name: "../x", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum) }
        _ = try store.create(name: "x", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum)
        #expect { try store.create(name: "x", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum) } throws: {
            ($0 as? TresorError)?.code == .kekExists
        }
    }

    @Test func exportPublicNeedsAnAsymmetricKEK() throws {
        let dir = TemporaryDirectory()
        let store = try KeyStore.open(at: dir.path, create: true)
        _ = try store.create(name: "sym", type: .aes, passphrase: passphrase(), now: 1, parameters: .minimum)
        #expect { try store.exportPublic(try store.unlock("sym", passphrase: passphrase()), to: dir.file("c"), clientName: "h") } throws: {
            ($0 as? TresorError)?.code == .unsupportedKeyType
        }
    }
}
