import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import TresorCore
import TresorCrypto

/// Which certificate an https vault must present.
public enum ServerTrust: Sendable, Equatable {
    /// A chain to the system's trust roots, naming the host.
    case systemRoots
    /// A chain to the certificates in this PEM file (the server's own, to pin it), naming the host.
    case certificateFile(String)
    /// Exactly the certificate whose DER encoding has this SHA-256, whatever host it names, as
    /// `tresor-vault serve` prints it. For self-signed certificates; a CA-issued one is pinned with
    /// `certificateFile`.
    case fingerprint([UInt8])

    /// `--tls-ca` and `--tls-fingerprint`; at most one of them.
    public static func from(caFile: String?, fingerprint: String?) throws -> ServerTrust {
        switch (caFile, fingerprint) {
        case (nil, nil): return .systemRoots
        case (let file?, nil): return .certificateFile(file)
        case (nil, let text?): return .fingerprint(try Self.parseFingerprint(text))
        case (.some, .some):
            throw TresorError(.invalidArgument, "--tls-ca and --tls-fingerprint exclude each other", action: "give one of them")
        }
    }

    /// 64 hex digits, with or without colons, either case (as `openssl x509 -fingerprint -sha256` prints it).
    static func parseFingerprint(_ text: String) throws -> [UInt8] {
        let digits = text.filter { $0 != ":" }.lowercased()
        guard digits.count == 2 * SHA256.byteCount, let bytes = Hex.decode(digits) else {
            throw TresorError(.invalidArgument, "'\(text)' is not a SHA-256 fingerprint",
                              action: "give the 64 hex digits 'tresor-vault serve' prints after 'certificate sha256'")
        }
        return bytes
    }

    /// The colon-separated upper-case form operators compare by eye.
    public static func display(_ fingerprint: [UInt8]) -> String {
        stride(from: 0, to: fingerprint.count, by: 1).map { Hex.encode([fingerprint[$0]]).uppercased() }.joined(separator: ":")
    }

    /// The fingerprint of the first certificate in a PEM file.
    public static func fingerprint(ofPEMFile path: String) throws -> [UInt8] {
        guard let leaf = try NIOSSLCertificate.fromPEMFile(path).first else {
            throw TresorError(.invalidArgument, "\(path) holds no certificate")
        }
        return SHA256.hash(try leaf.toDERBytes())
    }
}

/// Fetches the certificate an https server presents, once, and accepts it only when its fingerprint is
/// the pinned one. The HTTP client then trusts that certificate alone, so every later connection must
/// present it again (AsyncHTTPClient has no hook to check a fingerprint on each handshake itself).
enum PinnedCertificate {
    static func fetch(host: String, port: Int, fingerprint: [UInt8]) throws -> NIOSSLCertificate {
        let presented = PresentedCertificate()
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Only the certificate is wanted: record it, refuse the handshake, and close.
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: nil) { (chain: [NIOSSLCertificate], promise: EventLoopPromise<NIOSSLVerificationResult>) in
                        presented.record(chain.first)
                        promise.succeed(.failed)
                        channel.eventLoop.execute { channel.close(promise: nil) }
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            channel = try bootstrap.connect(host: host, port: port).wait()
        } catch {
            throw TresorError(.unreachable, "cannot reach the vault at \(host):\(port): \(error)",
                              action: "check that 'tresor-vault serve' runs there and the network between")
        }
        // A server that does not speak TLS never sends a certificate: the timeout closes the channel.
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        try? channel.closeFuture.wait()
        deadline.cancel()
        guard let leaf = presented.certificate, let der = try? leaf.toDERBytes() else {
            throw TresorError(.tlsFailed, "the vault at \(host):\(port) presented no certificate",
                              action: "check that the vault is served with --tls-cert")
        }
        let print = SHA256.hash(der)
        guard ConstantTime.equals(print, fingerprint) else {
            throw TresorError(.tlsFailed, "the vault at \(host):\(port) presented the certificate \(ServerTrust.display(print)), not the pinned one",
                              action: "compare with the fingerprint 'tresor-vault serve' printed; a different one may be an impostor")
        }
        return leaf
    }
}

/// The first certificate a server presented, written on an event loop and read after its channel closed.
private final class PresentedCertificate: Sendable {
    private let value = Mutex<NIOSSLCertificate?>(nil)

    func record(_ certificate: NIOSSLCertificate?) {
        self.value.withLock { if $0 == nil { $0 = certificate } }
    }

    var certificate: NIOSSLCertificate? { self.value.withLock { $0 } }
}
