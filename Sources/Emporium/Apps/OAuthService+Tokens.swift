import EmporiumCore
import EmporiumStorage
import Foundation

/// The token endpoint (RFC 6749 §3.2): codes, refresh tokens and client credentials exchanged
/// for app tokens.
extension OAuthService {
    func token(_ form: OAuthForm, authorization: String?) async throws -> IssuedTokens {
        if let name = form.repeated.first { throw OAuthError.invalidRequest("The parameter \(name) is given more than once.") }
        guard let grantType = form["grant_type"] else { throw OAuthError.invalidRequest("grant_type is required.") }
        guard ["authorization_code", "refresh_token", "client_credentials"].contains(grantType) else {
            throw OAuthError.unsupportedGrantType("grant_type must be authorization_code, refresh_token or client_credentials.")
        }
        let client = try await authenticateClient(form, authorization: authorization)
        let needed: OAuthApp.GrantType = grantType == "client_credentials" ? .clientCredentials : .authorizationCode
        guard client.grantTypes.contains(needed) else {
            throw OAuthError.unauthorizedClient("The app is not registered for the \(needed.rawValue) grant.")
        }
        switch grantType {
        case "authorization_code": return try await exchangeCode(form, client: client)
        case "refresh_token": return try await refresh(form, client: client)
        default: return try await clientCredentials(form, client: client)
        }
    }

    private enum Exchange: Sendable {
        case issued(IssuedTokens)
        case refused(OAuthError)
    }

    private func exchangeCode(_ form: OAuthForm, client: OAuthApp) async throws -> IssuedTokens {
        guard let code = form["code"] else { throw OAuthError.invalidRequest("code is required.") }
        guard let verifier = form["code_verifier"] else { throw OAuthError.invalidRequest("code_verifier is required.") }
        guard let redirectURI = form["redirect_uri"] else { throw OAuthError.invalidRequest("redirect_uri is required.") }
        let codeHash = SecretToken.digest(code)
        let now = clock.now()
        // The code is spent whatever comes next, so that a failed try cannot be repeated.
        let outcome = try await database.transaction { db -> Exchange in
            switch try await store.redeemCode(codeHash: codeHash, now: now, on: db) {
            case .unknown:
                return .refused(.invalidGrant("The code is unknown or has expired."))
            case .reused(let grant):
                if let grant { try await store.revokeGrant(grant, at: now, on: db) }
                return .refused(.invalidGrant("The code was used before; the tokens issued for it are revoked."))
            case .valid(let stored):
                guard stored.appID == client.id else { return .refused(.invalidGrant("The code was issued to another client.")) }
                guard stored.redirectURI == redirectURI else {
                    return .refused(.invalidGrant("redirect_uri differs from the one of the authorization request."))
                }
                guard PKCE.matches(verifier: verifier, challenge: stored.codeChallenge) else {
                    return .refused(.invalidGrant("code_verifier does not match the code_challenge."))
                }
                guard let user = try await accounts.find(id: stored.userID, on: db) else {
                    return .refused(.invalidGrant("The person who granted the code no longer exists."))
                }
                let scopes = stored.scopes.intersection(client.scopes).intersection(GrantableScopes.allowed(for: user.role))
                guard !scopes.isEmpty else { return .refused(.invalidScope("None of the granted scopes is still allowed.")) }
                let grant = OAuthGrant(id: ids.make(), appID: client.id, userID: user.id, scopes: scopes, createdAt: now)
                try await store.insert(grant, on: db)
                try await store.recordGrant(grant.id, forCode: codeHash, on: db)
                return .issued(try await issue(grant, scopes: scopes, user: user, refresh: true, now: now, on: db))
            }
        }
        switch outcome {
        case .issued(let tokens): return tokens
        case .refused(let error): throw error
        }
    }

    private func refresh(_ form: OAuthForm, client: OAuthApp) async throws -> IssuedTokens {
        guard let token = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required.") }
        let requested = try Self.scopes(form["scope"])
        let tokenHash = SecretToken.digest(token)
        let now = clock.now()
        let outcome = try await database.transaction { db -> Exchange in
            // Bound to its client: another client's try spends nothing.
            guard let state = try await store.refreshTokenState(tokenHash: tokenHash, on: db),
                let grant = try await store.grant(state.grant, on: db), grant.appID == client.id
            else { return .refused(.invalidGrant("The refresh token is unknown.")) }
            if state.used {
                try await store.revokeGrant(grant.id, at: now, on: db)
                return .refused(.invalidGrant("The refresh token was used before; every token of its grant is revoked."))
            }
            guard grant.revokedAt == nil else { return .refused(.invalidGrant("The grant was revoked.")) }
            // What the grant still allows is settled before the token is spent, so that a
            // refused request leaves the app its refresh token.
            var user: User?
            if let userID = grant.userID {
                guard let found = try await accounts.find(id: userID, on: db) else {
                    return .refused(.invalidGrant("The person who granted access no longer exists."))
                }
                user = found
            }
            var scopes = grant.scopes.intersection(client.scopes)
            if let role = user?.role { scopes.formIntersection(GrantableScopes.allowed(for: role)) }
            if let requested {
                guard requested.isSubset(of: scopes) else {
                    return .refused(.invalidScope("The grant does not hold " + OAuthStore.encode(requested.subtracting(scopes)) + "."))
                }
                scopes = requested
            }
            guard !scopes.isEmpty else { return .refused(.invalidScope("None of the granted scopes is still allowed.")) }
            switch try await store.redeemRefreshToken(tokenHash: tokenHash, now: now, on: db) {
            case .unknown:
                return .refused(.invalidGrant("The refresh token is unknown or has expired."))
            case .reused(let grantID):
                // Another request spent it a moment ago.
                try await store.revokeGrant(grantID, at: now, on: db)
                return .refused(.invalidGrant("The refresh token was used before; every token of its grant is revoked."))
            case .valid:
                return .issued(try await issue(grant, scopes: scopes, user: user, refresh: true, now: now, on: db))
            }
        }
        switch outcome {
        case .issued(let tokens): return tokens
        case .refused(let error): throw error
        }
    }

    private func clientCredentials(_ form: OAuthForm, client: OAuthApp) async throws -> IssuedTokens {
        guard client.clientType == .confidential else {
            throw OAuthError.unauthorizedClient("Only confidential apps may use client_credentials.")
        }
        let scopes = try Self.scopes(form["scope"]) ?? client.scopes
        guard scopes.isSubset(of: client.scopes) else {
            throw OAuthError.invalidScope("The app is not registered for " + OAuthStore.encode(scopes.subtracting(client.scopes)) + ".")
        }
        let now = clock.now()
        let grant = OAuthGrant(id: ids.make(), appID: client.id, userID: nil, scopes: scopes, createdAt: now)
        return try await database.transaction { db in
            try await store.insert(grant, on: db)
            return try await issue(grant, scopes: scopes, user: nil, refresh: false, now: now, on: db)
        }
    }

    private func issue(
        _ grant: OAuthGrant, scopes: Set<Scope>, user: User?, refresh: Bool, now: Date, on db: any SQLExecutor
    ) async throws -> IssuedTokens {
        var refreshToken: String?
        if refresh {
            let token = SecretToken.make()
            try await store.insertRefreshToken(
                id: ids.makeUUID().lowercasedString, tokenHash: SecretToken.digest(token), grant: grant.id,
                expiresAt: now.addingTimeInterval(Self.refreshLifetime), now: now, on: db)
            refreshToken = token
        }
        return IssuedTokens(
            accessToken: try await tokens.issue(grant: grant, scopes: scopes, user: user), refreshToken: refreshToken,
            scope: OAuthStore.encode(scopes))
    }

    private static func scopes(_ text: String?) throws -> Set<Scope>? {
        guard let text else { return nil }
        var scopes = Set<Scope>()
        for name in text.split(separator: " ") {
            guard let scope = Scope(rawValue: String(name)) else { throw OAuthError.invalidScope("Unknown scope \(name).") }
            scopes.insert(scope)
        }
        return scopes
    }
}
