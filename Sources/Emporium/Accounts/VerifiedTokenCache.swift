import Foundation
import JWTKit
import Synchronization

/// Access tokens whose signature was checked already, kept until they expire. Checking an
/// Ed25519 signature costs tens of microseconds, more than the rest of a small request; a
/// client sends the same token for up to 15 minutes. Only tokens that verified are stored,
/// under their exact text, so the cache never accepts anything the verifier would refuse.
final class VerifiedTokenCache: Sendable {
    private let capacity: Int
    private let entries = Mutex<[String: AccessClaims]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func claims(for token: String, now: Date) -> AccessClaims? {
        entries.withLock { entries in
            guard let claims = entries[token] else { return nil }
            guard claims.exp.value > now else {
                entries[token] = nil
                return nil
            }
            return claims
        }
    }

    func store(_ claims: AccessClaims, for token: String, now: Date) {
        entries.withLock { entries in
            if entries.count >= capacity {
                // Expired tokens go first; if every token is still live, an arbitrary one
                // makes room. The bound matters more than which token pays.
                entries = entries.filter { $0.value.exp.value > now }
                if entries.count >= capacity { entries.remove(at: entries.startIndex) }
            }
            entries[token] = claims
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
