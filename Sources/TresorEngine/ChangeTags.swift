import TresorCore
import TresorCrypto

/// One backup's use of the change cache: each disk's file, read and updated in place record by record as
/// the pipeline passes its positions.
final class ChangeTags: Sendable {
    let cache: ChangeCache
    let layout: ChangeRecordLayout
    /// Each disk's file; nil when it could not be opened or created (the backup goes on and warns).
    private let files: [ChangeCacheFile?]
    /// Disks whose file held this disk's records from an earlier backup.
    let loadedDisks: Int
    private let openError: String?

    init(cache: ChangeCache, vmID: String, diskIDs: [String], plan: ChunkPlan) {
        self.cache = cache
        self.layout = ChangeRecordLayout(chunkSize: plan.chunkSize)
        var files: [ChangeCacheFile?] = []
        var loaded = 0
        var openError: String?
        for disk in plan.sizes.indices {
            do {
                let (file, found) = try cache.openFile(vmID: vmID, diskID: diskIDs[disk], chunkSize: plan.chunkSize, diskSize: plan.sizes[disk],
                                                       chunkCount: plan.chunkCounts[disk])
                files.append(file)
                if found { loaded += 1 }
            } catch {
                files.append(nil)
                openError = openError ?? "\(error)"
            }
        }
        self.files = files
        self.loadedDisks = loaded
        self.openError = openError
    }

    func worker(slots: Int, maximumChunk: Int) -> ChangeTagWorker { ChangeTagWorker(tags: self, slots: slots, maximumChunk: maximumChunk) }

    func file(disk: Int) -> ChangeCacheFile? { self.files[disk] }

    /// Reports a file that could not be opened or a record that could not be written.
    func finish() throws {
        if let openError = self.openError {
            throw TresorError(.storageIO, "the change cache in \(self.cache.directory) could not be opened: \(openError)")
        }
        for file in self.files { try file?.finish() }
    }
}

/// A pipeline worker's side of the change cache: its scratch buffers, its Poly1305 context, and a record
/// per batch slot for chunks waiting on the vault's answer. Not `Sendable`: it stays on its worker.
final class ChangeTagWorker {
    /// What the previous record says about a chunk just read.
    enum Match {
        /// Every block's tag matches: the content is the one the record's ID was computed from.
        case unchanged(ChunkID)
        /// Some blocks changed. `base` is the whole chunk the previous content relates to, and the slot's
        /// bitmap marks every block in which the new content may differ from it.
        case changed(base: ChunkID?)
        /// No usable record.
        case unknown
    }

    private let tags: ChangeTags
    private let layout: ChangeRecordLayout
    private let tagger = BlockTagger()
    private let previous: UnsafeMutableRawBufferPointer
    private let compared: UnsafeMutableRawBufferPointer
    private let records: UnsafeMutableRawBufferPointer
    private let bitmaps: UnsafeMutableRawBufferPointer
    /// Where a delta built from the tags is written.
    let payload: UnsafeMutableRawBufferPointer

    init(tags: ChangeTags, slots: Int, maximumChunk: Int) {
        self.tags = tags
        self.layout = tags.layout
        self.previous = .allocate(byteCount: self.layout.byteCount, alignment: 16)
        self.compared = .allocate(byteCount: self.layout.tags.count, alignment: 16)
        self.records = .allocate(byteCount: self.layout.byteCount * slots, alignment: 16)
        self.bitmaps = .allocate(byteCount: self.layout.bitmapByteCount * slots, alignment: 16)
        self.payload = .allocate(byteCount: maximumChunk, alignment: 64)
    }

    deinit {
        for buffer in [self.previous, self.compared, self.records, self.bitmaps, self.payload] { buffer.deallocate() }
    }

    /// The bitmap of blocks that may differ from the base, as `compare` left it for `slot`.
    func changedBlocks(slot: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(self.bitmap(slot)) }

    /// Compares `chunk` with the record of its position.
    func compare(_ chunk: UnsafeRawBufferPointer, disk: Int, index: Int, slot: Int) -> Match {
        guard let file = self.tags.file(disk: disk), file.read(position: index, into: self.previous) else { return .unknown }
        let blocks = (chunk.count + ChangeCache.blockSize - 1) / ChangeCache.blockSize
        self.tagUnder(nonce: UnsafeRawBufferPointer(rebasing: self.previous[self.layout.nonce]), position: index, chunk, into: self.compared)
        let bitmap = self.bitmap(slot)
        bitmap.initializeMemory(as: UInt8.self, repeating: 0)
        var anyChanged = false
        let stored = UnsafeRawBufferPointer(rebasing: self.previous[self.layout.tags])
        for block in 0..<blocks {
            let offset = block * BlockTagger.tagByteCount
            if stored.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != self.compared.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                bitmap[block / 8] |= UInt8(1) << UInt8(block % 8)
                anyChanged = true
            }
        }
        let id = ChunkID(bytes: UnsafeRawBufferPointer(rebasing: self.previous[self.layout.chunkID]))
        // An unchanged content keeps its record as it is.
        guard anyChanged else { return .unchanged(id) }
        let base = ChunkID(bytes: UnsafeRawBufferPointer(rebasing: self.previous[self.layout.base]))
        guard !base.isZero else { return .changed(base: nil) }
        // The previous content differed from its base in these blocks too (a delta's own blocks).
        for i in 0..<self.layout.bitmapByteCount { bitmap[i] |= self.previous[self.layout.bitmap.lowerBound + i] }
        return .changed(base: base)
    }

    /// Starts the record of a content just keyed, in `slot`: a fresh nonce, its block tags and ID.
    func begin(_ chunk: UnsafeRawBufferPointer, id: ChunkID, index: Int, slot: Int) throws {
        let record = self.record(slot)
        record.initializeMemory(as: UInt8.self, repeating: 0)
        let nonce = UnsafeMutableRawBufferPointer(rebasing: record[self.layout.nonce])
        repeat { try SecureRandom.fill(nonce) } while !nonce.contains(where: { $0 != 0 })
        id.write(to: UnsafeMutableRawBufferPointer(rebasing: record[self.layout.chunkID]))
        self.tagUnder(nonce: UnsafeRawBufferPointer(nonce), position: index, chunk, into: UnsafeMutableRawBufferPointer(rebasing: record[self.layout.tags]))
    }

    /// Finishes the record begun in `slot` and writes it at (disk, index): `base` is the chunk the content
    /// relates to (itself unless it was stored as a delta), with `bitmap` the blocks in which it differs;
    /// nil when that is not known. A delta is built over a base only once the vault says it holds it whole.
    func finish(slot: Int, disk: Int, index: Int, base: ChunkID?, bitmap: UnsafeRawBufferPointer? = nil) {
        guard let file = self.tags.file(disk: disk) else { return }
        let record = self.record(slot)
        if let base { base.write(to: UnsafeMutableRawBufferPointer(rebasing: record[self.layout.base])) }
        if let bitmap {
            UnsafeMutableRawBufferPointer(rebasing: record[self.layout.bitmap.lowerBound..<self.layout.bitmap.lowerBound + bitmap.count])
                .copyMemory(from: bitmap)
        }
        file.write(position: index, record: record)
    }

    private func tagUnder(nonce: UnsafeRawBufferPointer, position: Int, _ chunk: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        self.tagger.tag(chunk, blockSize: ChangeCache.blockSize, seedFrom: { self.tags.cache.seed(nonce: nonce, position: position, into: $0) },
                        into: out)
    }

    private func record(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self.records[slot * self.layout.byteCount..<(slot + 1) * self.layout.byteCount])
    }

    private func bitmap(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self.bitmaps[slot * self.layout.bitmapByteCount..<(slot + 1) * self.layout.bitmapByteCount])
    }
}
