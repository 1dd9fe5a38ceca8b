#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
public import TresorCore
import TresorCrypto

/// The vault's side of backups over a store and catalog: sessions exclusive per VM, checks of everything
/// a client sends that can be checked without keys, and the commit. A local backup calls it in-process;
/// the vault server calls the same code for remote clients (docs/server.md says which checks are whose).
public final class VaultService: BackupDestination {
    public let vault: Vault
    let sessions = Mutex<[String: VaultSession]>([:])
    /// Held by garbage collection while it deletes a batch, and by everything that tells a client what the
    /// vault holds (opening a session, lookups, index pages), so that no answer "already stored" is given
    /// for an object a collection is deleting. Taken before `sessions` when both are.
    let collecting = Mutex<Void>(())
    /// While a collection runs: what sessions that committed meanwhile were told is stored or stored
    /// themselves, which their new points may reference although the collection's mark did not see them.
    let committedDuringCollection = Mutex<CollectionPins?>(nil)
    /// One collection at a time.
    let oneCollection = Mutex<Void>(())
    /// Read leases of restores and verifies (docs/server.md, "Deleting and collecting").
    public let leases: ReadLeases
    /// How sessions ended lately, oldest first and bounded: a commit repeated because its answer was lost
    /// gets the same recovery point, and calls still in flight on a session a failure ended get that
    /// failure instead of "no such session".
    private let finished = Mutex<[(session: String, outcome: Outcome)]>([])
    private static let finishedLimit = 256

    private enum Outcome {
        case committed(RecoveryPointRecord)
        case failed(TresorError)
    }

    private func finish(_ session: String, _ outcome: Outcome) {
        self.finished.withLock { finished in
            finished.append((session, outcome))
            if finished.count > Self.finishedLimit { finished.removeFirst() }
        }
    }

    private func outcome(of session: String) -> Outcome? {
        self.finished.withLock { $0.last { $0.session == session }?.outcome }
    }

    public init(vault: Vault, leases: ReadLeases? = nil) {
        self.vault = vault
        // A vault used in-process (a local command) has no readers but its own: its leases need no file.
        self.leases = leases ?? ReadLeases()
    }

    public var lookupBatchSize: Int { 1 }

    /// The seed's wording for a VM that is busy.
    public static let busyMessage = "another operation is in progress for this item"

    // MARK: Sessions

    public func openSession(_ request: SessionRequest) throws -> BackupSession {
        guard !request.diskSources.isEmpty, Set(request.diskSources).count == request.diskSources.count else {
            throw TresorError(.invalidArgument, "a backup names at least one disk, each once")
        }
        try VMNaming.check(vmName: request.vmName, host: request.host)
        // Identification and the busy check run under the registry's lock, so two first backups of one
        // new VM cannot both create it.
        return try self.collecting.withLock { _ in try self.sessions.withLock { sessions in
            if let key = request.requestKey,
               let same = sessions.values.first(where: { $0.requestKey == key && $0.info.vm.name == request.vmName && $0.info.vm.host == request.host }) {
                return same.info
            }
            let vm = try self.identify(request)
            if sessions.values.contains(where: { $0.info.vm.id == vm.id || ($0.info.vm.name == vm.name && $0.info.vm.host == vm.host) }) {
                throw TresorError(.operationInProgress, "\(Self.busyMessage) (VM '\(vm.name)' on \(vm.host))",
                                  action: "wait for the running backup of this VM to finish")
            }
            let knownDisks = try self.vault.catalog.disks(vmID: vm.id)
            let disks = request.diskSources.map { source in
                knownDisks.first(where: { $0.source == source })
                    ?? DiskRecord(id: UUID().uuidString.lowercased(), vmID: vm.id, source: source)
            }
            let domain = vm.domainID
            let bad = try self.vault.catalog.badChunks(domain: domain)
            let info = BackupSession(
                id: UUID().uuidString.lowercased(), vaultID: self.vault.id, vm: vm, disks: disks,
                previous: try self.vault.catalog.recoveryPoints(vmID: vm.id).max(by: { $0.sequence < $1.sequence }),
                dataKeys: try self.vault.catalog.dataKeys(domain: domain), badChunks: bad.sorted())
            let budget = try self.vault.uploadBudget(vm: vm, inFlight: sessions.values.reduce(0) { $0 + $1.chargedBytes })
            let session = VaultSession(info: info, known: try self.vault.catalog.goodChunks(domain: domain),
                                       bases: try self.vault.catalog.deltaBases(domain: domain), bad: bad,
                                       requestKey: request.requestKey, budget: budget)
            sessions[info.id] = session
            return info
        } }
    }

    public func abandon(session: String) {
        _ = self.sessions.withLock { $0.removeValue(forKey: session) }
    }

    /// Ends a session because of `error` (a full disk): the session's other calls in flight get the same
    /// error, not "no such session", so the client reports the cause.
    public func end(session: String, because error: TresorError) {
        _ = self.sessions.withLock { $0.removeValue(forKey: session) }
        self.finish(session, .failed(error))
    }

    /// Ends sessions idle for longer than `idle`: their clients died. What they stored stays in the store
    /// and is adopted by the VM's next backup.
    public func expireSessions(idleFor idle: Duration) -> [String] {
        let now = ContinuousClock.now
        return self.sessions.withLock { sessions in
            let expired = sessions.values.filter { now - $0.lastActivity > idle }.map(\.id)
            for id in expired { sessions.removeValue(forKey: id) }
            return expired
        }
    }

    public var openSessionCount: Int { self.sessions.withLock { $0.count } }

    /// The name of the VM a session (open or just committed) belongs to, for servers that check a token's scope.
    public func sessionVMName(_ id: String) throws -> String {
        if case .committed(let record) = self.outcome(of: id) { return record.vmName }
        return try self.session(id).info.vm.name
    }

    public func sessionHost(_ id: String) throws -> String {
        if case .committed(let record) = self.outcome(of: id) { return record.host }
        return try self.session(id).info.vm.host
    }

    private func session(_ id: String) throws -> VaultSession {
        guard let session = self.sessions.withLock({ $0[id] }) else {
            if case .failed(let cause) = self.outcome(of: id) { throw cause }
            throw TresorError(.sessionNotFound, "backup session \(id) is not open (it committed, was abandoned or expired)",
                              action: "start the backup again; it reuses what the vault already holds")
        }
        return session
    }

    private func identify(_ request: SessionRequest) throws -> VMRecord {
        if let existing = try self.vault.catalog.findVM(name: request.vmName, host: request.host).first {
            if let domain = request.domain, domain != existing.domainID {
                throw TresorError(.invalidArgument, "VM '\(request.vmName)' on \(request.host) is in key domain \(existing.domainID), not \(domain)")
            }
            return existing
        }
        let id = try self.vault.reservedVMID(name: request.vmName, host: request.host) ?? UUID().uuidString.lowercased()
        return VMRecord(id: id, name: request.vmName, host: request.host, domainID: request.domain ?? .forVM(id: id),
                        createdAtMillis: request.nowMillis)
    }

    // MARK: Keys

    public func wrap(session: String, keyID: KeyID, kekIDs: [KeyID]) throws -> KeyWrapRecord? {
        try self.vault.findWrap(domain: try self.session(session).domain, keyID: keyID, kekIDs: kekIDs)
    }

    public func storeWraps(session: String, _ records: [KeyWrapRecord]) throws {
        let open = try self.session(session)
        // The VM is registered with the first thing a backup stores (its ID key's wraps), before any chunk:
        // a backup killed from here on resumes into the same VM and domain and reuses what it wrote, and a
        // client that cannot use the domain (its keys fail first) leaves no VM behind.
        try self.vault.catalog.registerVM(open.info.vm)
        for record in records where record.domainID != open.domain.rawValue {
            throw TresorError(.invalidArgument, "a wrap for domain \(record.domainID) was sent in a session of domain \(open.domain)")
        }
        try self.vault.storeWraps(records)
        for record in records where record.purpose == .data {
            try self.vault.catalog.registerDataKey(domain: open.domain, keyID: record.keyID, createdAtMillis: record.createdAtMillis)
            open.addDataKey(record.keyID)
        }
    }

    // MARK: Chunks and index pages

    public func lookup(session: String, _ ids: [ChunkID]) throws -> [StoredChunkKeys?] {
        let open = try self.session(session)
        return try self.collecting.withLock { _ in
            try ids.map { id in
                if open.keyID(of: id) == nil, try self.adoptLeftover(id, session: open) == nil { return nil }
                return open.keys(of: id)
            }
        }
    }

    public func putChunk(session: String, id: ChunkID, object: UnsafeRawBufferPointer) throws {
        let open = try self.session(session)
        let key = ObjectKey.chunk(domain: open.domain, id: id)
        let header = try ChunkObjectHeader.decode(object, objectLength: object.count, name: key.path)
        guard header.chunkID == id else {
            throw TresorError(.invalidArgument, "chunk object names ID \(header.chunkID), uploaded as \(id)")
        }
        guard open.knowsDataKey(header.dataKeyID) else {
            throw TresorError(.invalidArgument, "chunk \(id) is sealed under data key \(header.dataKeyID), which domain \(open.domain) has no wrap of",
                              action: "store the data key's wraps before its chunks")
        }
        if let base = header.base, open.keyID(of: base) == nil {
            // The base must be one the session was told is stored (so collection keeps it) or stored itself.
            throw TresorError(.missingObject, "delta chunk \(id) names base \(base), which domain \(open.domain) does not hold",
                              action: "store the chunk whole")
        }
        try open.charge(object.count)
        try self.vault.store.put(key, bytes: object)
        open.record(StoredChunk(id: id, storedBytes: object.count, dataKeyID: header.dataKeyID, base: header.base))
    }

    public func readChunk(session: String, id: ChunkID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        let open = try self.session(session)
        guard open.keyID(of: id) != nil else { return nil }
        return try self.vault.store.read(.chunk(domain: open.domain, id: id), into: buffer)
    }

    public func putIndexPage(session: String, _ page: [UInt8]) throws -> Bool {
        let open = try self.session(session)
        let hash = Hex.encode(SHA256.hash(page))
        let key = ObjectKey.indexPage(domain: open.domain, sha256: hash)
        _ = try IndexPage.decode(page, name: key.path)
        return try self.collecting.withLock { _ in
            open.recordPage(hash)
            if try self.vault.store.size(of: key) != nil { return false }
            try self.vault.store.put(key, bytes: page)
            return true
        }
    }

    public func indexPage(session: String, sha256: String) throws -> [UInt8] {
        let open = try self.session(session)
        guard let bytes = Hex.decode(sha256), bytes.count == 32 else {
            throw TresorError(.invalidArgument, "'\(sha256)' is not a SHA-256 in hex")
        }
        return try self.vault.store.get(.indexPage(domain: open.domain, sha256: sha256))
    }

    public func manifest(session: String, recoveryPointID: String) throws -> [UInt8] {
        let open = try self.session(session)
        guard let point = try self.vault.catalog.recoveryPoint(id: recoveryPointID), point.vmID == open.info.vm.id else {
            throw TresorError(.notFound, "VM '\(open.info.vm.name)' has no recovery point \(recoveryPointID)")
        }
        return try self.vault.store.get(.manifest(recoveryPoint: point.id))
    }

    /// A chunk object the catalog does not list but the store holds, left by a backup that was killed
    /// before its manifest. Its header must be sound and name this ID, and the chunk must not be marked
    /// bad; otherwise the client uploads it again.
    private func adoptLeftover(_ id: ChunkID, session: VaultSession) throws -> StoredChunk? {
        guard !session.bad.contains(id), let chunk = try self.vault.storedChunk(domain: session.domain, id: id),
              chunk.base.map({ session.keyID(of: $0) != nil }) ?? true
        else { return nil }
        session.record(chunk)
        return chunk
    }

    // MARK: Commit

    public func commit(session: String, manifest: [UInt8]) throws -> RecoveryPointRecord {
        if case .committed(let record) = self.outcome(of: session) { return record }
        let open = try self.session(session)
        defer {
            // Pinned and ended together, under the collection's lock: a collection running now never sees
            // the session gone while its chunks are unpinned.
            self.collecting.withLock { _ in
                self.committedDuringCollection.withLock { $0?.add(open) }
                self.abandon(session: session)
            }
        }
        let check = try CommitCheck(vault: self.vault, session: open, manifestBytes: manifest)
        try check.run()
        // Everything the session wrote, then the manifest: the commit point.
        try self.vault.store.synchronize()
        try self.vault.store.putDurably(.manifest(recoveryPoint: check.body.recoveryPointID), bytes: manifest)
        var commit = try CatalogCommit(manifest: check.loaded)
        let stored = open.storedChunks
        commit.newChunks = stored
        for chunk in stored { commit.sealsByDataKey[chunk.dataKeyID, default: 0] += 1 }
        try self.vault.catalog.commit(commit)
        self.finish(session, .committed(commit.recoveryPoint))
        return commit.recoveryPoint
    }
}
