import Foundation
import Glibc
import TresorCore

/// A QEMU Machine Protocol connection over the VM's Unix socket: one JSON object per line, a greeting,
/// capability negotiation, then commands answered in order with events interleaved (skipped here).
/// Blocking, with a receive timeout, because the agent's snapshot step is sequential anyway.
public final class QMPConnection {
    private let fd: Int32
    private let socketPath: String
    private var buffer = [UInt8]()
    private var greeted = false

    /// Connects and negotiates; a socket nobody listens on means the VM is not running.
    public init(socketPath: String, timeoutSeconds: Int = 30) throws {
        self.socketPath = socketPath
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw QMPConnection.failure("socket", socketPath) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard socketPath.utf8.count < capacity else {
            close(fd)
            throw TresorError(.invalidArgument, "the QMP socket path \(socketPath) is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: socketPath.utf8)
            raw[socketPath.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            if code == ECONNREFUSED || code == ENOENT { throw NotListening() }
            throw QMPConnection.failure("connect to", socketPath, errno: code)
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
        // A QEMU on its way out may still accept and then close without a greeting: not listening either.
        let greeting = try self.readMessage()
        guard greeting["QMP"] != nil else { throw self.protocolError("no QMP greeting") }
        self.greeted = true
        _ = try self.execute("qmp_capabilities")
    }

    deinit { close(self.fd) }

    /// No QEMU listens on the socket (it is absent, or left by a QEMU that ended): the VM is stopped.
    struct NotListening: Error {}

    /// A connection, or nil when no QEMU listens on `socketPath`.
    public static func connectIfListening(_ socketPath: String, timeoutSeconds: Int = 30) throws -> QMPConnection? {
        do {
            return try QMPConnection(socketPath: socketPath, timeoutSeconds: timeoutSeconds)
        } catch is NotListening {
            return nil
        }
    }

    /// Runs one command and returns its `return` value; a QMP error becomes `snapshot.failed` with QEMU's
    /// own description.
    @discardableResult
    public func execute(_ command: String, _ arguments: [String: Any] = [:]) throws -> Any {
        var request: [String: Any] = ["execute": command]
        if !arguments.isEmpty { request["arguments"] = arguments }
        var line = try JSONSerialization.data(withJSONObject: request)
        line.append(0x0A)
        try line.withUnsafeBytes { try POSIX.writeAll(self.fd, $0, path: self.socketPath) }
        while true {
            let message = try self.readMessage()
            if message["event"] != nil { continue }
            if let error = message["error"] as? [String: Any] {
                throw TresorError(.snapshotFailed, "QEMU refused \(command): \(error["desc"] as? String ?? "unknown error")")
            }
            guard let answer = message["return"] else { throw self.protocolError("an answer without 'return'") }
            return answer
        }
    }

    private func readMessage() throws -> [String: Any] {
        while true {
            if let newline = self.buffer.firstIndex(of: 0x0A) {
                let line = Data(self.buffer[..<newline])
                self.buffer.removeSubrange(...newline)
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw self.protocolError("a line that is not a JSON object")
                }
                return object
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(self.fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw TresorError(.snapshotFailed, "QEMU did not answer on \(self.socketPath) in time")
            }
            guard n > 0 else {
                // A QEMU on its way out may still accept and then close without a greeting: not listening.
                if !self.greeted { throw NotListening() }
                throw TresorError(.snapshotFailed, "QEMU closed its QMP socket \(self.socketPath)")
            }
            self.buffer.append(contentsOf: chunk[..<n])
        }
    }

    private func protocolError(_ what: String) -> TresorError {
        TresorError(.snapshotFailed, "QMP socket \(self.socketPath) sent \(what)")
    }

    private static func failure(_ operation: String, _ path: String, errno code: Int32 = errno) -> TresorError {
        TresorError(.snapshotFailed, "cannot \(operation) the QMP socket \(path): \(String(cString: strerror(code)))",
                    action: "check that the VM runs with -qmp unix:\(path),server=on,wait=off")
    }
}
