import Foundation
import Testing
import TresorCore
import TresorCrypto
@testable import TresorEngine
@testable import TresorKeys
import TresorTestSupport

/// Tresor's own constructions (Keys/README.md) against Keys/vectors/tresor-constructions.json, which
/// was computed independently from the written specification with Python's `cryptography` package.
struct ConstructionVectorTests {
    let v: [String: Any]
    init() throws { self.v = try Vectors.load("tresor-constructions")[0] }

    func part(_ name: String) -> [String: Any] { self.v[name] as! [String: Any] }
    func key(_ vector: [String: Any], _ field: String) -> SymmetricKey {
        var bytes = Vectors.bytes(vector, field)
        return SymmetricKey(SecretBytes(consuming: &bytes))
    }

    @Test func domainIDKeyAndItsID() throws {
        let p = part("idKey")
        let idKey = try IDKeys.derive(root: key(p, "idRoot"), domain: try DomainID(p["domain"] as! String))
        #expect(idKey.withUnsafeBytes { Array($0) } == Vectors.bytes(p, "idKey"))
        #expect(DomainKeys.idKeyID(idKey).bytes == Vectors.bytes(p, "idKeyID"))
    }

    @Test func keyCommitment() {
        let p = part("commitment")
        #expect(KeyRing.commitment(of: key(p, "key")) == p["commitment"] as! String)
    }

    @Test func keyWrapsOpen() throws {
        let box = part("x25519Box")
        var privateBytes = Vectors.bytes(box, "recipientPrivate")
        let opened = try SealedKeyBox.open(Vectors.bytes(box, "box"), privateKey: SecretBytes(consuming: &privateBytes))
        #expect(opened.withUnsafeBytes { Array($0) } == Vectors.bytes(box, "key"))
        let kwp = part("aesKWP")
        let unwrapped = try AESKeyWrap.unwrap(Vectors.bytes(kwp, "wrapped"), kek: key(kwp, "kek"))
        #expect(unwrapped.withUnsafeBytes { Array($0) } == Vectors.bytes(kwp, "key"))
    }

    @Test func chunkObjectOpensToItsPlaintext() throws {
        let p = part("chunkObject")
        let object = Vectors.bytes(p, "object")
        let plaintext = Vectors.bytes(p, "plaintext")
        let opener = ChunkOpener(maximumChunk: plaintext.count)
        object.withUnsafeBytes { opener.object.copyMemory(from: $0) }
        var out = [UInt8](repeating: 0, count: plaintext.count)
        let dataKeyID = KeyID(bytes: Vectors.bytes(p, "dataKeyID"))
        let dataKey = key(p, "dataKey")
        _ = try out.withUnsafeMutableBytes { buffer in
            try opener.open(length: object.count, expectedID: ChunkID(bytes: Vectors.bytes(p, "chunkID")), name: "vector",
                            idKey: key(p, "idKey"), keyFor: { id in
                                guard id == dataKeyID else { throw TresorError(.integrity, "unexpected key") }
                                return dataKey
                            }, into: buffer)
        }
        #expect(out == plaintext)
    }

    @Test func deltaChunkObjectRebuildsOverItsBase() throws {
        let p = part("deltaChunkObject")
        let delta = Vectors.bytes(p, "deltaObject")
        let baseObject = Vectors.bytes(p, "baseObject")
        let baseID = ChunkID(bytes: Vectors.bytes(p, "baseID"))
        let plaintext = Vectors.bytes(p, "plaintext")
        let opener = ChunkOpener(maximumChunk: plaintext.count)
        let dataKeyID = KeyID(bytes: Vectors.bytes(p, "dataKeyID"))
        let dataKey = key(p, "dataKey")
        let keyFor: (KeyID) throws -> SymmetricKey = { id in
            guard id == dataKeyID else { throw TresorError(.integrity, "unexpected key") }
            return dataKey
        }
        let read: ChunkObjectRead = { id, buffer in
            let object = id == baseID ? baseObject : delta
            object.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[0..<object.count]).copyMemory(from: $0) }
            return object.count
        }
        var out = [UInt8](repeating: 0, count: plaintext.count)
        let fetched = try out.withUnsafeMutableBytes { buffer in
            try opener.fetch(ChunkID(bytes: Vectors.bytes(p, "chunkID")), name: "vector", read: read, idKey: key(p, "idKey"),
                             keyFor: keyFor, into: buffer)
        }
        #expect(out == plaintext)
        #expect(fetched == delta.count + baseObject.count)
        // Opened as a whole chunk, the delta is refused: it names a base.
        delta.withUnsafeBytes { opener.object.copyMemory(from: $0) }
        #expect {
            try out.withUnsafeMutableBytes { buffer in
                try opener.open(length: delta.count, expectedID: ChunkID(bytes: Vectors.bytes(p, "chunkID")), name: "vector",
                                idKey: key(p, "idKey"), keyFor: keyFor, into: buffer)
            }
        } throws: { ($0 as? TresorError)?.code == .integrity }
    }

    @Test func sealedKEKOpensWithItsPassphrase() throws {
        let p = part("sealedKEK")
        let sealed = SealedSecrets(n: UInt64(p["n"] as! Int), r: UInt64(p["r"] as! Int), p: UInt64(p["p"] as! Int),
                                   salt: Data(Vectors.bytes(p, "salt")).base64EncodedString(),
                                   nonce: Data(Vectors.bytes(p, "nonce")).base64EncodedString(),
                                   ciphertext: Data(Vectors.bytes(p, "ciphertext")).base64EncodedString())
        var passphrase = Array((p["passphrase"] as! String).utf8)
        let payload = try KeyStore.unseal(sealed, kekID: KeyID(bytes: Vectors.bytes(p, "kekID")), type: .aes,
                                          passphrase: SecretBytes(consuming: &passphrase), name: "vector")
        #expect(payload.withUnsafeBytes { Array($0) } == Vectors.bytes(p, "payload"))
    }

    @Test func changeCacheRecordTagsAndFileMatchTheSpecification() throws {
        let p = part("changeCache")
        let directory = TemporaryDirectory()
        let cache = try ChangeCache(directory: directory.path, idKey: key(p, "idKey"))
        let content = Vectors.bytes(p, "content")
        let nonce = Vectors.bytes(p, "nonce")
        let position = p["position"] as! Int
        var seed = [UInt8](repeating: 0, count: 32)
        nonce.withUnsafeBytes { n in seed.withUnsafeMutableBytes { cache.seed(nonce: n, position: position, into: $0) } }
        #expect(seed == Vectors.bytes(p, "seed"))
        var tags = [UInt8](repeating: 0, count: 3 * BlockTagger.tagByteCount)
        content.withUnsafeBytes { c in seed.withUnsafeBytes { s in tags.withUnsafeMutableBytes { BlockTagger().tag(c, blockSize: 4096, seed: s, into: $0) } } }
        #expect(tags == Vectors.bytes(p, "tags"))

        let (vm, disk) = (p["vmID"] as! String, p["diskID"] as! String)
        let (chunkSize, diskSize) = (p["chunkSize"] as! Int, Int64(p["diskSize"] as! Int))
        let layout = ChangeRecordLayout(chunkSize: chunkSize)
        var record = [UInt8](repeating: 0, count: layout.byteCount)
        record.replaceSubrange(layout.nonce, with: nonce)
        record.replaceSubrange(layout.chunkID, with: Vectors.bytes(p, "chunkID"))
        record.replaceSubrange(layout.base, with: Vectors.bytes(p, "base"))
        record.replaceSubrange(layout.bitmap, with: Vectors.bytes(p, "bitmap"))
        record.replaceSubrange(layout.tags.lowerBound..<layout.tags.lowerBound + tags.count, with: tags)
        let (file, found) = try cache.openFile(vmID: vm, diskID: disk, chunkSize: chunkSize, diskSize: diskSize, chunkCount: 2)
        #expect(!found)
        record.withUnsafeMutableBytes { file.write(position: position, record: $0) }
        try file.finish()
        #expect(record == Vectors.bytes(p, "record"))
        #expect(try AtomicFile.read(directory.file(p["fileName"] as! String)) == Vectors.bytes(p, "file"))

        let (opened, foundAgain) = try cache.openFile(vmID: vm, diskID: disk, chunkSize: chunkSize, diskSize: diskSize, chunkCount: 2)
        #expect(foundAgain)
        var read = [UInt8](repeating: 0, count: layout.byteCount)
        #expect(read.withUnsafeMutableBytes { opened.read(position: position, into: $0) } && read == record)
        #expect(!read.withUnsafeMutableBytes { opened.read(position: 0, into: $0) })
        // Another disk size is another file's header: the file is not this disk's, and is started anew.
        #expect(try !cache.openFile(vmID: vm, diskID: disk, chunkSize: chunkSize, diskSize: diskSize + 1, chunkCount: 2).found)
    }
}
