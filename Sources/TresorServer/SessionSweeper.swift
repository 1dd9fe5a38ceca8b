import Logging
import ServiceLifecycle
import TresorCore
import TresorEngine

/// Ends sessions whose clients went silent, and says so in the audit log.
struct SessionSweeper: Service {
    let state: ServerState
    let idleLimit: Duration
    let logger: Logger

    func run() async throws {
        let interval = min(self.idleLimit / 4, .seconds(30))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                for id in self.state.service.expireSessions(idleFor: self.idleLimit) {
                    self.logger.info("backup session expired", metadata: ["session": "\(id)"])
                    try? self.state.audit.append(AuditEntry(atMillis: VaultClock.nowMillis, actor: "vault", role: "-", action: "session.expire",
                                                            target: id, result: "ok"), durable: true)
                }
            }
        }
    }
}
