import TresorCore
import TresorCrypto

/// One backup's use of the change cache: the entries the previous backup left for each disk, and the
/// entries this backup leaves for the next one.
///
/// An entry is a 16-byte random nonce, a 16-byte Poly1305 tag and a 32-byte chunk ID; an all-zero nonce
/// means no entry (a zero chunk, a hole, or a position never tagged). The tag's key is HMAC-SHA256 of the
/// nonce and the position under the cache's tag key, so each key tags one content and a new content gets a
/// new nonce: Poly1305 keeps its one-time-key guarantee (Keys/README.md, "Change cache").
final class ChangeTags: @unchecked Sendable {
    // @unchecked Sendable: `before` is immutable; each `after` slot is written only by the worker that
    // `WorkQueue` handed that (disk, index) to, and `after` is read (by `store`) only once `WorkerPool.run`
    // returned, whose DispatchGroup wait orders every worker's writes before that read.
    let cache: ChangeCache
    private let before: [[UInt8]?]
    private let after: [UnsafeMutableRawBufferPointer]

    init(cache: ChangeCache, vmID: String, diskIDs: [String], plan: ChunkPlan) {
        self.cache = cache
        self.before = plan.sizes.indices.map {
            cache.load(vmID: vmID, diskID: diskIDs[$0], chunkSize: plan.chunkSize, diskSize: plan.sizes[$0], chunkCount: plan.chunkCounts[$0])
        }
        self.after = plan.chunkCounts.map {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max($0 * ChangeCache.entryByteCount, 1), alignment: 16)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<$0 * ChangeCache.entryByteCount])
        }
    }

    deinit { for slot in self.after { slot.deallocate() } }

    /// Disks whose cache file was found intact.
    var loadedDisks: Int { self.before.count { $0 != nil } }

    /// The ID the previous backup computed for this position, when `chunk` is still the content it was
    /// computed from; the entry is then kept for the next backup.
    func cachedID(of chunk: UnsafeRawBufferPointer, disk: Int, index: Int) -> ChunkID? {
        guard let before = self.before[disk] else { return nil }
        return before.withUnsafeBytes { entries -> ChunkID? in
            let entry = Self.entry(index, of: entries)
            let nonce = UnsafeRawBufferPointer(rebasing: entry[0..<ChangeCache.nonceByteCount])
            guard nonce.contains(where: { $0 != 0 }) else { return nil }
            var tag = (UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &tag) { self.cache.tag(chunk, nonce: nonce, index: index, into: $0) }
            let matches = withUnsafeBytes(of: tag) { ConstantTime.equals($0, UnsafeRawBufferPointer(rebasing: entry[16..<32])) }
            guard matches else { return nil }
            self.slot(disk: disk, index: index).copyMemory(from: entry)
            return ChunkID(bytes: UnsafeRawBufferPointer(rebasing: entry[32..<64]))
        }
    }

    /// Records an ID just computed from `chunk`, under a fresh nonce.
    func record(_ chunk: UnsafeRawBufferPointer, id: ChunkID, disk: Int, index: Int) throws {
        let slot = self.slot(disk: disk, index: index)
        let nonce = UnsafeMutableRawBufferPointer(rebasing: slot[0..<ChangeCache.nonceByteCount])
        repeat { try SecureRandom.fill(nonce) } while !nonce.contains(where: { $0 != 0 })
        self.cache.tag(chunk, nonce: UnsafeRawBufferPointer(nonce), index: index, into: UnsafeMutableRawBufferPointer(rebasing: slot[16..<32]))
        id.write(to: UnsafeMutableRawBufferPointer(rebasing: slot[32..<64]))
    }

    /// Keeps the entry of a chunk that was not read because a snapshot knew it unchanged, when the entry
    /// holds the ID the chunk keeps.
    func carry(_ id: ChunkID, disk: Int, index: Int) {
        guard let before = self.before[disk] else { return }
        before.withUnsafeBytes { entries in
            let entry = Self.entry(index, of: entries)
            guard ChunkID(bytes: UnsafeRawBufferPointer(rebasing: entry[32..<64])) == id else { return }
            self.slot(disk: disk, index: index).copyMemory(from: entry)
        }
    }

    /// Writes every disk's entries for the next backup.
    func store(vmID: String, diskIDs: [String], plan: ChunkPlan) throws {
        for (position, entries) in self.after.enumerated() {
            try self.cache.store(UnsafeRawBufferPointer(entries), vmID: vmID, diskID: diskIDs[position], chunkSize: plan.chunkSize,
                                 diskSize: plan.sizes[position])
        }
    }

    private func slot(disk: Int, index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self.after[disk][Self.entryRange(index)])
    }

    private static func entry(_ index: Int, of entries: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: entries[Self.entryRange(index)])
    }

    private static func entryRange(_ index: Int) -> Range<Int> {
        index * ChangeCache.entryByteCount..<(index + 1) * ChangeCache.entryByteCount
    }
}
