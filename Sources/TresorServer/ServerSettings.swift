import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import TresorCore
public import TresorEngine

public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// A session with no call for this long is ended; its client died.
    public var sessionIdleLimit: Duration
    /// Threads for blocking store and catalog calls: enough for the reads a restore keeps in flight
    /// (direct reads wait on the device; a waiting thread costs only its stack).
    public var blockingThreads: Int
    /// PEM files of the certificate chain and its private key; nil serves plain HTTP.
    public var tls: (certificate: String, key: String)?

    /// The URL clients reach the server at once it listens on `port`.
    public func url(port: Int) -> String {
        "\(self.tls == nil ? "http" : "https")://\(self.address(port: port))"
    }

    /// HOST:PORT as a user writes it, an IPv6 host in brackets.
    public func address(port: Int) -> String {
        "\(self.host.contains(":") ? "[\(self.host)]" : self.host):\(port)"
    }

    /// Connections served at once; more wait in the listen backlog. Each open connection holds request
    /// buffers, so this bounds memory whatever the number of clients.
    public var maximumConnections = 32
    /// An idle keep-alive connection is closed after this, so waiting clients get its place.
    public var idleTimeout: Duration = .seconds(5)
    /// Running jobs and job starts per minute, vault-wide; on-demand limits per VM.
    public var jobLimits = JobQueue.Limits()
    /// How often the scheduler creates due jobs and expires stale ones.
    public var schedulerInterval: Duration = .seconds(30)
    /// A file holding the URL failed and missed backups are posted to (else `TRESOR_ALERT_WEBHOOK`).
    public var alertWebhookFile: String?

    public init(host: String, port: Int, sessionIdleLimit: Duration = .seconds(900), blockingThreads: Int = 32,
                tls: (certificate: String, key: String)? = nil) {
        self.host = host
        self.port = port
        self.sessionIdleLimit = sessionIdleLimit
        self.blockingThreads = blockingThreads
        self.tls = tls
    }

    /// HTTP/1.1, over TLS 1.2 or later when a certificate is given.
    func serverBuilder() throws -> HTTPServerBuilder {
        let http1 = BoundedHTTP1Channel.builder(idleTimeout: self.idleTimeout)
        guard let tls = self.tls else { return http1 }
        for (what, file) in [("certificate", tls.certificate), ("key", tls.key)] where !AtomicFile.exists(file) {
            throw TresorError(.invalidArgument, "the TLS \(what) file \(file) does not exist")
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return try .tls(http1, tlsConfiguration: configuration)
        } catch {
            throw TresorError(.invalidArgument, "cannot use the TLS certificate \(tls.certificate) with key \(tls.key): \(error)",
                              action: "give a PEM certificate chain and its PEM private key")
        }
    }
}
