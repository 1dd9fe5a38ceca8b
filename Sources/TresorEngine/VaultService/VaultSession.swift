import Synchronization
import TresorCore

/// The vault's record of one open backup session: what the domain held when it opened, and what the
/// session stored since. Only the vault side (`VaultService`) touches it.
final class VaultSession: Sendable {
    struct State: Sendable {
        /// Good chunks of the domain when the session opened (bad ones excluded).
        var known: [ChunkID: KeyID]
        /// Chunks this session stored or adopted, for the catalog at commit.
        var stored: [ChunkID: StoredChunk] = [:]
        /// Chunks answered "already stored": garbage collection keeps them while the session is open.
        var answered: Set<ChunkID> = []
        /// Index pages this session stored or found stored.
        var pages: Set<String> = []
        /// Data keys of the domain with a stored wrap.
        var dataKeys: Set<KeyID>
        var lastActivity: ContinuousClock.Instant
        /// Bytes of chunk objects this session stored, against `budget`.
        var charged: Int64 = 0
    }

    let info: BackupSession
    let bad: Set<ChunkID>
    /// The domain's delta chunks when the session opened, with their bases.
    let bases: [ChunkID: ChunkID]
    /// The client's key for the request that opened it (`SessionRequest.requestKey`).
    let requestKey: String?
    let opened: ContinuousClock.Instant
    /// What the quotas leave this session to store; nil without quotas.
    let budget: Int64?
    private let state: Mutex<State>

    var id: String { self.info.id }
    var domain: DomainID { self.info.vm.domainID }

    init(info: BackupSession, known: [ChunkID: KeyID], bases: [ChunkID: ChunkID] = [:], bad: Set<ChunkID>, requestKey: String?,
         budget: Int64? = nil) {
        self.info = info
        self.bases = bases
        self.budget = budget
        self.bad = bad
        self.requestKey = requestKey
        let now = ContinuousClock.now
        self.opened = now
        self.state = Mutex(State(known: known, dataKeys: Set(info.dataKeys.map(\.keyID)), lastActivity: now))
    }

    /// The data key of a chunk the domain holds or this session stored, touching the session's clock.
    func keyID(of id: ChunkID) -> KeyID? {
        self.state.withLock { state in
            state.lastActivity = .now
            if let key = state.known[id] {
                state.answered.insert(id)
                return key
            }
            return state.stored[id]?.dataKeyID
        }
    }

    /// The data keys of a chunk the domain holds or this session stored, its base's included, touching
    /// the session's clock and keeping the chunk and its base for the session; nil when it, or its base,
    /// is not (or no longer) held.
    func keys(of id: ChunkID) -> StoredChunkKeys? {
        guard let dataKey = self.keyID(of: id) else { return nil }
        guard let base = self.bases[id] ?? self.state.withLock({ $0.stored[id]?.base }) else {
            return StoredChunkKeys(dataKey: dataKey)
        }
        guard let baseKey = self.keyID(of: base) else { return nil }
        return StoredChunkKeys(dataKey: dataKey, baseDataKey: baseKey)
    }

    /// Counts a chunk object about to be stored against the session's quota budget.
    func charge(_ bytes: Int) throws {
        try self.state.withLock { state in
            if let budget = self.budget, state.charged + Int64(bytes) > budget {
                throw TresorError(.quotaExceeded, "the backup of VM '\(self.info.vm.name)' would pass a storage quota (\(budget) bytes were left when it began)",
                                  action: "raise the quota with 'tresor-vault quota set', or free space; recovery points already made are intact")
            }
            state.charged += Int64(bytes)
        }
    }

    var chargedBytes: Int64 { self.state.withLock { $0.charged } }

    func recordPage(_ sha256: String) {
        self.state.withLock { state in
            state.lastActivity = .now
            state.pages.insert(sha256)
        }
    }

    /// What garbage collection must keep for this session among `chunks` and `pages`; the other chunks
    /// are forgotten, so the session answers "missing" for them from now on and its client uploads them.
    func keep(chunks: [ChunkID], pages: [String]) -> (chunks: Set<ChunkID>, pages: Set<String>) {
        self.state.withLock { state in
            var kept = Set<ChunkID>()
            for id in chunks {
                if state.answered.contains(id) || state.stored[id] != nil {
                    kept.insert(id)
                } else {
                    state.known.removeValue(forKey: id)
                }
            }
            return (kept, Set(pages.filter { state.pages.contains($0) }))
        }
    }

    func record(_ chunk: StoredChunk) {
        self.state.withLock { state in
            state.lastActivity = .now
            state.stored[chunk.id] = chunk
        }
    }

    func knowsDataKey(_ id: KeyID) -> Bool { self.state.withLock { $0.dataKeys.contains(id) } }
    func addDataKey(_ id: KeyID) { self.state.withLock { _ = $0.dataKeys.insert(id) } }

    var storedChunks: [StoredChunk] { self.state.withLock { Array($0.stored.values) } }

    /// Everything garbage collection must keep for this session: chunks it was told are stored or stored,
    /// and index pages it uploaded or found.
    var held: (chunks: Set<ChunkID>, pages: Set<String>) {
        self.state.withLock { ($0.answered.union($0.stored.keys), $0.pages) }
    }
    var lastActivity: ContinuousClock.Instant { self.state.withLock { $0.lastActivity } }
}
