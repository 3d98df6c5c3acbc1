import Crypto
import EmporiumCore
import Foundation
import EmporiumStorage
import JWTKit

/// What an access token says: who, in which role, when it was issued, until when, and its
/// own id.
struct AccessClaims: JWTPayload {
    let sub: SubjectClaim
    let role: Role
    let iat: IssuedAtClaim
    let exp: ExpirationClaim
    let jti: IDClaim

    /// Expiry is checked by `AccessTokens.verify` against the injected clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Issues and verifies short-lived access tokens: JWTs signed with an Ed25519 key, its id
/// in the header so that keys can rotate.
final class AccessTokens: Sendable {
    static let lifetime: TimeInterval = 15 * 60

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
            sub: SubjectClaim(value: user.id.description), role: user.role,
            iat: IssuedAtClaim(value: now), exp: ExpirationClaim(value: now.addingTimeInterval(Self.lifetime)),
            jti: IDClaim(value: ids.makeUUID().uuidString.lowercased()))
        return try await keys.sign(claims, kid: keyID)
    }

    /// The claims of a token this service signed and that has not expired; `nil` otherwise
    /// (malformed, another key or algorithm, `alg: none`, tampered, expired).
    func verify(_ token: String) async -> AccessClaims? {
        let now = clock.now()
        if let claims = verified.claims(for: token, now: now) { return claims }
        guard let claims = try? await keys.verify(token, as: AccessClaims.self), claims.exp.value > now else { return nil }
        verified.store(claims, for: token, now: now)
        return claims
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
