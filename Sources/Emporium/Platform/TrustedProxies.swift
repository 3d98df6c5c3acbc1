import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whose `X-Forwarded-For` the server believes (`--trust-forwarded-for`).
///
/// `X-Forwarded-For` is a list every proxy on the way appends its peer's address to, so only
/// its right-hand end was written by proxies the shop runs; anything to the left of those came
/// from the client and may be made up. With a list of proxies, the header counts only when the
/// connection comes from one of them, and the client is the right-most address that is not
/// itself one of them: a client that sends its own header cannot pose as another address.
public enum TrustedProxies: Sendable, Equatable, ExpressibleByBooleanLiteral {
    /// The header is ignored: the client is the connection's peer.
    case nobody
    /// Any peer's header is believed and its last entry is the client. Safe only when nothing
    /// but the balancer can reach the server.
    case anyPeer
    /// Only these proxies' headers are believed.
    case networks([IPNetwork])

    public init(booleanLiteral value: Bool) {
        self = value ? .anyPeer : .nobody
    }

    /// Comma-separated addresses or CIDR blocks (`10.0.0.0/8, 2001:db8::/32, 127.0.0.1`);
    /// nil when one of them is neither.
    public init?(listing text: String) {
        var networks: [IPNetwork] = []
        for item in text.split(separator: ",") {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let network = IPNetwork(parsing: trimmed) else { return nil }
            networks.append(network)
        }
        self = networks.isEmpty ? .nobody : .networks(networks)
    }

    /// The client's address by `forwardedFor` (the header's value) for a connection from
    /// `peer`, or nil when the header does not count and the peer is the client.
    public func client(peer: String?, forwardedFor: String?) -> String? {
        guard let forwardedFor else { return nil }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        switch self {
        case .nobody:
            return nil
        case .anyPeer:
            return hops.last.flatMap { $0.isEmpty ? nil : $0 }
        case .networks(let networks):
            guard let peer, Self.isTrusted(peer, by: networks) else { return nil }
            // From the right: the proxies' own entries are skipped; the first other address
            // is whoever connected to the outermost trusted proxy. An entry that is no
            // address at all was written by the client: the last trusted hop is then the
            // best that is known.
            var lastTrusted: String?
            for hop in hops.reversed() {
                guard let address = IPNetwork.bytes(of: hop) else { return lastTrusted }
                if !networks.contains(where: { $0.contains(address) }) { return hop }
                lastTrusted = hop
            }
            return lastTrusted
        }
    }

    static func isTrusted(_ address: String, by networks: [IPNetwork]) -> Bool {
        guard let bytes = IPNetwork.bytes(of: address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }
}

/// An IPv4 or IPv6 address block: an address and how many leading bits of it count.
public struct IPNetwork: Sendable, Equatable {
    /// 4 bytes for IPv4, 16 for IPv6.
    let address: [UInt8]
    let prefixLength: Int

    /// `192.0.2.0/24`, `2001:db8::/32`, or a single address (all bits count).
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = Self.bytes(of: String(parts[0])) else { return nil }
        let bits = address.count * 8
        var length = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...bits).contains(given), parts[1].allSatisfy(\.isASCII) else { return nil }
            length = given
        }
        self.address = address
        self.prefixLength = length
    }

    func contains(_ other: [UInt8]) -> Bool {
        guard other.count == address.count else { return false }
        var remaining = prefixLength
        for index in 0..<address.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if address[index] & mask != other[index] & mask { return false }
            remaining -= 8
        }
        return true
    }

    /// The address's bytes; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
    /// dual-stack socket reports for an IPv4 peer) as the IPv4 address it is. Brackets
    /// around an IPv6 address are allowed.
    static func bytes(of text: String) -> [UInt8]? {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(text), &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return Array(bytes[12..<16])
        }
        return bytes
    }
}
