import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where webhooks may be sent. A webhook URL is chosen by whoever holds an admin token, and the
/// server then makes requests to it from inside the shop's network: without these rules an
/// endpoint could read the cloud metadata service (169.254.169.254) or poke at internal
/// services (server-side request forgery).
///
/// The form is checked alone (absolute http(s) with a host, no credentials, https unless
/// private addresses are allowed); the address is checked by resolving the host and refusing
/// it when any address it resolves to is not public. Both run when an endpoint is saved and
/// again before every delivery, so a name that later points inwards is refused then.
///
/// The host is resolved again by the HTTP client when it connects, so a name could change in
/// between (DNS rebinding). Without the allowance only https is accepted, and the TLS handshake
/// then demands a certificate for the name: an internal service does not hold one for the
/// attacker's domain, so no request reaches it.
struct AddressPolicy: Sendable {
    /// Loopback, private and the like are fine, and so is plain http (tests, closed networks).
    let allowPrivateAddresses: Bool

    static let maximumLength = 2048

    enum Verdict: Sendable, Equatable {
        case allowed
        /// The host resolves to an address webhooks must not reach; the text says which.
        case refused(String)
        /// The host does not resolve (now); the text says why.
        case unresolvable(String)
    }

    /// What is wrong with the URL's form, or nil. No I/O.
    func formProblem(_ text: String) -> String? {
        guard text.utf8.count <= Self.maximumLength else { return "must be at most \(Self.maximumLength) characters" }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return "must be an absolute URL such as https://example.com/webhooks"
        }
        guard scheme == "https" || scheme == "http" else { return "must be an http or https URL" }
        if scheme == "http", !allowPrivateAddresses {
            return "must use https (plain http only with --webhook-allow-private-addresses, for closed networks)"
        }
        guard let host = components.host, !host.isEmpty else { return "must name a host" }
        if components.user != nil || components.password != nil {
            // The URL is shown in every answer about the endpoint; the signature authenticates.
            return "must not carry a user name or password; verify the webhook-signature header instead"
        }
        if components.fragment != nil { return "must not have a fragment (#…)" }
        if let port = components.port, !(1...65535).contains(port) { return "must have a port from 1 to 65535" }
        return nil
    }

    /// The URL with its scheme in lower case, as stored. Call after `formProblem` found none.
    func normalized(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return text }
        components.scheme = components.scheme?.lowercased()
        return components.string ?? text
    }

    /// Resolves the URL's host and judges every address it resolves to. With the allowance
    /// nothing is resolved: every address is fine.
    func vet(_ text: String) async -> Verdict {
        guard !allowPrivateAddresses else { return .allowed }
        guard let named = URLComponents(string: text)?.host, !named.isEmpty else { return .refused("the URL names no host") }
        let host = named.hasPrefix("[") && named.hasSuffix("]") ? String(named.dropFirst().dropLast()) : named
        let addresses: [[UInt8]]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { try Self.resolve(host) }
        } catch let failure as ResolutionFailure {
            return .unresolvable("the host name \(host) does not resolve (\(failure.reason))")
        } catch {
            return .unresolvable("the host name \(host) could not be resolved (\(error))")
        }
        guard !addresses.isEmpty else { return .unresolvable("the host name \(host) has no address") }
        for address in addresses {
            if let kind = Self.nonPublicKind(address) {
                return .refused("\(host) resolves to \(Self.text(address)), \(kind); webhooks go to public addresses only")
            }
        }
        return .allowed
    }

    // MARK: Resolution

    struct ResolutionFailure: Error {
        let reason: String
    }

    /// getaddrinfo, blocking: run it on a thread pool, never on the cooperative pool. Answers
    /// raw addresses, 4 bytes for IPv4 and 16 for IPv6, without repeats.
    static func resolve(_ host: String) throws -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { throw ResolutionFailure(reason: String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var cursor = list
        while let entry = cursor {
            if let socketAddress = entry.pointee.ai_addr {
                var bytes: [UInt8]?
                switch entry.pointee.ai_family {
                case AF_INET:
                    bytes = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                    }
                case AF_INET6:
                    bytes = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                    }
                default:
                    break
                }
                if let bytes, !addresses.contains(bytes) { addresses.append(bytes) }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    // MARK: Classification

    /// Why an address is not a public unicast one (in the words of the detail shown to the
    /// admin), or nil when it is public.
    static func nonPublicKind(_ address: [UInt8]) -> String? {
        switch address.count {
        case 4: return nonPublicKind(v4: address)
        case 16: return nonPublicKind(v6: address)
        default: return "not an IP address"
        }
    }

    private static func nonPublicKind(v4 a: [UInt8]) -> String? {
        switch (a[0], a[1], a[2]) {
        case (0, _, _): return "an unspecified (\"this network\") address"
        case (10, _, _): return "a private address"
        case (100, 64...127, _): return "a shared (carrier-grade NAT) address"
        case (127, _, _): return "a loopback address"
        case (169, 254, _): return "a link-local address (where cloud metadata services answer)"
        case (172, 16...31, _): return "a private address"
        case (192, 0, 0): return "a reserved address"
        case (192, 0, 2), (198, 51, 100), (203, 0, 113): return "a documentation address"
        case (192, 88, 99): return "a reserved (6to4 relay) address"
        case (192, 168, _): return "a private address"
        case (198, 18...19, _): return "a benchmarking address"
        case (224...239, _, _): return "a multicast address"
        case (240...255, _, _): return "a reserved address"
        default: return nil
        }
    }

    private static func nonPublicKind(v6 a: [UInt8]) -> String? {
        let embedded = Array(a[12..<16])
        let zeroPrefix = a[0..<10].allSatisfy { $0 == 0 }
        if a.allSatisfy({ $0 == 0 }) { return "an unspecified address" }
        if a[0..<15].allSatisfy({ $0 == 0 }) && a[15] == 1 { return "a loopback address" }
        // IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), IPv4-compatible
        // (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms reach the IPv4 address they carry.
        if zeroPrefix, a[10] == 0xff, a[11] == 0xff { return nonPublicKind(v4: embedded).map { "an IPv4-mapped form of \($0)" } }
        if a[0..<8].allSatisfy({ $0 == 0 }), a[8] == 0xff, a[9] == 0xff, a[10] == 0, a[11] == 0 {
            return nonPublicKind(v4: embedded).map { "an IPv4-translated form of \($0)" }
        }
        if zeroPrefix, a[10] == 0, a[11] == 0 {
            return nonPublicKind(v4: embedded).map { "an IPv4-compatible form of \($0)" } ?? "a deprecated IPv4-compatible address"
        }
        if a[0] == 0x00, a[1] == 0x64, a[2] == 0xff, a[3] == 0x9b {
            if a[4..<12].allSatisfy({ $0 == 0 }) { return nonPublicKind(v4: embedded).map { "a NAT64 form of \($0)" } }
            if a[4] == 0, a[5] == 1 { return "a local-use NAT64 address" }
        }
        if a[0] == 0x20, a[1] == 0x02 {
            // 6to4 carries an IPv4 address in bytes 2 to 5.
            return nonPublicKind(v4: Array(a[2..<6])).map { "a 6to4 form of \($0)" }
        }
        if a[0] == 0x01, a[1] == 0x00, a[2..<8].allSatisfy({ $0 == 0 }) { return "a discard-only address" }
        if a[0] == 0x20, a[1] == 0x01, a[2] == 0x0d, a[3] == 0xb8 { return "a documentation address" }
        if a[0] == 0x3f, a[1] == 0xff, a[2] & 0xf0 == 0 { return "a documentation address" }
        // 2001::/23 holds Teredo (which hides an IPv4 address) and other protocol assignments.
        if a[0] == 0x20, a[1] == 0x01, a[2] & 0xfe == 0 { return "a reserved (IETF protocol) address" }
        if a[0] & 0xfe == 0xfc { return "a private (unique local) address" }
        if a[0] == 0xfe, a[1] & 0xc0 == 0x80 { return "a link-local address" }
        if a[0] == 0xfe, a[1] & 0xc0 == 0xc0 { return "a site-local address" }
        if a[0] == 0xff { return "a multicast address" }
        // Only 2000::/3 is allocated for global unicast.
        if a[0] & 0xe0 != 0x20 { return "a reserved address" }
        return nil
    }

    /// The address as text: dotted quad, or IPv6 in eight groups.
    static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        var index = 0
        while index + 1 < address.count {
            groups.append(String(UInt16(address[index]) << 8 | UInt16(address[index + 1]), radix: 16))
            index += 2
        }
        return groups.joined(separator: ":")
    }
}
