import Crypto
import EmporiumCore
import Foundation

/// Bearer secrets handed to clients (refresh tokens, reset links): 256 random bits as
/// base64url, stored only as their SHA-256 digest so that a database leak reveals no
/// usable token.
enum SecretToken {
    static func make() -> String {
        // Eight bytes per draw: each draw is a getrandom(2) call, and a byte at a time made 32 of
        // them for every guest cart and guest order.
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 { withUnsafeBytes(of: generator.next().littleEndian) { bytes.append(contentsOf: $0) } }
        return CanonicalBase64URL.encode(bytes)
    }

    static func digest(_ token: String) -> String {
        Hex.string(SHA256.hash(data: Data(token.utf8)))
    }

    /// Whether `token` is the one `digest` was made from, in time that does not depend on
    /// where the digests differ.
    static func matches(_ token: String, digest stored: String) -> Bool {
        let computed = Array(digest(token).utf8)
        let expected = Array(stored.utf8)
        guard computed.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(computed, expected) { difference |= a ^ b }
        return difference == 0
    }
}
