import EmporiumCore
import Foundation
import EmporiumStorage
import HTTPTypes
import Hummingbird
import JWTKit

/// Who may call a route, declared where the route is registered.
public enum Access: Sendable, Hashable {
    /// Anyone, signed in or not.
    case anonymous
    /// Any signed-in user whose role is at least this one.
    case role(Role)

    public static let signedIn = Access.role(.customer)
}

/// The context of a request whose caller has been authenticated: the user is never nil, so
/// no handler checks for one.
public struct AuthenticatedContext: Sendable {
    public let base: AppRequestContext
    public let user: User

    var origin: RequestOrigin { base.origin }
}

/// Turns `Authorization: Bearer <access token>` into a user, reading the user afresh so that
/// a deleted account or a changed role takes effect at once.
struct Authenticator: Sendable {
    let accessTokens: AccessTokens
    let accounts: AccountStore
    let database: any Database

    func authenticate(_ request: Request, requiring role: Role) async throws -> User {
        guard let token = Self.bearerToken(request.headers[.authorization]),
            let claims = await accessTokens.verify(token),
            let id = ID<User>(claims.sub.value),
            let user = try await accounts.find(id: id, on: database)
        else { throw Problem.unauthenticated }
        guard user.role >= role else { throw Problem.forbidden }
        return user
    }

    static func bearerToken(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

extension RouteRegistrar {
    /// Adds a route that only callers with `access` reach; the handler gets their user.
    func on<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, access role: Role,
        use handler: @escaping @Sendable (Request, AuthenticatedContext) async throws -> Output
    ) {
        let authenticator = authenticator
        on(method, path, access: .role(role)) { request, context in
            let user = try await authenticator.authenticate(request, requiring: role)
            return try await handler(request, AuthenticatedContext(base: context, user: user))
        }
    }
}
