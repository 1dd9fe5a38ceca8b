import Foundation
import Synchronization
import TresorCore
import TresorEngine

/// A backup destination that sends chunk objects no faster than `bytesPerSecond` (an agent's bandwidth
/// limit): each upload reserves its bytes on one shared timeline and sleeps until its turn, so the limit
/// holds across all pipeline workers together. A wait ends early, with `cancelled`, when the job is
/// cancelled, so that a slow line does not delay a cancel. Everything else passes straight through.
final class ThrottledDestination: BackupDestination {
    private let inner: any BackupDestination
    private let bytesPerSecond: Double
    /// When the line is next free (seconds on the monotonic clock).
    private let nextFree = Mutex<Double>(0)
    private let progress: ProgressCounter

    init(_ inner: any BackupDestination, bytesPerSecond: Int, progress: ProgressCounter) {
        self.inner = inner
        self.bytesPerSecond = Double(bytesPerSecond)
        self.progress = progress
    }

    var lookupBatchSize: Int { self.inner.lookupBatchSize }

    func putChunk(session: String, id: ChunkID, object: UnsafeRawBufferPointer) throws {
        try self.waitForTurn(bytes: object.count)
        try self.inner.putChunk(session: session, id: id, object: object)
    }

    func chunkUploader(session: String) -> any ChunkUploader {
        ThrottledUploader(inner: self.inner.chunkUploader(session: session), line: self)
    }

    /// Each object waits for its turn on the shared line before it goes to the inner uploader.
    private final class ThrottledUploader: ChunkUploader {
        let inner: any ChunkUploader
        let line: ThrottledDestination

        init(inner: any ChunkUploader, line: ThrottledDestination) {
            self.inner = inner
            self.line = line
        }

        func put(id: ChunkID, object: UnsafeRawBufferPointer) throws {
            try self.line.waitForTurn(bytes: object.count)
            try self.inner.put(id: id, object: object)
        }

        func finish() throws { try self.inner.finish() }
    }

    /// Reserves `bytes` on the shared timeline and sleeps until they may go.
    private func waitForTurn(bytes: Int) throws {
        let now = ProcessInfo.processInfo.systemUptime
        let start = self.nextFree.withLock { next in
            let start = max(next, now)
            next = start + Double(bytes) / self.bytesPerSecond
            return start
        }
        while ProcessInfo.processInfo.systemUptime < start {
            if self.progress.isCancelled { throw TresorError(.cancelled, "the backup was cancelled") }
            Thread.sleep(forTimeInterval: min(0.1, start - ProcessInfo.processInfo.systemUptime))
        }
    }

    func openSession(_ request: SessionRequest) throws -> BackupSession { try self.inner.openSession(request) }
    func wrap(session: String, keyID: KeyID, kekIDs: [KeyID]) throws -> KeyWrapRecord? {
        try self.inner.wrap(session: session, keyID: keyID, kekIDs: kekIDs)
    }
    func storeWraps(session: String, _ records: [KeyWrapRecord]) throws { try self.inner.storeWraps(session: session, records) }
    func lookup(session: String, _ ids: [ChunkID]) throws -> [StoredChunkKeys?] { try self.inner.lookup(session: session, ids) }
    func readChunk(session: String, id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        try self.inner.readChunk(session: session, id: id, into: buffer)
    }
    func putIndexPage(session: String, _ page: [UInt8]) throws -> Bool { try self.inner.putIndexPage(session: session, page) }
    func indexPage(session: String, sha256: String) throws -> [UInt8] { try self.inner.indexPage(session: session, sha256: sha256) }
    func manifest(session: String, recoveryPointID: String) throws -> [UInt8] {
        try self.inner.manifest(session: session, recoveryPointID: recoveryPointID)
    }
    func commit(session: String, manifest: [UInt8]) throws -> RecoveryPointRecord { try self.inner.commit(session: session, manifest: manifest) }
    func abandon(session: String) { self.inner.abandon(session: session) }
}
