import Hummingbird
import HummingbirdCore
import Metrics
import Prometheus
public import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import TresorCatalog
import TresorChunkStore
import TresorCore
import TresorEngine

public enum VaultServer {
    /// Serves the vault directory until SIGTERM or SIGINT, then stops taking connections, lets running
    /// requests finish and returns. `onListening` gets the bound port (useful with port 0).
    public static func run(directory path: String, settings: ServerSettings, logger: Logger, listRoutesOnly: Bool = false,
                           onListening: @escaping @Sendable (Int) -> Void) async throws {
        let directory = try VaultDirectory.open(at: path)
        // The server is the vault's writer while it runs: local writers get vault.busy, readers go on.
        let lock = try directory.lock(exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        defer { directory.removeServingRecord() }
        let store = try directory.openStore()
        _ = try store.removeTemporaryFiles()
        let vault = Vault(id: directory.config.vaultID, store: store, catalog: try SQLiteCatalog(path: directory.catalogPath))
        _ = try CatalogRebuilder.importMissingManifests(vault: vault)

        // One Prometheus registry for the process (swift-metrics is bootstrapped once), before any metric
        // is created.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let pool = NIOThreadPool(numberOfThreads: settings.blockingThreads)
        pool.start()
        let leases = try ReadLeases(file: path + "/leases.json")
        let alerts = try AlertWebhook.configured(file: settings.alertWebhookFile, vaultID: vault.id, logger: logger)
        let jobs = JobQueue(store: try SQLiteJobStore(vaultDirectory: path), vault: vault, limits: settings.jobLimits,
                            onFailure: { alerts?.jobFailed($0) })
        let state = ServerState(directory: directory, service: VaultService(vault: vault, leases: leases), jobs: jobs,
                                tokens: try SQLiteTokenStore(vaultDirectory: path),
                                audit: try AuditLog(vaultDirectory: path), pool: pool,
                                blockingThreads: settings.blockingThreads)

        let router = Self.makeRouter(state: state, registry: registry)
        if listRoutesOnly {
            for route in router.routes { print("\(route.method) \(route.path)") }
            try await pool.shutdownGracefully()
            return
        }

        let app = Application(
            router: router,
            server: try settings.serverBuilder(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "tresor-vault",
                                 availableConnectionsDelegate: MaximumAvailableConnections(settings.maximumConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                // Only a hint for local writers turned away (vault.busy): serving goes on without it.
                try? directory.recordServing(url: settings.url(port: port))
                onListening(port)
            },
            logger: logger)
        let sweeper = SessionSweeper(state: state, idleLimit: settings.sessionIdleLimit, logger: logger)
        let scheduler = SchedulerService(state: state, scheduler: BackupScheduler(vault: vault, jobs: jobs),
                                         interval: settings.schedulerInterval, logger: logger)
        let group = ServiceGroup(configuration: .init(
            // The sweeper and scheduler end first on shutdown; the server then lets running requests finish.
            services: [.init(service: app), .init(service: sweeper, successTerminationBehavior: .ignore),
                       .init(service: scheduler, successTerminationBehavior: .ignore),
                       .init(service: ShutdownNotice(logger: logger), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as IOError where [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(error.errnoCode) {
            try await pool.shutdownGracefully()
            throw TresorError(.listenFailed, "cannot listen on \(settings.address(port: settings.port)): \(String(cString: strerror(error.errnoCode)))",
                              action: "choose another --listen address, or stop what listens there")
        } catch let error as SocketAddressError.UnknownHost {
            try await pool.shutdownGracefully()
            throw TresorError(.listenFailed, "cannot listen on \(settings.address(port: settings.port)): \(error.errorDescription)",
                              action: "give an address of this machine, such as 127.0.0.1")
        }
        try await pool.shutdownGracefully()
        logger.info("stopped")
    }

    /// Every route the server answers (docs/openapi.json describes the same set; a test compares them).
    static func makeRouter(state: ServerState, registry: PrometheusCollectorRegistry) -> Router<VaultRequestContext> {
        let router = Router(context: VaultRequestContext.self)
        // Outermost, so it sees each error as the status it is answered with.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.get("/healthz") { _, _ in try HTTPCoding.json(["status": "ok"]) }
        router.get("/metrics") { _, _ in
            state.metrics.sessions(open: state.service.openSessionCount)
            state.metrics.lastBackups(try await state.blocking { try state.vault.catalog.recoveryPoints(vmID: nil) })
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let api = router.group("v1").add(middleware: TokenMiddleware(state: state))
        StatusRoutes(state: state).register(api)
        ObjectRoutes(state: state).register(api)
        ChunkReadRoutes(state: state).register(api)
        SessionRoutes(state: state).register(api)
        KeyRoutes(state: state).register(api)
        MaintenanceRoutes(state: state).register(api)
        PolicyRoutes(state: state).register(api)
        ProtectionRoutes(state: state).register(api)
        JobRoutes(state: state).register(api)

        return router
    }
}
