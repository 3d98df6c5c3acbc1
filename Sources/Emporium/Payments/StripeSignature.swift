import Crypto
import Foundation

/// Stripe's webhook signature: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>[,v1=…]`,
/// the HMAC of `"<t>.<raw body>"` keyed with the endpoint's signing secret (`whsec_…`, used
/// as it is written). Several `v1` values and several secrets are accepted, so a secret can
/// be rotated without refusing events.
enum StripeSignature {
    /// How far the signature's time may be from ours.
    static let tolerance: TimeInterval = 300

    enum Refusal: Error, Equatable {
        /// No `t` or no `v1`, or not of that form.
        case malformed
        /// No `v1` matches any secret.
        case mismatch
        /// Signed more than `tolerance` away from now.
        case stale
    }

    /// Checks `header` over the raw `body`; throws why it does not hold.
    static func verify(header: String?, body: [UInt8], secrets: [String], now: Date) throws(Refusal) {
        guard let header else { throw .malformed }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamp = Int64(pair[1])
            case "v1": if let bytes = bytes(hex: pair[1]), bytes.count == 32 { signatures.append(bytes) }
            default: continue
            }
        }
        guard let timestamp, !signatures.isEmpty else { throw .malformed }
        var matched = false
        for secret in secrets {
            let expected = Array(code(timestamp: timestamp, body: body, secret: secret))
            // Every candidate is compared in full, so the time taken says nothing about which matched.
            for signature in signatures where constantTimeEqual(signature, expected) { matched = true }
        }
        guard matched else { throw .mismatch }
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= tolerance else { throw .stale }
    }

    private static func code(timestamp: Int64, body: [UInt8], secret: String) -> HMAC<SHA256>.MAC {
        var message = Array("\(timestamp).".utf8)
        message += body
        return HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
