import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// Collects a whole response like AsyncHTTPClient's own accumulator, but into one buffer sized from the
/// Content-Length: a chunk arrives in dozens of socket reads, and growing a buffer read by read would
/// copy it again at every doubling.
final class SizedBodyCollector: HTTPClientResponseDelegate, Sendable {
    typealias Response = HTTPClient.Response

    /// A Content-Length above this is not trusted for sizing (the body still arrives, growing as needed).
    static let largestPresized = 64 << 20

    private struct Collected {
        var head: HTTPResponseHead?
        var body: ByteBuffer?
    }
    private let collected = Mutex(Collected())
    private let host: String

    init(host: String) {
        self.host = host
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let length = head.headers.first(name: "content-length").flatMap(Int.init)
        self.collected.withLock {
            $0.head = head
            if let length, length > 0, length <= Self.largestPresized {
                $0.body = ByteBufferAllocator().buffer(capacity: length)
            }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        self.collected.withLock { collected in
            if var body = collected.body {
                // Dropped from the state first, so the write below does not copy the buffer on write.
                collected.body = nil
                body.writeImmutableBuffer(part)
                collected.body = body
            } else {
                collected.body = part
            }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        let collected = self.collected.withLock { $0 }
        guard let head = collected.head else { throw HTTPClientError.remoteConnectionClosed }
        return Response(host: self.host, status: head.status, version: head.version, headers: head.headers, body: collected.body)
    }
}
