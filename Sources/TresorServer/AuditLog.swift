#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TresorCore

/// One line of the audit log: who did what, when, and how it ended.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var atMillis: Int64
    /// The token's ID, or "local" for commands run on the vault's own machine.
    public var actor: String
    public var role: String
    public var action: String
    public var target: String
    /// "ok", or the error code.
    public var result: String
    public var requestID: String?

    public init(atMillis: Int64, actor: String, role: String, action: String, target: String, result: String,
                requestID: String? = nil) {
        self.atMillis = atMillis
        self.actor = actor
        self.role = role
        self.action = action
        self.target = target
        self.result = result
        self.requestID = requestID
    }
}

/// `audit.log` in the vault directory: JSON lines, opened append-only, never rewritten. Entries that
/// change who may do what (tokens) and what the vault holds (commits) are flushed to disk before the
/// call answers; uploads inside a session are flushed with the session's commit.
public final class AuditLog: Sendable {
    public let path: String
    private let descriptor: Mutex<Int32>

    public init(vaultDirectory: String) throws {
        self.path = vaultDirectory + "/audit.log"
        self.descriptor = Mutex(try POSIX.open(self.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600))
    }

    deinit { self.descriptor.withLock { _ = close($0) } }

    public func append(_ entry: AuditEntry, durable: Bool) throws {
        var line = try JSON.encode(entry)
        line.append(0x0A)
        try self.descriptor.withLock { fd in
            // One write per line: O_APPEND keeps lines whole even with several writers.
            try line.withUnsafeBytes { try POSIX.writeAll(fd, $0, path: self.path) }
            if durable { try POSIX.fsync(fd, path: self.path) }
        }
    }

    /// Every entry, oldest first. A torn last line (a crash mid-write) is skipped.
    public static func read(vaultDirectory: String) throws -> [AuditEntry] {
        let path = vaultDirectory + "/audit.log"
        guard AtomicFile.exists(path) else { return [] }
        let bytes = try AtomicFile.read(path)
        return bytes.split(separator: 0x0A).compactMap { try? JSON.decode(AuditEntry.self, from: Array($0), what: "audit entry") }
    }
}
