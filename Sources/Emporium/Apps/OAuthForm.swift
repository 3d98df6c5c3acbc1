import Crypto
import Foundation
import Hummingbird
import NIOCore

/// `application/x-www-form-urlencoded` bodies and queries (RFC 6749 §3.2 and Appendix B):
/// a parameter sent twice is refused, as the RFC asks.
struct OAuthForm: Sendable {
    let values: [String: String]
    let repeated: Set<String>

    init(values: [String: String], repeated: Set<String> = []) {
        self.values = values
        self.repeated = repeated
    }

    init(encoded text: Substring) {
        var values: [String: String] = [:]
        var repeated = Set<String>()
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), !name.isEmpty else { continue }
            let value = parts.count > 1 ? Self.decode(parts[1]) ?? "" : ""
            if values[name] != nil { repeated.insert(name) }
            values[name] = value
        }
        self.values = values
        self.repeated = repeated
    }

    /// A form body; anything but `application/x-www-form-urlencoded` is an empty form.
    static func body(of request: Request, context: AppRequestContext) async throws -> OAuthForm {
        guard let type = request.headers[.contentType],
            type.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() == "application/x-www-form-urlencoded"
        else { return OAuthForm(encoded: "") }
        var request = request
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        return OAuthForm(encoded: Substring(String(buffer: buffer)))
    }

    static func query(of request: Request) -> OAuthForm {
        OAuthForm(encoded: Substring(request.uri.query ?? ""))
    }

    /// A parameter's value; empty values count as absent (RFC 6749 §3.1).
    subscript(name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    private static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

/// PKCE with S256 only (RFC 7636): the verifier's SHA-256, base64url without padding, is the
/// challenge. Verifiers and challenges are 43 to 128 unreserved characters.
enum PKCE {
    static func isWellFormed(_ text: String) -> Bool {
        (43...128).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
            }
    }

    static func challenge(for verifier: String) -> String {
        CanonicalBase64URL.encode(SHA256.hash(data: Data(verifier.utf8)))
    }

    static func matches(verifier: String, challenge: String) -> Bool {
        guard isWellFormed(verifier) else { return false }
        let computed = Array(Self.challenge(for: verifier).utf8)
        let expected = Array(challenge.utf8)
        guard computed.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(computed, expected) { difference |= a ^ b }
        return difference == 0
    }
}
