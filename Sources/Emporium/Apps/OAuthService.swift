import EmporiumCore
import EmporiumStorage
import Foundation

/// Third-party apps and the OAuth 2.0 flows they use (RFC 6749 with PKCE, RFC 7009): apps
/// registered by admins, consent by a person for an authorization code, codes exchanged for
/// tokens, rotating refresh tokens, client credentials, revocation, and app tokens turned
/// back into what they may do.
///
/// An app token never has more rights than three things allow at once: the scopes of its
/// grant, the scopes the app is registered with now, and what the person who granted them may
/// grant now (a customer only `orders:read` of their own orders). All three are read again on
/// every request, so deleting an app, revoking a grant, changing a role or signing out
/// everywhere takes effect at once.
struct OAuthService: Sendable {
    static let codeLifetime: TimeInterval = 60
    static let consentLifetime: TimeInterval = 10 * 60
    static let refreshLifetime: TimeInterval = 30 * 24 * 3600

    let database: any Database
    let store: OAuthStore
    let accounts: AccountStore
    let signIn: AccountService
    let tokens: AppTokens
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    /// What the token endpoint answers on success.
    struct IssuedTokens: Sendable, Encodable {
        let accessToken: String
        let tokenType = "Bearer"
        let expiresIn = Int(AppTokens.lifetime)
        let refreshToken: String?
        let scope: String

        enum CodingKeys: String, CodingKey {
            case scope
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case refreshToken = "refresh_token"
        }
    }

    // MARK: Apps

    struct Registration: Sendable {
        let name: String
        let clientType: OAuthApp.ClientType
        let redirectURIs: [String]
        let scopes: Set<Scope>
        let grantTypes: Set<OAuthApp.GrantType>
    }

    /// Registers an app; a confidential one's secret is returned here and never again.
    func register(_ registration: Registration, by user: User, origin: RequestOrigin) async throws -> (OAuthApp, String?) {
        let app = OAuthApp(
            id: ids.make(), name: registration.name, clientType: registration.clientType,
            redirectURIs: registration.redirectURIs, scopes: registration.scopes, grantTypes: registration.grantTypes,
            createdBy: user.id, createdAt: clock.now())
        let secret = registration.clientType == .confidential ? OAuthApp.secretPrefix + SecretToken.make() : nil
        try await database.transaction { db in
            try await store.insert(app, secretHash: secret.map(SecretToken.digest), on: db)
            try await audit.record(
                .init(actor: .user(user.id), action: "oauth_app.created", target: app.id.description, origin: origin), on: db)
        }
        return (app, secret)
    }

    func apps(after: String?, limit: Int) async throws -> [OAuthApp] {
        try await store.apps(after: after, limit: limit, on: database)
    }

    func delete(_ id: ID<OAuthApp>, by user: User, origin: RequestOrigin) async throws {
        try await database.transaction { db in
            guard try await store.delete(id, at: clock.now(), on: db) != nil else {
                throw Problem.notFound("There is no app with this id.")
            }
            try await audit.record(
                .init(actor: .user(user.id), action: "oauth_app.deleted", target: id.description, origin: origin), on: db)
        }
    }

    // MARK: Authorization requests

    /// Why an authorization request cannot go on. Before the client and its redirect URI are
    /// known to be right the answer is a page (never a redirect to an unchecked address);
    /// after, a redirect back to the app with `error` (RFC 6749 §4.1.2.1).
    enum AuthorizationFailure: Error, Sendable {
        case page(String)
        case redirect(uri: String, error: String, description: String, state: String?)
    }

    struct Consent: Sendable {
        let app: OAuthApp
        let request: OAuthStore.PendingRequest
        /// The secret naming this consent request, carried by the page's form.
        let requestToken: String
    }

    /// Checks an authorization request and records it for the consent page.
    func beginAuthorization(_ query: OAuthForm) async throws -> Consent {
        if let name = query.repeated.first { throw AuthorizationFailure.page("The parameter \(name) is given more than once.") }
        guard let clientID = query["client_id"], let appID = ID<OAuthApp>(clientID),
            let app = try await store.app(appID, on: database)
        else { throw AuthorizationFailure.page("There is no app with this client_id.") }
        guard let redirectURI = query["redirect_uri"] else {
            throw AuthorizationFailure.page("redirect_uri is required.")
        }
        guard app.redirectURIs.contains(redirectURI) else {
            throw AuthorizationFailure.page("redirect_uri is not one of the app's registered redirect URIs.")
        }
        let requestedState = query["state"]
        func fail(_ error: String, _ description: String) -> AuthorizationFailure {
            .redirect(uri: redirectURI, error: error, description: description, state: requestedState)
        }
        guard query["response_type"] == "code" else { throw fail("unsupported_response_type", "response_type must be code.") }
        guard app.grantTypes.contains(.authorizationCode) else {
            throw fail("unauthorized_client", "The app is not registered for the authorization code grant.")
        }
        guard let state = requestedState, state.utf8.count <= 500 else { throw fail("invalid_request", "state is required (at most 500 bytes).") }
        guard query["code_challenge_method"] == "S256" else {
            throw fail("invalid_request", "code_challenge_method must be S256.")
        }
        guard let challenge = query["code_challenge"], PKCE.isWellFormed(challenge) else {
            throw fail("invalid_request", "code_challenge must be 43 to 128 base64url characters.")
        }
        var scopes = Set<Scope>()
        for name in (query["scope"] ?? "").split(separator: " ") {
            guard let scope = Scope(rawValue: String(name)) else { throw fail("invalid_scope", "Unknown scope \(name).") }
            scopes.insert(scope)
        }
        guard !scopes.isEmpty else { throw fail("invalid_scope", "scope must name at least one scope.") }
        guard scopes.isSubset(of: app.scopes) else {
            throw fail("invalid_scope", "The app is not registered for " + OAuthStore.encode(scopes.subtracting(app.scopes)) + ".")
        }
        let request = OAuthStore.PendingRequest(
            appID: app.id, redirectURI: redirectURI, scopes: scopes, state: state, codeChallenge: challenge)
        let token = SecretToken.make()
        let now = clock.now()
        try await store.insertRequest(
            request, tokenHash: SecretToken.digest(token), expiresAt: now.addingTimeInterval(Self.consentLifetime), now: now,
            on: database)
        return Consent(app: app, request: request, requestToken: token)
    }

    /// The consent request a form names, if it is still open.
    func pendingConsent(_ requestToken: String) async throws -> Consent? {
        guard let request = try await store.request(tokenHash: SecretToken.digest(requestToken), now: clock.now(), on: database),
            let app = try await store.app(request.appID, on: database)
        else { return nil }
        return Consent(app: app, request: request, requestToken: requestToken)
    }

    /// Where the browser goes after the person answered the consent page.
    enum Decision: Sendable {
        case allow(email: String, password: String, oneTimeCode: String?)
        case deny
    }

    /// Answers a consent request: a denial, or the person's sign-in and then a code. The URI
    /// to redirect to, with `code` or `error`, and `state`. Wrong credentials throw the
    /// sign-in problem and leave the request open for another try.
    func decide(_ consent: Consent, _ decision: Decision, origin: RequestOrigin) async throws -> String {
        let request = consent.request
        let tokenHash = SecretToken.digest(consent.requestToken)
        guard case .allow(let email, let password, let oneTimeCode) = decision else {
            guard try await store.answer(tokenHash: tokenHash, now: clock.now(), on: database) != nil else {
                throw AuthorizationFailure.page("This consent request was answered before or has expired.")
            }
            return Self.redirect(request.redirectURI, ["error": "access_denied", "state": request.state])
        }
        let user = try await signIn.verifySignIn(email: email, password: password, totp: oneTimeCode, origin: origin)
        let now = clock.now()
        let code = SecretToken.make()
        let granted = try await database.transaction { db -> Bool in
            guard try await store.answer(tokenHash: tokenHash, now: now, on: db) != nil else {
                throw AuthorizationFailure.page("This consent request was answered before or has expired.")
            }
            guard request.scopes.isSubset(of: GrantableScopes.allowed(for: user.role)) else { return false }
            try await store.insertCode(
                .init(appID: request.appID, userID: user.id, redirectURI: request.redirectURI, scopes: request.scopes,
                      codeChallenge: request.codeChallenge),
                codeHash: SecretToken.digest(code), expiresAt: now.addingTimeInterval(Self.codeLifetime), now: now, on: db)
            try await audit.record(
                .init(actor: .user(user.id), action: "oauth_app.authorized", target: request.appID.description, origin: origin),
                on: db)
            return true
        }
        guard granted else {
            return Self.redirect(request.redirectURI, [
                "error": "invalid_scope",
                "error_description": "A \(user.role.rawValue) cannot grant "
                    + OAuthStore.encode(request.scopes.subtracting(GrantableScopes.allowed(for: user.role))) + ".",
                "state": request.state,
            ])
        }
        return Self.redirect(request.redirectURI, ["code": code, "state": request.state])
    }

    static func redirect(_ uri: String, _ parameters: [String: String]) -> String {
        var components = URLComponents(string: uri) ?? URLComponents()
        var items = components.queryItems ?? []
        for name in ["code", "error", "error_description", "state"] {
            if let value = parameters[name] { items.append(URLQueryItem(name: name, value: value)) }
        }
        components.queryItems = items
        // `+` is a space in form encoding; spell it out so that it survives either reading.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.string ?? uri
    }

    // MARK: Client authentication

    /// The client a token or revocation request comes from: a confidential app by its secret
    /// (HTTP Basic or the body, not both), a public app by its `client_id` alone.
    func authenticateClient(_ form: OAuthForm, authorization: String?) async throws -> OAuthApp {
        var presentedID = form["client_id"]
        var secret = form["client_secret"]
        if let authorization, authorization.lowercased().hasPrefix("basic ") {
            guard secret == nil else { throw OAuthError.invalidRequest("Use one client authentication method, not two.") }
            guard let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                let id = String(text[..<colon]).removingPercentEncoding,
                let password = String(text[text.index(after: colon)...]).removingPercentEncoding
            else { throw OAuthError.invalidClient("The Basic credentials are malformed.") }
            if let presentedID, presentedID != id {
                throw OAuthError.invalidRequest("client_id differs from the Basic credentials.")
            }
            presentedID = id
            secret = password
        }
        guard let clientID = presentedID, let id = ID<OAuthApp>(clientID),
            let found = try await store.appWithSecret(id, on: database)
        else { throw OAuthError.invalidClient("Unknown client.") }
        let (app, secretHash) = found
        switch app.clientType {
        case .confidential:
            guard let secret, let secretHash, SecretToken.matches(secret, digest: secretHash) else {
                throw OAuthError.invalidClient("Client authentication failed.")
            }
        case .public:
            guard secret == nil else { throw OAuthError.invalidClient("A public client has no secret.") }
        }
        return app
    }

    // MARK: Revocation

    /// Revokes the grant a refresh token or access token of this client belongs to (RFC 7009:
    /// revoking one revokes the other). Unknown tokens and other clients' tokens change
    /// nothing, and the answer is the same.
    func revoke(_ form: OAuthForm, authorization: String?) async throws {
        if let name = form.repeated.first { throw OAuthError.invalidRequest("The parameter \(name) is given more than once.") }
        let client = try await authenticateClient(form, authorization: authorization)
        guard let token = form["token"] else { throw OAuthError.invalidRequest("token is required.") }
        let now = clock.now()
        var found = try await store.grantOfRefreshToken(tokenHash: SecretToken.digest(token), on: database)
        if found == nil, let claims = await tokens.verify(token), claims.clientID == client.id.description {
            found = ID<OAuthGrant>(claims.grant)
        }
        guard let grantID = found, let grant = try await store.grant(grantID, on: database), grant.appID == client.id else { return }
        try await store.revokeGrant(grantID, at: now, on: database)
    }

    // MARK: App tokens on requests

    /// What an app token may do now; `nil` when it is not a current app token or its grant,
    /// app or person is gone or changed.
    func access(forToken token: String) async throws -> AppAccess? {
        guard let claims = await tokens.verify(token), let grantID = ID<OAuthGrant>(claims.grant),
            let grant = try await store.usableGrant(grantID, on: database), grant.appID.description == claims.clientID,
            let app = try await store.app(grant.appID, on: database)
        else { return nil }
        var scopes = OAuthStore.decodeScopes(claims.scope).intersection(grant.scopes).intersection(app.scopes)
        var user: User?
        if let userID = grant.userID {
            guard let found = try await accounts.find(id: userID, on: database), found.tokenGeneration == claims.gen else {
                return nil
            }
            scopes.formIntersection(GrantableScopes.allowed(for: found.role))
            user = found
        }
        return AppAccess(appID: app.id, scopes: scopes, user: user)
    }
}
