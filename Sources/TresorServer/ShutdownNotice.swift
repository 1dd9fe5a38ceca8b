import Logging
import ServiceLifecycle

/// Says in the log when the server begins to stop (SIGTERM or SIGINT): an operator waiting for it to
/// exit then knows it is letting running requests finish rather than hanging.
struct ShutdownNotice: Service {
    let logger: Logger

    func run() async throws {
        try await gracefulShutdown()
        self.logger.info("stopping: refusing new connections, letting running requests finish")
    }
}
