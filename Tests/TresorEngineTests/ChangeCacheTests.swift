import Foundation
import Testing
import TresorCore
@testable import TresorEngine
import TresorKeys
import TresorTestSupport

/// The client's change cache (ChangeCache): chunk IDs taken from it only where the content's tag still
/// matches, and a cache that does not hold exactly this disk ignored as a whole.
struct ChangeCacheTests {
    func cacheFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".tcc") }.sorted()
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

    @Test func aCacheThatDoesNotHoldExactlyThisDiskIsIgnoredWhole() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let cache = t.directory.file("cache")
        let disk = try t.image("d.img", size: 6 << 20, seed: 9)
        let first = try t.backup([disk], keys: keys, changeCache: cache)
        let nonZero = first.chunksNew + first.chunksReused
        let file = cache + "/" + (try self.cacheFiles(cache)[0])

        // One changed byte in an entry: the file's MAC fails and no ID is taken from it.
        let size = UInt64(try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int)
        try flipByte(file, at: UInt64(ChangeCache.headerByteCount) + 40)
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == 0)
        // That backup wrote a good file again.
        #expect(try t.backup([disk], keys: keys, changeCache: cache).chunksIDFromCache == nonZero)

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
}
