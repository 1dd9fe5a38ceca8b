import Synchronization
import Testing
import TresorCore
import TresorEngine
import TresorTestSupport

/// The vault side of backups: what it refuses and what it forgives, without keys.
struct VaultServiceTests {
    /// Forwards to a VaultService, optionally dropping one chunk upload and keeping the committed manifest.
    final class Interceptor: BackupDestination {
        let inner: VaultService
        let dropFirstChunk: Bool
        let commitTwice: Bool
        let dropped = Mutex<ChunkID?>(nil)
        let manifest = Mutex<[UInt8]>([])

        init(_ inner: VaultService, dropFirstChunk: Bool = false, commitTwice: Bool = false) {
            self.inner = inner
            self.dropFirstChunk = dropFirstChunk
            self.commitTwice = commitTwice
        }

        var lookupBatchSize: Int { 2 }
        func openSession(_ request: SessionRequest) throws -> BackupSession { try self.inner.openSession(request) }
        func wrap(session: String, keyID: KeyID, kekIDs: [KeyID]) throws -> KeyWrapRecord? {
            try self.inner.wrap(session: session, keyID: keyID, kekIDs: kekIDs)
        }
        func storeWraps(session: String, _ records: [KeyWrapRecord]) throws { try self.inner.storeWraps(session: session, records) }
        func lookup(session: String, _ ids: [ChunkID]) throws -> [StoredChunkKeys?] { try self.inner.lookup(session: session, ids) }
        func putChunk(session: String, id: ChunkID, object: UnsafeRawBufferPointer) throws {
            let dropThis = self.dropFirstChunk && self.dropped.withLock { dropped in
                guard dropped == nil else { return false }
                dropped = id
                return true
            }
            if dropThis { return }
            try self.inner.putChunk(session: session, id: id, object: object)
        }
        func putIndexPage(session: String, _ page: [UInt8]) throws -> Bool { try self.inner.putIndexPage(session: session, page) }
        func indexPage(session: String, sha256: String) throws -> [UInt8] { try self.inner.indexPage(session: session, sha256: sha256) }
        func manifest(session: String, recoveryPointID: String) throws -> [UInt8] {
            try self.inner.manifest(session: session, recoveryPointID: recoveryPointID)
        }
        func commit(session: String, manifest: [UInt8]) throws -> RecoveryPointRecord {
            self.manifest.withLock { $0 = manifest }
            let record = try self.inner.commit(session: session, manifest: manifest)
            if self.commitTwice {
                // The answer was lost; the client sends the same commit again.
                #expect(try self.inner.commit(session: session, manifest: manifest) == record)
            }
            return record
        }
        func abandon(session: String) { self.inner.abandon(session: session) }
    }

    func request(_ disk: String) -> BackupRequest {
        BackupRequest(vmName: "vm1", host: "host1", diskPaths: [disk], workers: 3)
    }

    @Test func aRepeatedCommitGetsTheSameRecoveryPoint() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 61)
        let result = try BackupEngine.run(self.request(disk), destination: Interceptor(VaultService(vault: t.vault), commitTwice: true),
                                          keys: keys, now: 1)
        #expect(try t.vault.catalog.recoveryPoints(vmID: nil).map(\.id) == [result.recoveryPoint])
    }

    @Test func aReplayedManifestIsRefused() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 62)
        let service = VaultService(vault: t.vault)
        let first = Interceptor(service)
        _ = try BackupEngine.run(self.request(disk), destination: first, keys: keys, now: 1)
        let session = try service.openSession(SessionRequest(vmName: "vm1", host: "host1", domain: nil, diskSources: [disk], nowMillis: 2))
        #expect { try service.commit(session: session.id, manifest: first.manifest.withLock { $0 }) } throws: {
            ($0 as? TresorError)?.code == .commitRejected
        }
    }

    @Test func aCommitNamingAChunkTheVaultLacksIsRefusedAndNamesIt() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 6 << 20, seed: 63)
        let dropping = Interceptor(VaultService(vault: t.vault), dropFirstChunk: true)
        #expect { try BackupEngine.run(self.request(disk), destination: dropping, keys: keys, now: 1) } throws: { error in
            guard let error = error as? TresorError, let dropped = dropping.dropped.withLock({ $0 }) else { return false }
            return error.code == .missingObject && error.message.contains(dropped.hex)
        }
        #expect(try t.vault.catalog.recoveryPoints(vmID: nil).isEmpty, "no recovery point lies about what the vault holds")
        // The next backup, told nothing, uploads the missing chunk and commits.
        let healed = try t.backup([disk], keys: keys)
        #expect(healed.chunksNew == 1)
    }

    @Test func oneBackupPerVMAtATimeAndIdleSessionsExpire() throws {
        let t = try TestVault()
        let service = VaultService(vault: t.vault)
        let opening = SessionRequest(vmName: "vm1", host: "host1", domain: nil, diskSources: ["/d0"], nowMillis: 1)
        let session = try service.openSession(opening)
        #expect { try service.openSession(opening) } throws: { error in
            guard let error = error as? TresorError else { return false }
            return error.code == .operationInProgress && error.message.contains("another operation is in progress for this item")
        }
        // The same request again (its answer was lost) gets the same session.
        var keyed = opening
        keyed.vmName = "vm2"
        keyed.requestKey = "key-1"
        let first = try service.openSession(keyed)
        #expect(try service.openSession(keyed).id == first.id)
        keyed.requestKey = "key-2"
        #expect { try service.openSession(keyed) } throws: { ($0 as? TresorError)?.code == .operationInProgress }
        service.abandon(session: first.id)
        #expect(service.expireSessions(idleFor: .zero) == [session.id])
        #expect { try service.lookup(session: session.id, [.zero]) } throws: { ($0 as? TresorError)?.code == .sessionNotFound }
        #expect(try service.openSession(opening).vm.name == "vm1", "an expired session no longer holds the VM")
    }
}
