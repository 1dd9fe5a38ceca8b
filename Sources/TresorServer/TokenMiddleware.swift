import Hummingbird
import TresorCatalog
import TresorCore

/// Authenticates `Authorization: Bearer <token>` for every /v1 route: no token or an unknown, revoked or
/// expired one is a 401 before any handler runs. Tokens are never logged.
struct TokenMiddleware: RouterMiddleware {
    typealias Context = VaultRequestContext
    let tokens: SQLiteTokenStore

    func handle(_ request: Request, context: VaultRequestContext,
                next: (Request, VaultRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw TresorError(.missingToken, "this call needs a token (Authorization: Bearer ...)",
                              action: "create one with 'tresor-vault token create' and pass it in TRESOR_TOKEN or --token-file")
        }
        guard header.hasPrefix("Bearer ") else {
            throw TresorError(.invalidToken, "the Authorization header is not a bearer token")
        }
        var context = context
        context.caller = try AccessToken.authenticate(String(header.dropFirst("Bearer ".count)), in: self.tokens, now: VaultClock.nowMillis)
        return try await next(request, context)
    }
}
