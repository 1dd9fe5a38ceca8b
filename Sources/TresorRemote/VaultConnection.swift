import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import TresorCore

/// One client's connection to a vault server: the base URL, the token, and calls that block the calling
/// thread (the engine's pipeline workers are threads of their own) with retries on transient failures.
public final class VaultConnection: Sendable {
    public let baseURL: String
    private let token: String
    private let client: HTTPClient
    /// For https: the system's trust roots, or only the CA (or the server's own certificate) given.
    private let tls: TLSConfiguration?

    /// Attempts per call; the waits between them double from `firstBackoff`.
    static let attempts = 6
    static let firstBackoffMillis: UInt32 = 100

    /// `url` is http(s)://HOST:PORT; plain http is accepted on loopback only (docs/server.md). `trust` says
    /// which certificate an https server must present.
    public init(url: String, token: String, trust: ServerTrust = .systemRoots) throws {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
            throw TresorError(.invalidArgument, "'\(url)' is not an http(s) URL")
        }
        let secure = base.hasPrefix("https://")
        let (host, port) = try Self.hostAndPort(base, secure: secure)
        if !secure {
            guard LoopbackAddress.contains(host) else {
                throw TresorError(.invalidArgument, "plain http is for loopback only; '\(url)' is not",
                                  action: "serve the vault with TLS and use https://")
            }
        }
        self.baseURL = base
        self.token = token
        if secure {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            switch trust {
            case .systemRoots: break
            case .certificateFile(let file):
                guard AtomicFile.exists(file) else {
                    throw TresorError(.invalidArgument, "the CA file \(file) does not exist")
                }
                tls.trustRoots = .file(file)
            case .fingerprint(let fingerprint):
                let leaf = try PinnedCertificate.fetch(host: host, port: port, fingerprint: fingerprint)
                tls.trustRoots = .certificates([leaf])
                // The pin names the certificate itself, so the host it names does not matter.
                tls.certificateVerification = .noHostnameVerification
            }
            self.tls = tls
        } else {
            guard trust == .systemRoots else {
                throw TresorError(.invalidArgument, "--tls-ca and --tls-fingerprint are for https:// vaults")
            }
            self.tls = nil
        }
        self.client = Self.sharedClient
    }

    /// HOST and PORT of http(s)://HOST[:PORT][/...]; an IPv6 host is written in brackets.
    static func hostAndPort(_ base: String, secure: Bool) throws -> (String, Int) {
        let authority = base.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? ""
        var host = authority
        var portText: String?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let rest = authority[authority.index(after: close)...]
            if rest.hasPrefix(":") { portText = String(rest.dropFirst()) }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = String(authority[authority.index(after: colon)...])
        }
        let port = portText.map { Int($0) } ?? (secure ? 443 : 80)
        guard !host.isEmpty, let port, (1...65535).contains(port) else {
            throw TresorError(.invalidArgument, "'\(base)' names no HOST:PORT")
        }
        return (host, port)
    }

    /// One client for the process, never shut down (it lives as long as the program). A refused
    /// connection fails the request at once instead of being retried inside the pool until the deadline:
    /// `send` retries with its own backoff and gives up with a clear error.
    private static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        // Restore and verify keep up to 16 reads per core in flight (WorkerPool.readingWorkers); fewer
        // connections would queue them behind each other.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
        // A request may wait a while in the listen backlog of a server at its connection limit.
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10), read: .seconds(300))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// A response: status and body bytes (none when received into a buffer: `received` says how many).
    struct Reply {
        let status: Int
        let body: ByteBuffer
        let headers: HTTPHeaders
        var received = 0
    }

    /// Sends a request and returns a 2xx reply (or 404 when `allowNotFound`); any other status becomes the
    /// TresorError the server's JSON names. Connection failures and 502–504 are retried with backoff:
    /// every call the engine makes is idempotent (docs/server.md).
    /// With `target`, a 2xx body goes straight into it (`Reply.received` bytes), and one larger than it
    /// fails the call.
    func send(_ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, contentType: String? = nil,
              checksum: Bool = false, allowNotFound: Bool = false, into target: UnsafeMutableRawBufferPointer? = nil) throws -> Reply {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(self.token)")
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if checksum, let body {
            headers.add(name: "x-tresor-crc32c", value: body.withUnsafeReadableBytes { CRC32C.hex($0) })
        }
        var lastFailure = ""
        for attempt in 0..<Self.attempts {
            if attempt > 0 { usleep(Self.firstBackoffMillis * 1000 << UInt32(attempt - 1)) }
            let response: HTTPClient.Response
            var received: Int?
            do {
                let request = try HTTPClient.Request(url: self.baseURL + path, method: method, headers: headers,
                                                     body: body.map { .byteBuffer($0) }, tlsConfiguration: self.tls)
                if let target {
                    let receiver = BodyIntoBuffer(host: request.host, into: target)
                    defer { receiver.close() }
                    response = try self.client.execute(request: request, delegate: receiver, deadline: .now() + .seconds(300)).wait()
                    received = receiver.written
                } else {
                    response = try self.client.execute(request: request, delegate: SizedBodyCollector(host: request.host),
                                                         deadline: .now() + .seconds(300)).wait()
                }
            } catch let error where error is NIOSSLError || error is NIOSSLExtraError {
                // Not transient: an untrusted certificate, or one naming another host, stays so on every attempt.
                throw TLSFailure.error(error, url: self.baseURL)
            } catch where Self.doesNotResolve(error) {
                // A name no resolver knows stays unknown on every attempt; a resolver that failed for now is retried.
                throw TresorError(.unreachable, "the vault at \(self.baseURL) cannot be reached: \(Self.describe(error))",
                                  action: "check the host name in the URL")
            } catch {
                lastFailure = Self.describe(error)
                continue
            }
            let status = Int(response.status.code)
            if [502, 503, 504].contains(status) {
                lastFailure = "HTTP \(status)"
                continue
            }
            let bytes = response.body ?? ByteBuffer()
            // A route the server does not serve also answers 404; only an absent object may be allowed.
            if (200..<300).contains(status) || (status == 404 && allowNotFound && !Self.isUnknownRoute(response.headers)) {
                if target != nil && (200..<300).contains(status) {
                    guard let received else {
                        throw TresorError(.corruptObject, "the vault sent more for \(path) than any object of its kind holds")
                    }
                    return Reply(status: status, body: bytes, headers: response.headers, received: received)
                }
                return Reply(status: status, body: bytes, headers: response.headers)
            }
            throw Self.error(status: status, headers: response.headers, body: bytes)
        }
        throw TresorError(.unreachable, "the vault at \(self.baseURL) did not answer \(method) \(path) after \(Self.attempts) attempts (last: \(lastFailure))",
                          action: "check that 'tresor-vault serve' runs there, with the scheme it printed (http or https), and the network between")
    }

    /// A failed attempt in a few words. A socket error is the system's text alone ("connection refused"):
    /// NIO's own description adds the call it came from, which tells an operator nothing.
    static func describe(_ error: any Error) -> String {
        if let failure = error as? IOError { return String(cString: strerror(failure.errnoCode)).lowercased() }
        if let failure = error as? NIOConnectionError {
            if let unknown = (failure.dnsAError ?? failure.dnsAAAAError) as? SocketAddressError.UnknownHost {
                return "\(failure.host) does not resolve (\(unknown.errorDescription.lowercased()))"
            }
            if let first = failure.connectionErrors.first { return Self.describe(first.error) }
        }
        return "\(error)"
    }

    /// Whether the resolver answered that the host's name does not exist (EAI_NONAME).
    static func doesNotResolve(_ error: any Error) -> Bool {
        guard let failure = error as? NIOConnectionError,
              let unknown = (failure.dnsAError ?? failure.dnsAAAAError) as? SocketAddressError.UnknownHost else { return false }
        return unknown.errorCode == Int(EAI_NONAME)
    }

    /// The server names the code in a header too, as HEAD answers carry no body.
    private static func isUnknownRoute(_ headers: HTTPHeaders) -> Bool {
        headers.first(name: "x-tresor-error") == TresorError.Code.unknownRoute.rawValue
    }

    private static func error(status: Int, headers: HTTPHeaders, body: ByteBuffer) -> TresorError {
        if let envelope = try? JSON.decode(ErrorEnvelope.self, from: Array(body.readableBytesView), what: "error") {
            return envelope.tresorError
        }
        if let code = headers.first(name: "x-tresor-error") {
            return TresorError(TresorError.Code(code), "the vault answered HTTP \(status) (\(code))")
        }
        return TresorError(.serverError, "the vault answered HTTP \(status) without an explanation")
    }

    // MARK: Typed helpers

    func getJSON<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try Self.decode(type, try self.send(.GET, path))
    }

    func postJSON<T: Decodable>(_ type: T.Type, _ path: String, _ value: some Encodable) throws -> T {
        try Self.decode(type, try self.send(.POST, path, body: ByteBuffer(bytes: try JSON.encode(value)), contentType: "application/json"))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ reply: Reply) throws -> T {
        try JSON.decode(type, from: Array(reply.body.readableBytesView), what: "the vault's answer")
    }

    /// Percent-encodes a query value or path segment.
    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(Character(UnicodeScalar(byte)))
            default: out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
