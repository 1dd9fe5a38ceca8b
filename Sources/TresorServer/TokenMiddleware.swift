import Hummingbird
import TresorCatalog
import TresorCore

/// Authenticates `Authorization: Bearer <token>` for every /v1 route: no token or an unknown, revoked or
/// expired one is a 401 before any handler runs. Tokens are never logged.
///
/// Refusals of tokens the vault issued go to the audit log as `refused`, for they are what a reviewer
/// looks for: any call with a revoked or expired token (401; someone still holds and uses it), and a
/// change beyond the token's role, VM or host (403; a compromised VM's token trying another VM's data).
/// Refused reads (GET, HEAD) of valid tokens are not recorded: a backup token makes one in every backup,
/// asking once whether it may read bases. Nor are calls without a valid secret, so that no one without a
/// token can fill the log.
struct TokenMiddleware: RouterMiddleware {
    typealias Context = VaultRequestContext
    let state: ServerState

    func handle(_ request: Request, context: VaultRequestContext,
                next: (Request, VaultRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw TresorError(.missingToken, "this call needs a token (Authorization: Bearer ...)",
                              action: "create one with 'tresor-vault token create' and pass it in TRESOR_TOKEN or --token-file")
        }
        guard header.hasPrefix("Bearer ") else {
            throw TresorError(.invalidToken, "the Authorization header is not a bearer token")
        }
        let presented = String(header.dropFirst("Bearer ".count))
        var context = context
        do {
            context.caller = try AccessToken.authenticate(presented, in: self.state.tokens, now: VaultClock.nowMillis)
        } catch let error as TresorError where error.code == .invalidToken {
            // A revoked or expired token: its holder is known, though the call is not theirs to make.
            if let holder = try? AccessToken.holder(of: presented, in: self.state.tokens) {
                context.caller = holder
                let status = holder.status(now: VaultClock.nowMillis)
                self.recordRefusal(context, error, target: "\(request.method) \(request.uri.path) with a token \(status)")
            }
            throw error
        }
        do {
            return try await next(request, context)
        } catch let error as TresorError where error.code == .forbidden && Self.changes(request) {
            self.recordRefusal(context, error, target: "\(request.method) \(request.uri.path)")
            throw error
        }
    }

    private static func changes(_ request: Request) -> Bool {
        request.method != .get && request.method != .head
    }

    /// The call fails either way: an audit log that cannot be written does not change its answer.
    private func recordRefusal(_ context: VaultRequestContext, _ error: TresorError, target: String) {
        try? self.state.record(context, action: "refused", target: target, result: error.code.rawValue, durable: false)
    }
}
