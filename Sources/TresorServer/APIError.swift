public import Hummingbird
import Logging
public import TresorCore

/// A `TresorError` as an HTTP response: the status its code stands for and a JSON body with the code,
/// the message and what to do, so the client shows the same one-line error a local vault gives.
public struct APIError: HTTPResponseError, Sendable {
    public let error: TresorError

    public init(_ error: TresorError) { self.error = error }

    public var status: HTTPResponse.Status { Self.status(for: self.error.code) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSON.encode(ErrorEnvelope(self.error))
        return Response(status: self.status, headers: [.contentType: "application/json", .tresorErrorCode: self.error.code.rawValue],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The status each error code answers with (docs/server.md, "Errors").
    static func status(for code: TresorError.Code) -> HTTPResponse.Status {
        switch code {
        case .missingToken, .invalidToken: .unauthorized
        case .forbidden, .writeOnlyClient: .forbidden
        case .notFound, .unknownRoute, .sessionNotFound, .policyNotFound, .jobNotFound, .vmNotReported: .notFound
        case .operationInProgress, .commitRejected, .missingObject, .vaultBusy, .lastKeyWrap, .policyExists, .jobNotCancellable,
             .agentNotRunning: .conflict
        case .onDemandLimit: .tooManyRequests
        case .requestTooLarge: .contentTooLarge
        case .storageFull, .quotaExceeded: HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case .invalidArgument, .requestInvalid, .corruptObject, .unsupportedFormat, .integrity: .badRequest
        default: .internalServerError
        }
    }
}

/// Turns every error a handler throws into an `APIError`: a handler's own `TresorError`, Hummingbird's
/// errors (a body over the limit, a bad path parameter) and anything else (500, message kept generic).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as TresorError {
            throw APIError(error)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            switch error.status {
            case .contentTooLarge: throw APIError(TresorError(.requestTooLarge, "the request body is larger than \(ServerLimits.maximumBody) bytes"))
            case .notFound:
                throw APIError(TresorError(.unknownRoute, "the vault serves no route \(request.method) \(request.uri.path)",
                                           action: "give the vault as http(s)://HOST:PORT without a path, with a client of the vault's Tresor version"))
            case .methodNotAllowed: throw APIError(TresorError(.requestInvalid, "\(request.method) is not allowed on \(request.uri.path)"))
            default: throw APIError(TresorError(.requestInvalid, error.body ?? "the request is malformed"))
            }
        } catch {
            context.logger.error("unexpected failure", metadata: ["error": "\(String(describing: type(of: error)))"])
            throw APIError(TresorError(.serverError, "the vault failed to handle the request", action: "see the vault's log"))
        }
    }

}
