import Logging
import ServiceLifecycle
import TresorChunkStore
import TresorCore
import TresorEngine

/// Runs the scheduler (docs/jobs.md): due backup jobs are queued, missed slots recorded, stale jobs expired.
/// A failing tick is logged and retried at the next one; it never stops the server.
struct SchedulerService: Service {
    let state: ServerState
    let scheduler: BackupScheduler
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.state.blocking {
                        let now = VaultClock.nowMillis
                        try self.state.jobs.expireJobs(now: now)
                        try self.scheduler.finishDiscoveries(now: now, vaultRegion: self.state.directory.config.region)
                        for job in try self.scheduler.tick(now: now) {
                            self.logger.info("scheduled backup", metadata: ["job": "\(job.id)", "vm": "\(job.vmName)", "host": "\(job.host)",
                                                                            "status": "\(job.status.rawValue)"])
                        }
                    }
                } catch {
                    self.logger.error("scheduler tick failed", metadata: ["error": "\(error)"])
                }
                do { try await Task.sleep(for: self.interval) } catch { return }
            }
        }
    }
}
