import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// Hashes and checks passwords with bcrypt, on a thread pool rather than the event loop
/// (one hash costs tens to hundreds of milliseconds by design).
///
/// bcrypt reads only the first 72 bytes of its input, and passwords may be up to 128
/// characters, so the password is first reduced to its SHA-256 digest in base64 (44 bytes):
/// every character counts.
struct PasswordHasher: Sendable {
    let cost: Int
    /// A hash of a random password at the same cost, checked when an e-mail is unknown so that
    /// "no such user" takes as long as "wrong password".
    private let decoy: String

    init(cost: Int) {
        self.cost = cost
        self.decoy = Bcrypt.hash(Self.prehash(UUID().uuidString), cost: UInt8(cost))
    }

    func hash(_ password: String) async throws -> String {
        let cost = UInt8(cost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(Self.prehash(password), cost: cost) }
    }

    func verify(_ password: String, against hash: String?) async throws -> Bool {
        let stored = hash ?? decoy
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(Self.prehash(password), hash: stored) }
        return matches && hash != nil
    }

    private static func prehash(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }
}
