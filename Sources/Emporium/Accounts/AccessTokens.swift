import Crypto
import EmporiumCore
import Foundation
import EmporiumStorage
import JWTKit

/// What an access token says: who, in which role, which of the user's token generations, who
/// issued it for whom, when, until when, and its own id.
struct AccessClaims: JWTPayload {
    let iss: IssuerClaim
    let aud: AudienceClaim
    let sub: SubjectClaim
    let role: Role
    /// The user's token generation when it was issued; raising the generation (password reset,
    /// role change, sign-out everywhere) ends every token issued before.
    let gen: Int64
    let iat: IssuedAtClaim
    let exp: ExpirationClaim
    let jti: IDClaim

    /// Checked by `AccessTokens.verify`, against the injected clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Issues and verifies short-lived access tokens: JWTs signed with an Ed25519 key, its id
/// in the header so that keys can rotate.
final class AccessTokens: Sendable {
    static let lifetime: TimeInterval = 15 * 60
    static let issuer = "emporium"
    static let audience = "emporium-api"
    /// How far ahead of this node's clock another node's `iat` may be.
    static let clockSkew: TimeInterval = 60

    private let keys: JWTKeyCollection
    private let keyID: JWKIdentifier
    private let clock: any WallClock
    private let ids: any IDGenerator
    private let verified = VerifiedTokenCache(capacity: 10_000)

    init(signingKey: EdDSA.PrivateKey, clock: any WallClock, ids: any IDGenerator) async {
        // The key id is derived from the public key, so every node with the same key agrees.
        let digest = SHA256.hash(data: signingKey.publicKey.rawRepresentation)
        keyID = JWKIdentifier(string: Hex.string(digest.prefix(8)))
        keys = JWTKeyCollection()
        await keys.add(eddsa: signingKey, kid: keyID)
        self.clock = clock
        self.ids = ids
    }

    func issue(for user: User) async throws -> String {
        let now = clock.now()
        let claims = AccessClaims(
            iss: IssuerClaim(value: Self.issuer), aud: AudienceClaim(value: Self.audience),
            sub: SubjectClaim(value: user.id.description), role: user.role, gen: user.tokenGeneration,
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(Self.lifetime)),
            jti: IDClaim(value: ids.makeUUID().lowercasedString))
        return try await keys.sign(claims, kid: keyID)
    }

    /// The claims of a token this service signed and that has not expired; `nil` otherwise
    /// (malformed, not canonical base64url, no `kid` or one that names no current key, another
    /// algorithm, `alg: none`, tampered, expired, issued in the future, another issuer or
    /// audience). Whether its generation is still the user's is the caller's check.
    func verify(_ token: String) async -> AccessClaims? {
        let now = clock.now()
        if let claims = verified.claims(for: token, now: now) { return claims }
        guard Self.namesKey(keyID, token), let claims = try? await keys.verify(token, as: AccessClaims.self),
            Self.isCurrent(iss: claims.iss, aud: claims.aud, iat: claims.iat, exp: claims.exp, now: now)
        else { return nil }
        verified.store(claims, for: token, now: now)
        return claims
    }

    private struct Header: Decodable {
        let alg: String
        let kid: String?
    }

    /// Whether `token` is a canonically spelled compact JWS whose header names `keyID` and
    /// EdDSA. JWTKit falls back to its default key when a token names none; every token this
    /// node signs names its key, so one without a `kid`, or with another, is refused first.
    static func namesKey(_ keyID: JWKIdentifier, _ token: String) -> Bool {
        guard CanonicalBase64URL.isCanonicalCompactJWS(token),
            let part = token.split(separator: ".", maxSplits: 1).first,
            let bytes = CanonicalBase64URL.decode(part.utf8),
            let header = try? JSONDecoder().decode(Header.self, from: Data(bytes))
        else { return false }
        return header.alg == "EdDSA" && header.kid == keyID.string
    }

    /// Whether verified claims are for this API, from this issuer, not expired and not issued
    /// in the future beyond the clock skew: the same rules for people's and apps' tokens.
    static func isCurrent(iss: IssuerClaim, aud: AudienceClaim, iat: IssuedAtClaim, exp: ExpirationClaim, now: Date) -> Bool {
        exp.value > now && iat.value <= now.addingTimeInterval(clockSkew) && iss.value == issuer && aud.value == [audience]
    }
}

/// Where the token signing key comes from: a PEM file named by configuration, or beside an
/// SQLite database a file generated on first start (mode 0600). PostgreSQL deployments must
/// name the file: every node has to sign with the same key.
enum SigningKeySource {
    static func load(_ configuration: AppConfiguration) throws -> EdDSA.PrivateKey {
        if let path = configuration.jwtKeyFile {
            return try read(path)
        }
        switch configuration.databaseURL {
        case .sqliteMemory:
            return try EdDSA.PrivateKey(curve: .ed25519)
        case .sqliteFile(path: let databasePath):
            let path = databasePath + ".jwt-key.pem"
            if FileManager.default.fileExists(atPath: path) { return try read(path) }
            let key = try EdDSA.PrivateKey(curve: .ed25519)
            guard FileManager.default.createFile(
                atPath: path, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw ConfigurationError(description: "cannot write the token signing key to \(path); check the folder's permissions")
            }
            return key
        case .postgres(_):
            throw ConfigurationError(
                description: "--jwt-key-file (EMPORIUM_JWT_KEY_FILE) is required with PostgreSQL: every node must sign tokens with the same Ed25519 key (create one with: openssl genpkey -algorithm ed25519)")
        }
    }

    private static func read(_ path: String) throws -> EdDSA.PrivateKey {
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(description: "cannot read the token signing key file \(path)")
        }
        do {
            return try EdDSA.PrivateKey(pem: pem)
        } catch {
            throw ConfigurationError(description: "\(path) is not an Ed25519 private key in PEM form")
        }
    }
}
