import Foundation
import Testing
import TresorCore
import TresorCrypto
import TresorEngine
import TresorKeys
import TresorTestSupport

struct KeyTests {
    @Test func aWrongPassphraseIsSaidSo() throws {
        let t = try TestVault()
        _ = try t.makeKEK("main")
        #expect { try t.keyStore.unlock("main", passphrase: TestVault.passphraseBytes("wrong")) } throws: {
            ($0 as? TresorError)?.code == .wrongPassphrase
        }
    }

    @Test func anotherKEKCannotRestore() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        _ = try t.makeKEK("other")
        // "other" trusts main's signatures, so what stops it is only that no key is wrapped for it.
        let main = try t.keyStore.unlock("main", passphrase: TestVault.passphraseBytes())
        try t.keyStore.addTrustedRoot(main.signingPublicKey, to: try t.keyStore.unlock("other", passphrase: TestVault.passphraseBytes()),
                                      passphrase: TestVault.passphraseBytes())
        let other = try t.ring("other")
        let disk = try t.image("d.img", size: 2 << 20, seed: 1)
        let result = try t.backup([disk], keys: keys)
        #expect { try t.restore(result.recoveryPoint, keys: other) } throws: {
            ($0 as? TresorError)?.code == .unwrapFailed && "\($0)".contains("'other'")
        }
        // A key store that does not pin main's signing key refuses before any key is tried.
        _ = try t.makeKEK("stranger")
        #expect { try t.restore(result.recoveryPoint, keys: try t.ring("stranger")) } throws: {
            ($0 as? TresorError)?.code == .untrustedSigner
        }
    }

    @Test func aWriteOnlyClientBacksUpDeduplicatedButCannotRestore() throws {
        let t = try TestVault()
        let operatorKeys = try t.makeKEK("main", type: .x25519)
        let clientPath = t.directory.file("client")
        try t.keyStore.exportPublic(try t.keyStore.unlock("main", passphrase: TestVault.passphraseBytes()), to: clientPath, clientName: "host1")
        let clientStore = try KeyStore.open(at: clientPath)
        #expect(clientStore.isWriteOnly)
        let client = try KeyRing(client: clientStore, kekName: "main")
        #expect(!client.canDecrypt)
        // Nothing in the client's key store holds the KEK's private half.
        for file in try FileManager.default.subpathsOfDirectory(atPath: clientPath) {
            let text = (try? String(contentsOfFile: clientPath + "/" + file, encoding: .utf8)) ?? ""
            #expect(!text.contains("sealed"), "\(file)")
        }
        let disk = try t.image("d.img", size: 8 << 20, seed: 2)
        let first = try t.backup([disk], keys: client)
        try TestImages.scribble(disk, blocks: 1, seed: 3)
        let second = try t.backup([disk], keys: client)
        #expect(second.chunksNew == 1, "the write-only client deduplicates against what is stored")
        // Fresh data keys per backup, each wrapped to the public KEK only.
        #expect(try t.objects("domains").filter { $0.hasSuffix(".wrap") }.count == 3)
        #expect { try t.restore(first.recoveryPoint, keys: client) } throws: { ($0 as? TresorError)?.code == .writeOnlyClient }
        #expect { try Verifier.run(vault: t.vault, keys: client, mode: .none) } throws: { ($0 as? TresorError)?.code == .writeOnlyClient }
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: operatorKeys), disk))
        #expect(try Verifier.run(vault: t.vault, keys: operatorKeys, mode: .all).ok)
    }

    @Test func aClientLimitedToOneDomainHoldsOnlyThatDomainsIDKey() throws {
        let t = try TestVault()
        let operatorKeys = try t.makeKEK("main", type: .x25519)
        let tenant = try DomainID("tenant-a")
        try t.keyStore.exportPublic(try t.keyStore.unlock("main", passphrase: TestVault.passphraseBytes()), to: t.directory.file("client"),
                                    clientName: "host1", domain: tenant)
        let text = try String(contentsOfFile: t.directory.file("client/client.json"), encoding: .utf8)
        #expect(!text.contains("idRoot") && text.contains("tenant-a"))
        let client = try KeyRing(client: try KeyStore.open(at: t.directory.file("client")), kekName: "main")
        #expect(client.onlyDomain == tenant)
        // Its ID key is the one the operator derives for the domain, so both deduplicate alike.
        let same = try client.idKey(domain: tenant).bytes.constantTimeEquals(try operatorKeys.idKey(domain: tenant).bytes)
        #expect(same)
        let disk = try t.image("d.img", size: 2 << 20, seed: 12)
        #expect { try t.backup([disk], keys: client) } throws: { ($0 as? TresorError)?.code == .writeOnlyClient }
        let result = try BackupEngine.run(BackupRequest(vmName: "vm1", host: "host1", diskPaths: [disk], domain: tenant),
                                          vault: t.vault, keys: client, now: 1)
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, keys: operatorKeys), disk))
    }

    @Test func aRecoveryPointForgedByTheVaultIsRejected() throws {
        let t = try TestVault()
        let operatorKeys = try t.makeKEK("main", type: .x25519)
        let disk = try t.image("d.img", size: 4 << 20, seed: 4)
        let genuine = try t.backup([disk], keys: operatorKeys)
        // The vault knows the public KEK and everything stored in the clear; it builds a client key store
        // of its own (a certificate from a key nobody pinned) and makes a recovery point with it.
        let forgerStore = TemporaryDirectory()
        let forger = try KeyStore.open(at: forgerStore.path, create: true)
        _ = try forger.create(name: "main", type: .x25519, passphrase: TestVault.passphraseBytes(), now: 1, parameters: .minimum)
        try forger.exportPublic(try forger.unlock("main", passphrase: TestVault.passphraseBytes()), to: forgerStore.file("client"),
                                  clientName: "vault")
        var clientFile = try JSONDecoder().decode(KEKFile.self, from: Data(contentsOf: URL(fileURLWithPath: forgerStore.file("client/keks/main.json"))))
        let realFile = try t.keyStore.load("main")
        clientFile.id = realFile.id
        clientFile.publicKey = realFile.publicKey
        try JSONEncoder().encode(clientFile).write(to: URL(fileURLWithPath: forgerStore.file("client/keks/main.json")))
        let vaultAsClient = try KeyRing(client: try KeyStore.open(at: forgerStore.file("client")), kekName: "main")
        let forged = try t.backup([disk], keys: vaultAsClient)
        #expect { try t.restore(forged.recoveryPoint, keys: operatorKeys) } throws: { ($0 as? TresorError)?.code == .untrustedSigner }
        let report = try Verifier.run(vault: t.vault, keys: operatorKeys, mode: .none)
        #expect(report.problems.contains { $0.kind == .manifest && $0.object.contains(forged.recoveryPoint) })
        #expect(TestImages.equal(try t.restore(genuine.recoveryPoint, keys: operatorKeys), disk))
    }

    @Test func kekRotationRewrapsDeletesOldWrapsAndTouchesNoChunk() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 5)
        let result = try t.backup([disk], keys: keys)
        let oldID = keys.kekID
        let chunksBefore = try t.objects("domains").filter { $0.contains("/chunks/") }
        let chunkBytesBefore = try chunksBefore.map { try Data(contentsOf: URL(fileURLWithPath: t.storePath($0))) }
        let wrapsBefore = try t.objects("domains").filter { $0.hasSuffix(".wrap") }
        #expect(wrapsBefore.allSatisfy { $0.hasSuffix("\(oldID.hex).wrap") })

        let (current, retired) = try t.keyStore.beginRotation("main", passphrase: TestVault.passphraseBytes(), now: 2)
        let summary = try KeyMaintenance.rewrap(VaultKeyWraps(vault: t.vault), keys: KeyRing(operator: current, retired: retired), oldKEKID: oldID, now: 2)
        try t.keyStore.finishRotation("main")
        #expect(summary.rewrapped == wrapsBefore.count && summary.deleted == wrapsBefore.count)

        let wrapsAfter = try t.objects("domains").filter { $0.hasSuffix(".wrap") }
        #expect(!wrapsAfter.contains { $0.contains(oldID.hex) }, "no wrap under the old KEK remains")
        #expect(try t.keyStore.load("main").rotatingFrom == nil)
        let chunksAfter = try t.objects("domains").filter { $0.contains("/chunks/") }
        #expect(chunksAfter == chunksBefore)
        #expect(try chunksAfter.map { try Data(contentsOf: URL(fileURLWithPath: t.storePath($0))) } == chunkBytesBefore)
        let rotated = try t.ring("main")
        #expect(rotated.kekID != oldID)
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, keys: rotated), disk))
    }

    @Test func aRecoveryKEKAloneRestores() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 4 << 20, seed: 6)
        let result = try t.backup([disk], keys: keys)
        let safe = TemporaryDirectory()
        let safeStore = try KeyStore.open(at: safe.path, create: true)
        _ = try safeStore.create(name: "recovery", type: .x25519, passphrase: TestVault.passphraseBytes(), now: 1, parameters: .minimum)
        let recovery = try safeStore.unlock("recovery", passphrase: TestVault.passphraseBytes())
        let main = try t.keyStore.unlock("main", passphrase: TestVault.passphraseBytes())
        try safeStore.addTrustedRoot(main.signingPublicKey, to: recovery, passphrase: TestVault.passphraseBytes())
        var file = main.file
        let entry = RecoveryKEK(name: "recovery", id: recovery.file.id, publicKey: recovery.file.publicKey!)
        file.recoveryKEKs.append(entry)
        try t.keyStore.save(file)
        #expect(try KeyMaintenance.addRecoveryWraps(VaultKeyWraps(vault: t.vault), keys: keys, recovery: entry, now: 3) == 2)
        // A later backup under a new data key wraps it for the recovery KEK too.
        let mainAgain = try t.ring("main")
        _ = try BackupEngine.rotateDataKey(VaultKeyWraps(vault: t.vault), keys: mainAgain, domain: try t.vault.findVM(name: "vm1", host: nil).domainID,
                                           now: 1_700_000_000_001)
        try TestImages.scribble(disk, blocks: 2, seed: 7)
        let later = try t.backup([disk], keys: mainAgain)
        let recoveryRing = try t.ring("recovery", store: safeStore)
        #expect(TestImages.equal(try t.restore(later.recoveryPoint, keys: recoveryRing), disk))
        _ = try t.restore(result.recoveryPoint, keys: recoveryRing)
    }

    @Test func bekRotationStartsANewDataKeyAndDeduplicationContinues() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 8)
        let first = try t.backup([disk], keys: keys)
        let domain = try t.vault.findVM(name: "vm1", host: nil).domainID
        let newKey = try BackupEngine.rotateDataKey(VaultKeyWraps(vault: t.vault), keys: keys, domain: domain, now: 1_700_000_000_001)
        try TestImages.scribble(disk, blocks: 1, seed: 9)
        let second = try t.backup([disk], keys: keys)
        #expect(second.chunksNew == 1)
        #expect(second.chunksReused == first.chunksNew - 1 || second.chunksReused == first.chunksNew)
        let manifest = try t.vault.loadManifest(second.recoveryPoint).body
        #expect(manifest.dataKeys.map(\.id).contains(newKey))
        #expect(manifest.dataKeys.count == 2)
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: keys), disk))
    }
}
