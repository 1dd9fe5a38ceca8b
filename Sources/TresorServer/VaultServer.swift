#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
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

/// Everything a request handler reaches: the vault behind its service, the tokens, the audit log.
final class ServerState: Sendable {
    let directory: VaultDirectory
    let service: VaultService
    let tokens: SQLiteTokenStore
    let audit: AuditLog
    /// Threads for the store's and catalog's blocking calls, so they never hold Swift's cooperative pool.
    let pool: NIOThreadPool
    let metrics = ServerMetrics()
    /// As many upload bodies in memory at once as there are threads to store them, and as many waiting.
    let uploads: UploadSlots

    var vault: Vault { self.service.vault }

    init(directory: VaultDirectory, service: VaultService, tokens: SQLiteTokenStore, audit: AuditLog, pool: NIOThreadPool) {
        self.directory = directory
        self.service = service
        self.tokens = tokens
        self.audit = audit
        self.pool = pool
        self.uploads = UploadSlots(16)
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await self.pool.runIfActive(body)
    }

    /// Records a mutating call. An audit log that cannot be written fails the call: nothing changes unseen.
    func record(_ context: VaultRequestContext, action: String, target: String, result: String, durable: Bool) throws {
        let caller = context.caller
        try self.audit.append(AuditEntry(atMillis: Clock.nowMillis, actor: caller?.id ?? "anonymous", role: caller?.role.rawValue ?? "-",
                                         action: action, target: target, result: result, requestID: context.id),
                              durable: durable)
    }
}

public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// A session with no call for this long is ended; its client died.
    public var sessionIdleLimit: Duration
    /// Threads for blocking store and catalog calls.
    public var blockingThreads: Int
    /// PEM files of the certificate chain and its private key; nil serves plain HTTP.
    public var tls: (certificate: String, key: String)?

    public init(host: String, port: Int, sessionIdleLimit: Duration = .seconds(900), blockingThreads: Int = 8,
                tls: (certificate: String, key: String)? = nil) {
        self.host = host
        self.port = port
        self.sessionIdleLimit = sessionIdleLimit
        self.blockingThreads = blockingThreads
        self.tls = tls
    }

    /// HTTP/1.1, over TLS 1.2 or later when a certificate is given.
    func serverBuilder() throws -> HTTPServerBuilder {
        guard let tls = self.tls else { return .http1() }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return try .tls(.http1(), tlsConfiguration: configuration)
        } catch {
            throw TresorError(.invalidArgument, "cannot use the TLS certificate \(tls.certificate) with key \(tls.key): \(error)",
                              action: "give a PEM certificate chain and its PEM private key")
        }
    }
}

public enum VaultServer {
    /// Serves the vault directory until SIGTERM or SIGINT, then stops taking connections, lets running
    /// requests finish and returns. `onListening` gets the bound port (useful with port 0).
    public static func run(directory path: String, settings: ServerSettings, logger: Logger, listRoutesOnly: Bool = false,
                           onListening: @escaping @Sendable (Int) -> Void) async throws {
        let directory = try VaultDirectory.open(at: path)
        // The server is the vault's writer while it runs: local writers get vault.busy, readers go on.
        let lock = try directory.lock(exclusive: true)
        defer { withExtendedLifetime(lock) {} }
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
        let state = ServerState(directory: directory, service: VaultService(vault: vault), tokens: try SQLiteTokenStore(vaultDirectory: path),
                                audit: try AuditLog(vaultDirectory: path), pool: pool)

        let router = Self.makeRouter(state: state, registry: registry)
        if listRoutesOnly {
            for route in router.routes { print("\(route.method) \(route.path)") }
            try await pool.shutdownGracefully()
            return
        }

        let app = Application(
            router: router,
            server: try settings.serverBuilder(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "tresor-vault"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? settings.port) },
            logger: logger)
        let sweeper = SessionSweeper(state: state, idleLimit: settings.sessionIdleLimit, logger: logger)
        let group = ServiceGroup(configuration: .init(
            // The sweeper ends first on shutdown; the server then lets running requests finish.
            services: [.init(service: app), .init(service: sweeper, successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await pool.shutdownGracefully()
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
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let api = router.group("v1").add(middleware: TokenMiddleware(tokens: state.tokens))
        StatusRoutes(state: state).register(api)
        ObjectRoutes(state: state).register(api)
        SessionRoutes(state: state).register(api)

        return router
    }
}

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
                    try? self.state.audit.append(AuditEntry(atMillis: Clock.nowMillis, actor: "vault", role: "-", action: "session.expire",
                                                            target: id, result: "ok"), durable: true)
                }
            }
        }
    }
}

enum Clock {
    static var nowMillis: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
