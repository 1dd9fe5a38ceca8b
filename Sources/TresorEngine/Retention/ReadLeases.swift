#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import TresorCore

/// A restore's or verify's hold on recovery points: while it lasts, garbage collection purges none of
/// them and deletes nothing they reference. Renewed by its holder; one that is not renewed expires, so
/// a reader that died holds nothing for long.
public struct ReadLease: Codable, Sendable, Equatable {
    public var id: String
    public var recoveryPoints: [String]
    public var holder: String
    public var expiresAtMillis: Int64

    public init(id: String, recoveryPoints: [String], holder: String, expiresAtMillis: Int64) {
        self.id = id
        self.recoveryPoints = recoveryPoints
        self.holder = holder
        self.expiresAtMillis = expiresAtMillis
    }
}

/// What a reader asks for.
public struct LeaseRequest: Codable, Sendable {
    public var recoveryPoints: [String]
    public init(recoveryPoints: [String]) { self.recoveryPoints = recoveryPoints }
}

/// The leases a vault has granted, kept in a file beside the catalog (when given one) so that a restarted
/// server still honours them: garbage collection may run right after a restart.
public final class ReadLeases: Sendable {
    /// Readers renew every third of this.
    public static let periodMillis: Int64 = 5 * 60_000
    private let leases: Mutex<[String: ReadLease]>
    private let file: String?

    /// Leases kept in memory only.
    public init() {
        self.file = nil
        self.leases = Mutex([:])
    }

    /// Leases kept in `file` too, as a served vault keeps them.
    public init(file: String) throws {
        self.file = file
        var loaded: [String: ReadLease] = [:]
        if AtomicFile.exists(file) {
            for lease in try JSON.decode([ReadLease].self, from: try AtomicFile.read(file), what: file) {
                loaded[lease.id] = lease
            }
        }
        self.leases = Mutex(loaded)
    }

    public func grant(_ points: [String], holder: String, now: Int64, id: String? = nil) throws -> ReadLease {
        let lease = ReadLease(id: id ?? UUID().uuidString.lowercased(), recoveryPoints: points, holder: holder,
                              expiresAtMillis: now + Self.periodMillis)
        try self.change(now: now) { $0[lease.id] = lease }
        return lease
    }

    /// Extends a lease; one the vault no longer knows (it expired while its holder was cut off) is granted
    /// again with the points the holder names.
    public func renew(_ id: String, points: [String], holder: String, now: Int64) throws -> ReadLease {
        try self.grant(points, holder: holder, now: now, id: id)
    }

    public func release(_ id: String, now: Int64) throws {
        try self.change(now: now) { $0.removeValue(forKey: id) }
    }

    /// Unexpired leases.
    public func active(now: Int64) -> [ReadLease] {
        self.leases.withLock { $0.values.filter { $0.expiresAtMillis > now }.sorted { $0.id < $1.id } }
    }

    /// Applies a change, drops expired leases, and writes the file before anyone relies on the change.
    private func change(now: Int64, _ body: (inout [String: ReadLease]) -> Void) throws {
        try self.leases.withLock { leases in
            body(&leases)
            leases = leases.filter { $0.value.expiresAtMillis > now }
            if let file = self.file {
                try AtomicFile.write(try JSON.encode(leases.values.sorted { $0.id < $1.id }), to: file)
            }
        }
    }
}
