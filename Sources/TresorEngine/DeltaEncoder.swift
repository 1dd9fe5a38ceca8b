import Synchronization
import TresorCore
import TresorCrypto
import TresorKeys

/// What a backup needs to store changed chunks as deltas (ChunkDelta): each disk's chunk IDs in the
/// previous recovery point, a vault that hands chunk objects to this client, and keys that open them.
/// Only a client that can decrypt builds deltas; a write-only client, or a server that does not give
/// backup clients chunk data, stores every changed chunk whole.
final class DeltaBases: Sendable {
    let destination: any BackupDestination
    let session: String
    /// Per disk position: the previous point's chunk IDs, when it was cut at this backup's chunk size.
    let previousByDisk: [[ChunkID]?]
    private let keys: KeyRing
    private let opened = Mutex<[KeyID: SymmetricKey]>([:])

    init?(destination: any BackupDestination, session: BackupSession, previous: PreviousIndex, chunkSize: Int, keys: KeyRing) {
        guard keys.canDecrypt, previous.chunkSize == chunkSize, !previous.idsByDisk.isEmpty else { return nil }
        self.destination = destination
        self.session = session.id
        self.previousByDisk = session.disks.map { previous.idsByDisk[$0.id]?.ids }
        self.keys = keys
    }

    func previousID(disk: Int, index: Int) -> ChunkID? {
        guard let ids = self.previousByDisk[disk], index < ids.count, !ids[index].isZero else { return nil }
        return ids[index]
    }

    /// A data key of the domain, unwrapped once per backup.
    func dataKey(_ id: KeyID) throws -> SymmetricKey {
        if let key = self.opened.withLock({ $0[id] }) { return key }
        guard let wrap = try self.destination.wrap(session: self.session, keyID: id, kekIDs: self.keys.openableKEKIDs) else {
            throw TresorError(.unwrapFailed, "data key \(id) has no wrap this key store opens")
        }
        let key = try self.keys.unwrap(wrap)
        self.opened.withLock { $0[id] = key }
        return key
    }
}

/// One worker's delta builder: fetches the whole chunk a region held before (the previous chunk, or the
/// base that chunk was itself a delta of, so deltas never chain), opens it and diffs the new chunk
/// against it in 4 KiB blocks.
final class DeltaEncoder {
    struct Delta {
        let base: ChunkID
        let baseDataKey: KeyID
        let length: Int
    }

    private let bases: DeltaBases
    private let opener: ChunkOpener
    private let basePlain: UnsafeMutableRawBufferPointer
    /// The delta payload built by `encode`.
    let payload: UnsafeMutableRawBufferPointer

    init(bases: DeltaBases, maximumChunk: Int) {
        self.bases = bases
        self.opener = ChunkOpener(maximumChunk: maximumChunk)
        self.basePlain = .allocate(byteCount: maximumChunk, alignment: 64)
        self.payload = .allocate(byteCount: maximumChunk, alignment: 64)
    }

    deinit {
        self.basePlain.deallocate()
        self.payload.deallocate()
    }

    /// The delta of `chunk` at (disk, index) into `payload`, or nil when there is no usable base or the
    /// delta would be more than half the chunk (it is then stored whole).
    func encode(_ chunk: UnsafeRawBufferPointer, id: ChunkID, disk: Int, index: Int) throws -> Delta? {
        guard let previous = self.bases.previousID(disk: disk, index: index), previous != id,
              let header = try self.readHeader(previous) else { return nil }
        var base = previous
        var baseHeader = header
        if let older = header.base {
            guard older != id, let olderHeader = try self.readHeader(older) else { return nil }
            base = older
            baseHeader = olderHeader
        }
        guard baseHeader.base == nil, baseHeader.plaintextLength == chunk.count else { return nil }
        let plain = UnsafeMutableRawBufferPointer(rebasing: self.basePlain[0..<chunk.count])
        do {
            try self.opener.openBase(length: baseHeader.objectLength, expectedID: base, name: "base \(base)",
                                     keyFor: self.bases.dataKey, into: plain)
        } catch let error as TresorError where [.integrity, .corruptObject, .unwrapFailed].contains(error.code) {
            // A damaged base (verify reports it), or one under a data key this key store does not open:
            // the chunk is stored whole.
            return nil
        }
        guard let length = ChunkDelta.encode(chunk, over: UnsafeRawBufferPointer(plain), into: self.payload, limit: chunk.count / 2) else {
            return nil
        }
        return Delta(base: base, baseDataKey: baseHeader.dataKeyID, length: length)
    }

    /// Reads a stored chunk object into the opener's buffer and parses its header; nil when the vault
    /// does not hand it over.
    private func readHeader(_ id: ChunkID) throws -> ChunkObjectHeader? {
        guard let length = try self.bases.destination.readChunk(session: self.bases.session, id: id, into: self.opener.object) else {
            return nil
        }
        return try? ChunkObjectHeader.decode(UnsafeRawBufferPointer(rebasing: self.opener.object[0..<length]), objectLength: length,
                                             name: "base \(id)")
    }
}
