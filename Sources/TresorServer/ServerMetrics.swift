import CoreMetrics
import Metrics
import TresorCore

/// What the vault counts for `/metrics` (Prometheus text format, through swift-metrics): request counts and
/// latencies come from Hummingbird's middleware, these are the vault's own. Labels never carry IDs or
/// tokens; only the per-VM gauge carries the VM's name and host, as alerting on a stale backup needs.
struct ServerMetrics: Sendable {
    private let bytesIn = Counter(label: "tresor_upload_bytes_total")
    private let bytesOut = Counter(label: "tresor_download_bytes_total")
    private let chunksStored = Counter(label: "tresor_chunks_stored_total")
    private let chunksDeduplicated = Counter(label: "tresor_chunks_deduplicated_total")
    private let chunksAsked = Counter(label: "tresor_chunks_looked_up_total")
    private let commits = Counter(label: "tresor_recovery_points_committed_total")
    private let sessionsOpened = Counter(label: "tresor_sessions_opened_total")
    private let openSessions = Gauge(label: "tresor_sessions_open")

    func storedChunk(bytes: Int) {
        self.chunksStored.increment()
        self.bytesIn.increment(by: bytes)
    }

    func answeredLookup(asked: Int, present: Int) {
        self.chunksAsked.increment(by: asked)
        self.chunksDeduplicated.increment(by: present)
    }

    func served(bytes: Int) { self.bytesOut.increment(by: bytes) }
    func committed() { self.commits.increment() }
    func openedSession() { self.sessionsOpened.increment() }
    func sessions(open count: Int) { self.openSessions.record(count) }

    /// Each VM's newest live recovery point, as seconds since the epoch (an alert fires when it gets old).
    func lastBackups(_ points: [RecoveryPointRecord]) {
        var newest: [String: (name: String, host: String, at: Int64)] = [:]
        for point in points where point.deletedAtMillis == nil {
            let key = point.vmName + "\u{0}" + point.host
            if point.createdAtMillis > newest[key]?.at ?? .min { newest[key] = (point.vmName, point.host, point.createdAtMillis) }
        }
        for vm in newest.values {
            Gauge(label: "tresor_vm_last_backup_timestamp_seconds", dimensions: [("vm", vm.name), ("host", vm.host)])
                .record(Double(vm.at) / 1000)
        }
    }
}
