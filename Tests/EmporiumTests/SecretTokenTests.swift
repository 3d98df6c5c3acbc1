import Foundation
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
        // Each place varies on its own: a stuck byte (a draw left at zero) would fix the
        // characters it makes. Of 64 possible characters, 1000 tokens show nearly all at each
        // place; the last place holds four bits, 16 characters.
        let characters = tokens.map(Array.init)
        for place in 0..<42 {
            #expect(Set(characters.map { $0[place] }).count >= 48, "place \(place)")
        }
        #expect(Set(characters.map { $0[42] }).count == 16)
    }

    /// The shared encoder agrees with Foundation's base64 rewritten to base64url, at every
    /// length's remainder, and its output is what the canonical decoder accepts.
    @Test func base64URLEncodingIsFoundationsInTheURLAlphabet() {
        var generator = SystemRandomNumberGenerator()
        for count in 0...40 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let encoded = CanonicalBase64URL.encode(bytes)
            #expect(encoded == expected, "\(count) bytes")
            #expect(CanonicalBase64URL.decode(Array(encoded.utf8)) == bytes, "\(count) bytes")
        }
        #expect(CanonicalBase64URL.encode([0xFB, 0xFF]) == "-_8")
    }
}
