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
    /// People whose role is at least this one. API keys are refused.
    case role(Role)
    /// People whose role is at least this one, or API keys that hold the scope.
    case roleOrScope(Role, Scope)

    public static let signedIn = Access.role(.customer)

    /// The scope that lets an API key call the route, if any does.
    public var scope: Scope? {
        if case .roleOrScope(_, let scope) = self { return scope }
        return nil
    }
}

/// The context of a request from a signed-in person: the user is never nil, so no handler
/// checks for one.
public struct AuthenticatedContext: Sendable {
    public let base: AppRequestContext
    public let user: User

    var origin: RequestOrigin { base.origin }
    var actor: AuditLog.Actor { .user(user.id) }
}

/// The context of a request to a route that people and API keys may both call.
public struct PrincipalContext: Sendable {
    public let base: AppRequestContext
    public let principal: Principal

    var origin: RequestOrigin { base.origin }
    var actor: AuditLog.Actor { principal.auditActor }
}

/// Turns `Authorization: Bearer …` into a principal: `emp_…` secrets into API keys, a
/// person's access token into a user, an app's access token into what its grant allows now.
/// Keys are read on every request; users come from `RecentUsers`, so a changed role or an
/// ended token generation takes effect at once on the node that wrote it and within a second
/// on the others.
struct Authenticator: Sendable {
    let accessTokens: AccessTokens
    let accounts: AccountStore
    let apiKeys: APIKeyStore
    let database: any Database
    let clock: any WallClock
    /// Resolves apps' access tokens; without it they are refused like any unknown token.
    var apps: OAuthService? = nil

    func authenticate(_ request: Request, access: Access) async throws -> Principal {
        guard let token = Self.bearerToken(request.headers[.authorization]) else { throw Problem.unauthenticated }
        if token.hasPrefix(APIKey.secretPrefix) {
            guard let key = try await apiKeys.findUsable(secret: token, at: clock.now(), on: database) else {
                throw Problem.unauthenticated
            }
            guard let scope = access.scope, key.scopes.contains(scope) else { throw Problem.missingScope(access.scope) }
            return .apiKey(key)
        }
        guard let claims = await accessTokens.verify(token) else { return try await authenticateApp(token, access: access) }
        guard let id = ID<User>(claims.sub.value),
            let user = try await accounts.findRecent(id: id, on: database),
            user.tokenGeneration == claims.gen
        else { throw Problem.unauthenticated }
        switch access {
        case .anonymous: break
        case .role(let role), .roleOrScope(let role, _):
            guard user.role >= role else { throw Problem.forbidden }
        }
        return .user(user)
    }

    /// An app passes where an API key with the same scopes would; when it acts for a person,
    /// that person's role must reach the route's role as well.
    private func authenticateApp(_ token: String, access: Access) async throws -> Principal {
        guard let apps, let app = try await apps.access(forToken: token) else { throw Problem.unauthenticated }
        switch access {
        case .anonymous: break
        case .role: throw Problem.appRefused(nil)
        case .roleOrScope(let role, let scope):
            guard app.scopes.contains(scope) else { throw Problem.appRefused(scope) }
            if let user = app.user, user.role < role { throw Problem.forbidden }
        }
        return .app(app)
    }

    /// The credential of `Authorization: Bearer <credential>`, scheme case-insensitive.
    /// Plain UTF-8 work: this runs on every authenticated request, and Foundation's trimming
    /// cost a tenth of such a request's CPU time.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        guard bytes.count > 7, bytes.prefix(6).elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 }),
            bytes.dropFirst(6).first == UInt8(ascii: " ")
        else { return nil }
        let isBlank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        var credential = bytes.dropFirst(7)
        while let first = credential.first, isBlank(first) { credential = credential.dropFirst() }
        while let last = credential.last, isBlank(last) { credential = credential.dropLast() }
        return credential.isEmpty ? nil : String(decoding: credential, as: UTF8.self)
    }
}

extension Problem {
    static func missingScope(_ scope: Scope?) -> Problem {
        Problem(
            .forbidden, slug: "forbidden", title: "Forbidden",
            detail: scope.map { "This API key lacks the scope `\($0.rawValue)`." } ?? "API keys cannot call this route.")
    }
}

extension Problem {
    static func appRefused(_ scope: Scope?) -> Problem {
        Problem(
            .forbidden, slug: "forbidden", title: "Forbidden",
            detail: scope.map { "This app token lacks the scope `\($0.rawValue)`." } ?? "App tokens cannot call this route.")
    }
}

extension RouteRegistrar {
    /// Adds a route for signed-in people whose role is at least `role`; the handler gets the user.
    func on<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, access role: Role,
        use handler: @escaping @Sendable (Request, AuthenticatedContext) async throws -> Output
    ) {
        let authenticator = authenticator
        let access = Access.role(role)
        on(method, path, access: access) { request, context in
            guard case .user(let user) = try await authenticator.authenticate(request, access: access) else {
                throw Problem.missingScope(nil)
            }
            return try await handler(request, AuthenticatedContext(base: context, user: user))
        }
    }

    /// Adds a route for people whose role is at least `role` and for API keys holding `scope`.
    func on<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, access role: Role, orScope scope: Scope,
        use handler: @escaping @Sendable (Request, PrincipalContext) async throws -> Output
    ) {
        let authenticator = authenticator
        let access = Access.roleOrScope(role, scope)
        on(method, path, access: access) { request, context in
            let principal = try await authenticator.authenticate(request, access: access)
            return try await handler(request, PrincipalContext(base: context, principal: principal))
        }
    }
}
