import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
public import TresorCore
public import TresorEngine

/// A served vault's deletes, undeletes and collections (admin routes), and read leases that a thread
/// renews while a restore or verify runs.
public struct RemoteMaintenance: VaultMaintenance {
    let connection: VaultConnection

    public func deleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord {
        try VaultConnection.decode(RecoveryPointRecord.self, try self.connection.send(.DELETE, "/v1/recovery-points/\(VaultConnection.escape(id))"))
    }

    public func undeleteRecoveryPoint(_ id: String) throws -> RecoveryPointRecord {
        try VaultConnection.decode(RecoveryPointRecord.self,
                                   try self.connection.send(.POST, "/v1/recovery-points/\(VaultConnection.escape(id))/undelete"))
    }

    public func collectGarbage() throws -> GarbageReport {
        try VaultConnection.decode(GarbageReport.self, try self.connection.send(.POST, "/v1/gc"))
    }

    /// One lease per `leaseSize` points (the server's limit per request).
    public func holdForReading(_ points: [String]) throws -> any ReadHold {
        var holders: [LeaseHolder] = []
        do {
            for start in stride(from: 0, to: points.count, by: Self.leaseSize) {
                let part = Array(points[start..<min(start + Self.leaseSize, points.count)])
                let lease = try self.connection.postJSON(ReadLease.self, "/v1/leases", LeaseRequest(recoveryPoints: part))
                holders.append(LeaseHolder(connection: self.connection, lease: lease))
            }
        } catch {
            holders.forEach { $0.release() }
            throw error
        }
        return LeaseHolders(holders: holders)
    }

    static let leaseSize = 4096
}

struct LeaseHolders: ReadHold {
    let holders: [LeaseHolder]
    func release() { self.holders.forEach { $0.release() } }
}

/// Renews a lease every third of its period until released (its thread keeps it alive till then; a
/// process that dies without releasing lets it expire). A renewal that fails is tried again at the next
/// tick; the read itself reports any real trouble with the vault.
final class LeaseHolder: ReadHold {
    private let connection: VaultConnection
    private let lease: ReadLease
    private let released = Mutex(false)

    init(connection: VaultConnection, lease: ReadLease) {
        self.connection = connection
        self.lease = lease
        let thread = Thread { [self] in self.renewUntilReleased() }
        thread.name = "tresor-lease"
        thread.start()
    }

    private func renewUntilReleased() {
        let interval = Double(ReadLeases.periodMillis) / 3000
        var waited = 0.0
        while !self.released.withLock({ $0 }) {
            Thread.sleep(forTimeInterval: 0.2)
            waited += 0.2
            guard waited >= interval else { continue }
            waited = 0
            let body = try? JSON.encode(LeaseRequest(recoveryPoints: self.lease.recoveryPoints))
            _ = try? self.connection.send(.PUT, "/v1/leases/\(self.lease.id)", body: body.map { ByteBuffer(bytes: $0) },
                                          contentType: "application/json")
        }
    }

    func release() {
        let first = self.released.withLock { released in
            defer { released = true }
            return !released
        }
        if first { _ = try? self.connection.send(.DELETE, "/v1/leases/\(self.lease.id)", allowNotFound: true) }
    }
}
