import Crypto
import EmporiumCore
import Foundation
import JWTKit

/// What an app's access token says: which grant it was issued under, for which app, with
/// which scopes, and (when the app acts for a person) who and under which of their token
/// generations. It has no `role` claim, so it can never pass for a person's token, and a
/// person's token (no `client_id`) never passes for it.
struct AppAccessClaims: JWTPayload {
    let iss: IssuerClaim
    let aud: AudienceClaim
    let sub: SubjectClaim
    let clientID: String
    let scope: String
    let grant: String
    let gen: Int64?
    let iat: IssuedAtClaim
    let exp: ExpirationClaim
    let jti: IDClaim

    enum CodingKeys: String, CodingKey {
        case iss, aud, sub, scope, grant, gen, iat, exp, jti
        case clientID = "client_id"
    }

    /// Checked by `AppTokens.verify`, against the injected clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Issues and verifies apps' access tokens: JWTs signed with the same Ed25519 key as people's
/// tokens, lasting as long (15 minutes). Whether the grant behind a token still stands is the
/// caller's check.
final class AppTokens: Sendable {
    static let lifetime: TimeInterval = AccessTokens.lifetime

    private let keys: JWTKeyCollection
    private let keyID: JWKIdentifier
    private let clock: any WallClock
    private let ids: any IDGenerator

    init(signingKey: EdDSA.PrivateKey, clock: any WallClock, ids: any IDGenerator) async {
        let digest = SHA256.hash(data: signingKey.publicKey.rawRepresentation)
        keyID = JWKIdentifier(string: Hex.string(digest.prefix(8)))
        keys = JWTKeyCollection()
        await keys.add(eddsa: signingKey, kid: keyID)
        self.clock = clock
        self.ids = ids
    }

    func issue(grant: OAuthGrant, scopes: Set<Scope>, user: User?) async throws -> String {
        let now = clock.now()
        let claims = AppAccessClaims(
            iss: IssuerClaim(value: AccessTokens.issuer), aud: AudienceClaim(value: AccessTokens.audience),
            sub: SubjectClaim(value: user?.id.description ?? grant.appID.description), clientID: grant.appID.description,
            scope: OAuthStore.encode(scopes), grant: grant.id.description, gen: user?.tokenGeneration,
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(Self.lifetime)),
            jti: IDClaim(value: ids.makeUUID().lowercasedString))
        return try await keys.sign(claims, kid: keyID)
    }

    /// The claims of a current app token this service signed; `nil` for anything else.
    func verify(_ token: String) async -> AppAccessClaims? {
        let now = clock.now()
        guard AccessTokens.namesKey(keyID, token), let claims = try? await keys.verify(token, as: AppAccessClaims.self),
            AccessTokens.isCurrent(iss: claims.iss, aud: claims.aud, iat: claims.iat, exp: claims.exp, now: now)
        else { return nil }
        return claims
    }
}
