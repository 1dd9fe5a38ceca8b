import Foundation
import Glibc
import TresorCore

/// Serves one disk as an NBD export on a Unix socket (mode 0600) and, if asked, a TCP port on loopback
/// only: the export speaks plain NBD, so it never listens where another machine could reach it. Each
/// connection runs on its own thread.
public final class NBDServer: Sendable {
    public let name: String
    public let socketPath: String?
    public let tcpAddress: String?
    private let disk: any ExportedDisk
    private let listeners: [Int32]

    /// Binds the listeners; nothing is served until `start`.
    public init(name: String, disk: any ExportedDisk, socketPath: String?, tcp: String?) throws {
        guard socketPath != nil || tcp != nil else {
            throw TresorError(.invalidArgument, "an export needs --socket PATH or --listen 127.0.0.1:PORT")
        }
        var listeners: [Int32] = []
        do {
            if let socketPath { listeners.append(try Self.listenUnix(socketPath)) }
            if let tcp { listeners.append(try Self.listenLoopback(tcp)) }
        } catch {
            for fd in listeners { close(fd) }
            throw error
        }
        self.name = name
        self.disk = disk
        self.socketPath = socketPath
        self.tcpAddress = tcp
        self.listeners = listeners
    }

    /// Accepts connections on every listener until `stop`.
    public func start() {
        for listener in self.listeners {
            let thread = Thread { [self] in
                while true {
                    let fd = accept(listener, nil, nil)
                    if fd < 0 {
                        if errno == EINTR || errno == ECONNABORTED { continue }
                        return   // closed by stop()
                    }
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    var one: Int32 = 1
                    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    let session = Thread { [self] in NBDSession(descriptor: fd, name: self.name, disk: self.disk).run() }
                    session.start()
                }
            }
            thread.start()
        }
    }

    /// Stops accepting and removes the socket file; connections being served end with the process.
    public func stop() {
        for fd in self.listeners { shutdown(fd, Int32(SHUT_RDWR)) }
        if let socketPath { unlink(socketPath) }
    }

    static func listenUnix(_ path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw TresorError(.invalidArgument, "socket path \(path) is too long for a Unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        guard access(path, F_OK) != 0 else {
            throw TresorError(.targetExists, "\(path) already exists", action: "remove it, or choose another --socket")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIX.error("socket", path) }
        // The socket file is created by bind with the umask's mode: 0600 from the start, so no other user
        // can connect in between. The export starts before any other thread of the program does.
        let previous = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0, listen(fd, 16) == 0 else {
            let failure = POSIX.error("bind", path)
            close(fd)
            throw failure
        }
        return fd
    }

    /// `HOST:PORT` with HOST a loopback address (127.x.y.z or localhost).
    static func listenLoopback(_ text: String) throws -> Int32 {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw TresorError(.invalidArgument, "--listen takes 127.0.0.1:PORT, not \(text)")
        }
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1, UInt32(bigEndian: address.sin_addr.s_addr) >> 24 == 127 else {
            throw TresorError(.invalidArgument, "the export listens on loopback only (plain NBD carries the disk unencrypted), not on \(host)",
                              action: "use --listen 127.0.0.1:PORT, or the Unix socket")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIX.error("socket", text) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let failure = POSIX.error("bind", text)
            close(fd)
            throw failure
        }
        return fd
    }
}
