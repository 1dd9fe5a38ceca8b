import ArgumentParser
import Logging
import TresorCommandLine
import TresorCore
import TresorRemote
import TresorServer

extension TresorVault {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve a vault over HTTP to backup clients and operators holding tokens.",
            discussion: """
                Prints 'listening on http://HOST:PORT' once it accepts connections (with port 0, the port the \
                system chose). SIGTERM or SIGINT stops it: it takes no new connections and lets running \
                requests finish. Open backup sessions stay uncommitted; their clients retry or start again.
                """)

        @Argument(help: "The vault directory.", completion: .directory)
        var directory: String

        @Option(help: "Address to listen on, HOST:PORT or [IPv6]:PORT (port 0 picks a free one); plain HTTP on loopback only.")
        var listen = "127.0.0.1:8300"

        @Option(help: "End backup sessions silent for this long (e.g. 15m).")
        var sessionIdle = "15m"

        @Option(help: "Log level: trace, debug, info, notice, warning, error.")
        var logLevel = "info"

        @Option(help: "Connections served at once (more wait in the listen backlog); bounds the server's memory.")
        var maxConnections = 32

        @Option(help: "PEM certificate chain: serve HTTPS (TLS 1.2 or later).", completion: .file())
        var tlsCert: String?

        @Option(help: "PEM private key of --tls-cert.", completion: .file())
        var tlsKey: String?

        @Option(help: "File holding the URL failed and missed backups are posted to (default: TRESOR_ALERT_WEBHOOK).", completion: .file())
        var alertWebhookFile: String?

        @Option(help: "Seconds between the scheduler's looks at policies and jobs.")
        var schedulerSeconds = 30

        @Flag(help: "Print every route (METHOD /path) and exit instead of serving.")
        var listRoutes = false

        func run() async throws {
            try await runReportingErrors("tresor-vault") {
                let (host, port) = try ListenAddress.parse(self.listen)
                guard (self.tlsCert == nil) == (self.tlsKey == nil) else {
                    throw TresorError(.invalidArgument, "--tls-cert and --tls-key go together")
                }
                // Clients send plain http to loopback only (VaultConnection); a server listening in the
                // clear elsewhere would take tokens and recovery points from anything else that talks to it.
                guard self.tlsCert != nil || LoopbackAddress.contains(host) else {
                    throw TresorError(.invalidArgument, "plain HTTP listens on loopback only, not on \(self.listen): tokens would cross the network in the clear",
                                      action: "give --tls-cert and --tls-key, or listen on 127.0.0.1")
                }
                guard (1...4096).contains(self.maxConnections) else {
                    throw TresorError(.invalidArgument, "--max-connections takes 1 to 4096")
                }
                let tls = self.tlsCert.flatMap { cert in self.tlsKey.map { (certificate: cert, key: $0) } }
                // Printed at start so that clients can pin it with --tls-fingerprint. A bad file is
                // reported by the server's own TLS set-up, with its reason.
                let fingerprint = tls.flatMap { try? ServerTrust.fingerprint(ofPEMFile: $0.certificate) }
                let idle = try DurationText.milliseconds(self.sessionIdle)
                guard let level = Logger.Level(rawValue: self.logLevel) else {
                    throw TresorError(.invalidArgument, "'\(self.logLevel)' is not a log level")
                }
                var logger = Logger(label: "tresor-vault")
                logger.logLevel = level
                var settings = ServerSettings(host: host, port: port, sessionIdleLimit: .milliseconds(idle), tls: tls)
                settings.maximumConnections = self.maxConnections
                settings.schedulerInterval = .seconds(max(1, self.schedulerSeconds))
                settings.alertWebhookFile = self.alertWebhookFile
                let served = settings
                try await VaultServer.run(
                    directory: self.directory, settings: settings,
                    logger: logger, listRoutesOnly: self.listRoutes,
                    onListening: { bound in
                        print("listening on \(served.url(port: bound))")
                        if let fingerprint { print("certificate sha256 \(ServerTrust.display(fingerprint))") }
                        fflushStandardOutput()
                    })
            }
        }
    }
}

enum ListenAddress {
    static func parse(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
              colon != text.startIndex
        else { throw TresorError(.invalidArgument, "'\(text)' is not HOST:PORT") }
        // An IPv6 address comes in brackets ([::1]:8300); the socket takes it without them.
        let host = text[..<colon]
        return (host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : String(host), port)
    }
}
