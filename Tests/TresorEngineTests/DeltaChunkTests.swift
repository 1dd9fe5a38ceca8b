import Foundation
import Testing
import TresorCore
@testable import TresorEngine
import TresorKeys
import TresorTestSupport

/// Changed chunks stored as deltas over the whole chunk their region held before (ChunkDelta).
struct DeltaChunkTests {
    let start: Int64 = 1_700_000_000_000

    /// Chunk objects of the vault by path, with the version byte and (for deltas) the base's path.
    func chunkObjects(_ t: TestVault) throws -> [(path: String, delta: Bool, base: String?)] {
        try t.objects("domains").filter { $0.contains("/chunks/") }.map { path in
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: t.storePath(path))).prefix(ChunkObjectHeader.deltaByteCount))
            let header = try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: nil, name: path) }
            let domain = try DomainID(String(path.split(separator: "/")[1]))
            return (path, header.base != nil, header.base.map { ObjectKey.chunk(domain: domain, id: $0).path })
        }
    }

    @Test func changedChunksBecomeDeltasOverWholeChunksAndEveryPointRestores() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 12 << 20, seed: 41)
        var copies: [(String, String)] = []
        var results: [BackupResult] = []
        for round in 0..<4 {
            if round > 0 { try TestImages.scribble(disk, blocks: 6, seed: UInt64(round)) }
            results.append(try t.backup([disk], keys: keys))
            let copy = t.directory.file("copy\(round).img")
            try FileManager.default.copyItem(atPath: disk, toPath: copy)
            copies.append((results[round].recoveryPoint, copy))
        }
        #expect(results[0].chunksDelta == 0)
        for result in results.dropFirst() {
            #expect(result.chunksDelta >= 1)
            // Scattered 4 KiB writes cost blocks, not whole chunks.
            #expect(result.bytesStored < Int64(result.chunksNew) * (256 << 10))
        }
        // Deltas never chain: every base is a whole chunk, and is stored.
        let objects = try self.chunkObjects(t)
        let byPath = Dictionary(uniqueKeysWithValues: objects.map { ($0.path, $0) })
        #expect(objects.contains { $0.delta })
        for object in objects where object.delta {
            let base = try #require(byPath[object.base!])
            #expect(!base.delta, "\(object.path) is a delta over a delta")
        }
        for (point, copy) in copies {
            #expect(TestImages.equal(try t.restore(point, keys: keys), copy))
        }
        #expect(try Verifier.run(vault: t.vault, keys: keys, mode: .all).ok)

        // Without deltas, the same change stores whole chunks.
        try TestImages.scribble(disk, blocks: 2, seed: 99)
        var request = BackupRequest(vmName: "vm1", host: "host1", diskPaths: [disk], workers: 2)
        request.deltas = false
        let whole = try BackupEngine.run(request, vault: t.vault, keys: keys, now: self.start)
        #expect(whole.chunksDelta == 0 && whole.bytesStored > Int64(whole.chunksNew) * (256 << 10))
    }

    @Test func aDeltaKeepsItsBaseThroughPruningCollectionAndACatalogRebuild() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 8 << 20, seed: 42)
        let first = try t.backup([disk], keys: keys)
        try TestImages.scribble(disk, blocks: 4, seed: 43)
        let second = try t.backup([disk], keys: keys)
        #expect(second.chunksDelta >= 1)
        let service = VaultService(vault: t.vault)
        _ = try service.deleteRecoveryPoint(first.recoveryPoint, by: "test", now: self.start)
        // The catalog's record of which chunk is whose base comes back from the store alone.
        let vault = t.vault
        _ = try CatalogRebuilder.run(vault: vault)
        #expect(try vault.catalog.deltaBases(domain: try vault.catalog.findVM(name: "vm1", host: nil)[0].domainID).count == second.chunksDelta)
        let report = try VaultService(vault: vault).collectGarbage(now: SoftDelete.purgeableAt(self.start))
        #expect(report.recoveryPointsPurged == [first.recoveryPoint])
        #expect(report.chunksDeleted == 0, "the first point's replaced chunks are the second's bases")
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: keys, vault: vault), disk))
        #expect(try Verifier.run(vault: vault, keys: keys, mode: .all).ok)
    }

    @Test func aDamagedBaseBreaksItsDeltasVerifyNamesThemAndTheNextBackupStoresThemWhole() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 8 << 20, seed: 44)
        _ = try t.backup([disk], keys: keys)
        try TestImages.scribble(disk, blocks: 6, seed: 45)
        let second = try t.backup([disk], keys: keys)
        #expect(second.chunksDelta >= 1)
        let delta = try #require(try self.chunkObjects(t).first { $0.delta })
        try flipByte(t.storePath(delta.base!), at: UInt64(ChunkObjectHeader.byteCount + 10))
        #expect { try t.restore(second.recoveryPoint, keys: keys) } throws: { ($0 as? TresorError)?.code == .integrity }
        let report = try Verifier.run(vault: t.vault, keys: keys, mode: .all)
        #expect(!report.ok)
        #expect(report.problems.contains { $0.object == delta.path && $0.breaks.contains { $0.recoveryPoint == second.recoveryPoint } })

        // A missing base is found by the structure check alone.
        try FileManager.default.removeItem(atPath: t.storePath(delta.base!))
        let structure = try Verifier.run(vault: t.vault, keys: keys, mode: .none)
        #expect(structure.problems.contains { $0.object == delta.path && $0.message.contains("whose base") })

        // The damaged data is stored again, whole, and the new point restores.
        let third = try t.backup([disk], keys: keys)
        #expect(third.chunksNew >= 1 && third.chunksDelta == 0)
        #expect(TestImages.equal(try t.restore(third.recoveryPoint, keys: keys), disk))
    }

    @Test func aDeltaFoundStoredByAnotherVMOfItsDomainRestoresWithItsBasesKey() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("a.img", size: 6 << 20, seed: 48)
        _ = try t.backup([disk], vm: "a", keys: keys)
        // A BEK rotation: the deltas are sealed under a newer data key than their bases.
        let domain = try t.vault.findVM(name: "a", host: nil).domainID
        _ = try BackupEngine.rotateDataKey(VaultKeyWraps(vault: t.vault), keys: keys, domain: domain, now: self.start + 1)
        try TestImages.scribble(disk, blocks: 4, seed: 49)
        let second = try t.backup([disk], vm: "a", keys: keys)
        #expect(second.chunksDelta >= 1)
        // VM b, in a's domain, holds the same disk: every chunk is found stored, the deltas included, and
        // its manifest must name the bases' key as well as the deltas'.
        let copy = t.directory.file("b.img")
        try FileManager.default.copyItem(atPath: disk, toPath: copy)
        let b = try BackupEngine.run(BackupRequest(vmName: "b", host: "host1", diskPaths: [copy], domain: domain, workers: 2),
                                     vault: t.vault, keys: keys, now: self.start + 2)
        #expect(b.chunksNew == 0 && b.chunksReused > 0)
        let point = try OpenedRecoveryPoint(vault: t.vault, keys: keys, recoveryPointID: b.recoveryPoint)
        #expect(point.body.dataKeys.count == 2)
        #expect(TestImages.equal(try t.restore(b.recoveryPoint, keys: keys), copy))
    }

    @Test func aWriteOnlyClientStoresChangedChunksWhole() throws {
        let t = try TestVault()
        let operatorKeys = try t.makeKEK("main", type: .x25519)
        let client = try t.writeOnlyClient(of: "main")
        let disk = try t.image("d.img", size: 4 << 20, seed: 46)
        _ = try t.backup([disk], keys: client)
        try TestImages.scribble(disk, blocks: 2, seed: 47)
        let second = try t.backup([disk], keys: client)
        #expect(second.chunksNew >= 1 && second.chunksDelta == 0, "a client that cannot decrypt has no base to diff against")
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: operatorKeys), disk))
    }

    @Test func deltaPayloadsRoundTripAndMalformedOnesAreRefused() throws {
        let length = 3 * 4096 + 100  // a short last block
        let base = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 31) }
        var chunk = base
        chunk[5] ^= 1
        chunk[length - 1] ^= 0xff
        var out = [UInt8](repeating: 0, count: length)
        let encoded = chunk.withUnsafeBytes { c in base.withUnsafeBytes { b in out.withUnsafeMutableBytes {
            ChunkDelta.encode(c, over: b, into: $0, limit: length)
        } } }
        let n = try #require(encoded)
        #expect(n == 1 + 4096 + 100, "bitmap byte, the first block and the short last one")
        #expect(out[0] == 0b1001)
        let delta = Array(out[0..<n])
        func apply(_ delta: [UInt8]) throws -> [UInt8] {
            var rebuilt = base
            try delta.withUnsafeBytes { d in try rebuilt.withUnsafeMutableBytes { try ChunkDelta.apply(d, onto: $0, name: "test") } }
            return rebuilt
        }
        #expect(try apply(delta) == chunk)
        #expect(chunk.withUnsafeBytes { c in base.withUnsafeBytes { b in out.withUnsafeMutableBytes {
            ChunkDelta.encode(c, over: b, into: $0, limit: 4096)
        } } } == nil, "over the limit")
        var pastEnd = delta
        pastEnd[0] |= 0b10000
        for bad in [Array(delta.dropLast()), delta + [0], pastEnd, []] {
            #expect { try apply(bad) } throws: { ($0 as? TresorError)?.code == .integrity }
        }
    }
}
