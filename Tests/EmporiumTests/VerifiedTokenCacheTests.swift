@testable import Emporium
import Foundation
import JWTKit
import Testing

@Suite struct VerifiedTokenCacheTests {
    func claims(expiring: Date) -> AccessClaims {
        AccessClaims(
            iss: IssuerClaim(value: AccessTokens.issuer), aud: AudienceClaim(value: AccessTokens.audience),
            sub: SubjectClaim(value: UUID().uuidString), role: .customer, gen: 0, iat: IssuedAtClaim(value: expiring.addingTimeInterval(-900)),
            exp: ExpirationClaim(value: expiring), jti: IDClaim(value: UUID().uuidString))
    }

    @Test func neverHoldsMoreThanItsCapacityAndDropsExpiredTokensFirst() {
        let now = Date()
        let cache = VerifiedTokenCache(capacity: 4)
        cache.store(claims(expiring: now.addingTimeInterval(1)), for: "short", now: now)
        for index in 0..<3 { cache.store(claims(expiring: now.addingTimeInterval(900)), for: "live\(index)", now: now) }
        let later = now.addingTimeInterval(10)
        cache.store(claims(expiring: later.addingTimeInterval(900)), for: "new", now: later)
        #expect(cache.count == 4)
        #expect(cache.claims(for: "short", now: later) == nil)
        #expect(cache.claims(for: "new", now: later) != nil && cache.claims(for: "live0", now: later) != nil)
        for index in 0..<100 { cache.store(claims(expiring: later.addingTimeInterval(900)), for: "more\(index)", now: later) }
        #expect(cache.count == 4)
    }

    @Test func anExpiredEntryIsNeverAnswered() {
        let now = Date()
        let cache = VerifiedTokenCache(capacity: 10)
        cache.store(claims(expiring: now.addingTimeInterval(60)), for: "t", now: now)
        #expect(cache.claims(for: "t", now: now.addingTimeInterval(59)) != nil)
        #expect(cache.claims(for: "t", now: now.addingTimeInterval(60)) == nil)
        #expect(cache.count == 0)
    }
}
