import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// Receives a successful response's body straight into the caller's buffer, part by part as it arrives:
/// a restore reads every chunk object into a buffer of its own anyway, and collecting the body first
/// cost a fresh allocation per object (its pages faulted in and cleared) and a second copy. Any other
/// status is collected whole, for the error it carries.
///
/// The caller waits for the request and then calls `close`; a part that arrives after that (a request
/// given up at its deadline) is dropped, so nothing writes to the buffer once the caller uses it again.
final class BodyIntoBuffer: HTTPClientResponseDelegate, Sendable {
    typealias Response = HTTPClient.Response

    private struct State {
        var head: HTTPResponseHead?
        /// The target as an address (raw pointers are not Sendable), its capacity, and the bytes written.
        var address: UInt
        var capacity: Int
        var written = 0
        var overflowed = false
        var closed = false
        var otherBody: ByteBuffer?
    }
    private let state: Mutex<State>
    private let host: String

    init(host: String, into target: UnsafeMutableRawBufferPointer) {
        self.host = host
        self.state = Mutex(State(address: UInt(bitPattern: target.baseAddress), capacity: target.count))
    }

    /// The bytes written into the target, once the request finished; nil when the body did not fit.
    var written: Int? { self.state.withLock { $0.overflowed ? nil : $0.written } }

    /// Ends every write into the target.
    func close() { self.state.withLock { $0.closed = true } }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.state.withLock { $0.head = head }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        self.state.withLock { state in
            guard !state.closed, let head = state.head else { return }
            guard (200..<300).contains(head.status.code) else {
                var body = state.otherBody ?? ByteBuffer()
                state.otherBody = nil
                body.writeImmutableBuffer(part)
                state.otherBody = body
                return
            }
            guard !state.overflowed, state.written + part.readableBytes <= state.capacity,
                  let base = UnsafeMutableRawPointer(bitPattern: state.address) else {
                state.overflowed = true
                return
            }
            part.withUnsafeReadableBytes { bytes in
                UnsafeMutableRawBufferPointer(start: base + state.written, count: bytes.count).copyMemory(from: bytes)
            }
            state.written += part.readableBytes
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        let (head, body) = self.state.withLock { ($0.head, $0.otherBody) }
        guard let head else { throw HTTPClientError.remoteConnectionClosed }
        return Response(host: self.host, status: head.status, version: head.version, headers: head.headers, body: body)
    }
}
