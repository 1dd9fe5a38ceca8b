import Hummingbird
import NIOCore
import TresorCore

/// Bodies in and out: JSON through Tresor's own coder (the formats docs/ describes), bytes as they are.
enum HTTPCoding {
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSON.encode(value))))
    }

    static func bytes(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func noContent() -> Response { Response(status: .noContent) }

    /// The whole body, refused beyond `limit` bytes.
    static func body(_ request: Request, limit: Int = ServerLimits.maximumBody) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw TresorError(.requestTooLarge, "the request body is larger than \(limit) bytes")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int = 1 << 20) async throws -> T {
        guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
            throw TresorError(.requestInvalid, "the body must be application/json")
        }
        let buffer = try await Self.body(request, limit: limit)
        do {
            return try JSON.decode(type, from: Array(buffer.readableBytesView), what: "request body")
        } catch let error as TresorError {
            throw TresorError(.requestInvalid, error.message)
        }
    }

    static func requireOctets(_ request: Request) throws {
        guard request.headers[.contentType] == "application/octet-stream" else {
            throw TresorError(.requestInvalid, "the body must be application/octet-stream")
        }
    }
}
