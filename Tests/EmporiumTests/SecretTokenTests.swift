import Testing

@testable import Emporium

@Suite struct SecretTokenTests {
    /// 256 bits as unpadded base64url, and never the same twice.
    @Test func tokensAre256RandomBitsInBase64URL() {
        let tokens = (0..<1000).map { _ in SecretToken.make() }
        #expect(Set(tokens).count == tokens.count)
        for token in tokens {
            #expect(token.count == 43)
            #expect(CanonicalBase64URL.decode(Array(token.utf8))?.count == 32)
        }
        // Every one of the 64 characters turns up: no byte of the 32 is stuck.
        #expect(Set(tokens.joined()).count == 64)
    }
}
