import Foundation
import Testing
import TresorCore
@testable import TresorEngine
import TresorKeys
import TresorTestSupport

/// The client's change cache (ChangeCache): chunk IDs taken from it only where every block tag of the
/// content still matches, deltas built from its block tags, and a cache that does not hold exactly this
/// disk ignored as a whole.
struct ChangeCacheTests {
    func cacheFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".tcc") }.sorted()
    }

    /// A vault with an X25519 operator KEK, a write-only client of it, and a 4 MiB disk the client has
    /// backed up once with a change cache.
    func writeOnlyClientAfterOneBackup(seed: UInt64) throws
        -> (vault: TestVault, operatorKeys: KeyRing, client: KeyRing, cache: String, disk: String) {
        let t = try TestVault()
        let operatorKeys = try t.makeKEK("main", type: .x25519)
        let client = try t.writeOnlyClient(of: "main")
        let cache = t.directory.file("cache")
        let disk = try t.image("d.img", size: 4 << 20, seed: seed)
        _ = try t.backup([disk], keys: client, changeCache: cache)
        return (t, operatorKeys, client, cache, disk)
    }

    @Test func unchangedChunksTakeTheirIDsFromTheCacheAndEveryPointRestores() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let cache = t.directory.file("cache")
        let disk = try t.image("d.img", size: 16 << 20, seed: 7)
        let first = try t.backup([disk], keys: keys, changeCache: cache)
        #expect(first.chunksIDFromCache == 0 && first.changeCacheWarning == nil)
        #expect(try self.cacheFiles(cache).count == 1)
        let nonZero = first.chunksNew + first.chunksReused

        var copies = [(first.recoveryPoint, t.directory.file("copy0.img"))]
        try FileManager.default.copyItem(atPath: disk, toPath: copies[0].1)
        for round in 1...3 {
            try TestImages.scribble(disk, blocks: 3, seed: UInt64(round))
            let result = try t.backup([disk], keys: keys, changeCache: cache)
            // Every chunk the scribble missed comes from the cache; the changed ones are keyed again.
            #expect(result.chunksIDFromCache >= nonZero - 3)
            #expect(result.chunksNew >= 1 && result.chunksIDFromCache < result.chunksNew + result.chunksReused)
            let copy = t.directory.file("copy\(round).img")
            try FileManager.default.copyItem(atPath: disk, toPath: copy)
            copies.append((result.recoveryPoint, copy))
        }
        // Nothing changed: every ID from the cache, nothing stored, and the index pages are the ones a
        // backup without the cache computes (they deduplicate by hash, so none is added).
        let again = try t.backup([disk], keys: keys, changeCache: cache)
        #expect(again.chunksIDFromCache == again.chunksReused && again.chunksNew == 0 && again.indexBytesAdded == 0)
        let computed = try t.backup([disk], keys: keys)
        #expect(computed.chunksIDFromCache == 0 && computed.indexBytesAdded == 0)

        for (point, copy) in copies {
            #expect(TestImages.equal(try t.restore(point, keys: keys), copy))
        }
        // Read-data verification rekeys every chunk, so an ID taken wrongly from the cache would fail here.
        #expect(try Verifier.run(vault: t.vault, keys: keys, mode: .all).ok)
    }

    @Test func contentWrittenBackIsKeyedAgainNotMatchedToAnOlderEntry() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let cache = t.directory.file("cache")
        let disk = try t.image("d.img", size: 4 << 20, seed: 8)
        let original = try Data(contentsOf: URL(fileURLWithPath: disk))
        try t.backup([disk], keys: keys, changeCache: cache)
        try TestImages.scribble(disk, blocks: 8, seed: 3)
        let changed = try t.backup([disk], keys: keys, changeCache: cache)
        try original.write(to: URL(fileURLWithPath: disk))
        let back = try t.backup([disk], keys: keys, changeCache: cache)
        // The entries now tag the scribbled content, so the restored chunks are keyed again (and found stored).
        #expect(back.chunksIDFromCache < changed.chunksIDFromCache + changed.chunksNew)
        #expect(back.chunksNew == 0)
        let restored = try t.restore(back.recoveryPoint, keys: keys)
        #expect(try Data(contentsOf: URL(fileURLWithPath: restored)) == original)
    }

    @Test func aCacheThatDoesNotHoldExactlyThisDiskIsIgnoredWholeAndADamagedRecordAlone() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let cache = t.directory.file("cache")
        let disk = try t.image("d.img", size: 6 << 20, seed: 9)
        let first = try t.backup([disk], keys: keys, changeCache: cache)
        let nonZero = first.chunksNew + first.chunksReused
        let file = cache + "/" + (try self.cacheFiles(cache)[0])

        // One changed byte in the first position's record: its MAC fails, so that chunk is keyed again and
        // the others still come from the file.
        let size = UInt64(try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int)
        try flipByte(file, at: UInt64(ChangeCache.headerByteCount) + 40)
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == nonZero - 1)
        // That backup wrote a good file again.
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == nonZero)
        // A changed byte in the header (the disk size it describes): the file is ignored whole.
        try flipByte(file, at: 16)
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == 0)

        // A torn file is ignored too.
        let whole = try Data(contentsOf: URL(fileURLWithPath: file))
        try whole.prefix(Int(size) / 2).write(to: URL(fileURLWithPath: file))
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == 0)

        // Another VM's file (same content, other owner) is not used for this one.
        let other = try t.backup([disk], vm: "vm2", keys: keys, changeCache: cache)
        #expect(other.chunksIDFromCache == 0)
        #expect(try self.cacheFiles(cache).count == 2)

        // A grown disk, or another chunk size, cuts other chunks: the file is ignored.
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == nonZero)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: disk))
        try handle.truncate(atOffset: UInt64(7 << 20))
        try handle.close()
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == 0)
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == nonZero)
        #expect(try t.backup([disk], keys: keys, chunkSize: 512 << 10, changeCache: cache).chunksIDFromCache == 0)
    }

    @Test func aCacheFolderThatCannotBeWrittenWarnsAndTheBackupStands() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let blocker = t.directory.file("not-a-folder")
        try Data([1]).write(to: URL(fileURLWithPath: blocker))
        let disk = try t.image("d.img", size: 3 << 20, seed: 10)
        let result = try t.backup([disk], keys: keys, changeCache: blocker + "/changes")
        #expect(result.changeCacheWarning?.contains("change cache was not written") == true)
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, keys: keys), disk))
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func aCacheFolderThatFillsUpMidBackupWarnsAndTheBackupStands() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let cache = t.directory.file("small-cache")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        #expect(try Programs.runSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", cache]) == 0)
        defer { _ = try? Programs.runSystem("/bin/umount", ["-l", cache]) }
        // 24 records of 2,176 bytes do not fit in 16 KiB: the writes run out of space part-way.
        let disk = try t.image("d.img", size: 24 << 20, seed: 12)
        let result = try t.backup([disk], keys: keys, changeCache: cache)
        #expect(result.changeCacheWarning?.contains("change cache was not written") == true, "\(result.changeCacheWarning ?? "no warning")")
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, keys: keys), disk))
        // The records that fit stand: the next backup takes those IDs from the cache and keys the rest.
        let next = try t.backup([disk], keys: keys, changeCache: cache)
        #expect(next.chunksIDFromCache > 0 && next.chunksIDFromCache < next.chunksReused, "\(next.chunksIDFromCache) of \(next.chunksReused)")
    }

    /// Changed chunks become deltas over the whole chunk their position held, built from the block tags
    /// without reading it; a chunk changed again is a delta over the same base with both changes, never a
    /// delta over a delta; every point restores.
    @Test func changedChunksBecomeDeltasFromTheBlockTagsAndEveryPointRestores() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let cache = t.directory.file("cache")
        let disk = try t.image("d.img", size: 12 << 20, seed: 41)
        let original = try Data(contentsOf: URL(fileURLWithPath: disk))
        var copies: [(String, String)] = []
        for round in 0..<5 {
            if round == 4 {
                try original.write(to: URL(fileURLWithPath: disk))  // back to the first content
            } else if round > 0 {
                try TestImages.scribble(disk, blocks: 6, seed: UInt64(round))
            }
            let result = try t.backup([disk], keys: keys, chunkSize: 256 << 10, changeCache: cache)
            if round > 0 && round < 4 {
                #expect(result.chunksDelta >= 1 && result.chunksDeltaFromCache == result.chunksDelta, "round \(round)")
                #expect(result.bytesStored < Int64(result.chunksNew) * (128 << 10), "round \(round)")
            }
            if round == 4 { #expect(result.chunksNew == 0, "the first content is stored") }
            let copy = t.directory.file("copy\(round).img")
            try FileManager.default.copyItem(atPath: disk, toPath: copy)
            copies.append((result.recoveryPoint, copy))
        }
        for (point, copy) in copies {
            #expect(TestImages.equal(try t.restore(point, keys: keys), copy))
        }
        #expect(try Verifier.run(vault: t.vault, keys: keys, mode: .all).ok)
    }

    /// After the cache is lost, the backup that rebuilds it records the chunks it matched in the previous
    /// point as bases, so the next one builds deltas from the block tags again. A write-only client
    /// builds deltas in no other way.
    @Test func aRebuiltCacheOffersTheChunksOfThePreviousPointAsBases() throws {
        let (t, operatorKeys, client, cache, disk) = try self.writeOnlyClientAfterOneBackup(seed: 48)
        try FileManager.default.removeItem(atPath: cache)
        let rebuilt = try t.backup([disk], keys: client, changeCache: cache)
        #expect(rebuilt.chunksNew == 0 && rebuilt.chunksIDFromCache == 0)
        try TestImages.scribble(disk, blocks: 2, seed: 49)
        let next = try t.backup([disk], keys: client, changeCache: cache)
        #expect(next.chunksNew >= 1)
        #expect(next.chunksDelta == next.chunksNew && next.chunksDeltaFromCache == next.chunksDelta)
        #expect(TestImages.equal(try t.restore(next.recoveryPoint, keys: operatorKeys), disk))
    }

    /// A write-only client cannot read a base, yet stores changed chunks as deltas from its block tags;
    /// the operator's key restores them, the client's does not.
    @Test func aWriteOnlyClientStoresDeltasFromItsBlockTags() throws {
        let (t, operatorKeys, client, cache, disk) = try self.writeOnlyClientAfterOneBackup(seed: 46)
        try TestImages.scribble(disk, blocks: 2, seed: 47)
        let second = try t.backup([disk], keys: client, changeCache: cache)
        #expect(second.chunksDelta >= 1 && second.chunksDeltaFromCache == second.chunksDelta)
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: operatorKeys), disk))
        #expect(throws: TresorError.self) { try t.restore(second.recoveryPoint, keys: client) }
    }
}
