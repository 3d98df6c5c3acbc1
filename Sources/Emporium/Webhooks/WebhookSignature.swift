import Crypto
import Foundation

/// Secrets and signatures as the Standard Webhooks specification has them
/// (https://www.standardwebhooks.com), so receivers can verify with any of its libraries.
///
/// A secret reads `whsec_<base64 of 32 random bytes>`; the key is the decoded bytes. A
/// signature is `v1,<base64 of HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`,
/// and the `webhook-signature` header lists one per valid secret, separated by spaces.
enum WebhookSignature {
    static let secretPrefix = "whsec_"

    /// A new secret from the system's random generator.
    static func makeSecret() -> String {
        let key = SymmetricKey(size: .bits256)
        return secretPrefix + key.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// The HMAC key of a secret; nil when the text is not a secret of this form.
    static func key(of secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(secretPrefix),
            let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))), !bytes.isEmpty
        else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// `v1,<signature>` of one message under one secret.
    static func sign(id: String, timestamp: Int64, body: String, secret: String) -> String? {
        guard let key = key(of: secret) else { return nil }
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body.utf8)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return "v1," + Data(code).base64EncodedString()
    }

    /// The `webhook-signature` header: the current secret's signature first, then the
    /// previous one's while a rotation overlaps.
    static func header(id: String, timestamp: Int64, body: String, secrets: [String]) -> String {
        secrets.compactMap { sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }
}
