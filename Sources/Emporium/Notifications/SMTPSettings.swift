import Foundation

/// Where and how `SMTPMailer` hands mail over, parsed from a URL:
///
/// - `smtp://[USER:PASSWORD@]HOST[:PORT]` — port 587 by default; the connection is upgraded with
///   STARTTLS, and a server that does not offer STARTTLS is refused.
/// - `smtps://[USER:PASSWORD@]HOST[:PORT]` — TLS from the first byte, port 465 by default.
///
/// Query items: `starttls=off` (plain SMTP, for a relay on loopback and for tests; `smtp://` only),
/// `ca_file=/path/ca.pem` (a trust root in addition to the system's, for a private CA) and
/// `timeout=SECONDS` (for connecting and for each command; default 30). User name and password are
/// percent-decoded, so `@`, `:`, `/`, `?` and `#` in them must be written as `%40`, `%3A`, `%2F`,
/// `%3F` and `%23`. Credentials are only ever sent over TLS, unless `starttls=off` says otherwise.
public struct SMTPSettings: Sendable, Equatable, CustomStringConvertible {
    public enum Security: Sendable, Equatable {
        /// `smtp://`: a plain connection that must be upgraded with STARTTLS before anything is sent.
        case startTLS
        /// `smtps://`: TLS from the first byte.
        case implicitTLS
        /// `smtp://…?starttls=off`: no TLS at all.
        case none
    }

    public static let defaultTimeout: Duration = .seconds(30)

    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var security: Security
    /// A PEM file of certificates trusted in addition to the system's trust roots.
    public var caFile: String?
    /// The limit for connecting and for each command's reply.
    public var timeout: Duration

    public init(
        host: String, port: Int? = nil, username: String? = nil, password: String? = nil,
        security: Security = .startTLS, caFile: String? = nil, timeout: Duration = Self.defaultTimeout
    ) {
        self.host = host
        self.port = port ?? (security == .implicitTLS ? 465 : 587)
        self.username = username
        self.password = password
        self.security = security
        self.caFile = caFile
        self.timeout = timeout
    }

    /// Parses an `smtp://` or `smtps://` URL. Error messages never repeat the URL, which may hold a password.
    public init(parsing text: String) throws(SMTPSettingsError) {
        let usage = "expected smtp://[USER:PASSWORD@]HOST[:PORT] or smtps://…"
        guard let separator = text.range(of: "://") else {
            throw SMTPSettingsError("not an SMTP URL; \(usage)")
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        let security: Security
        switch scheme {
        case "smtp": security = .startTLS
        case "smtps": security = .implicitTLS
        default: throw SMTPSettingsError("unsupported mail URL scheme '\(scheme)'; \(usage)")
        }
        guard let components = URLComponents(string: text) else {
            throw SMTPSettingsError(
                "SMTP URL is malformed; percent-encode special characters in the user name and password"
                    + " (@ %40, : %3A, / %2F, ? %3F, # %23, % %25); \(usage)")
        }
        guard components.fragment == nil else {
            throw SMTPSettingsError("SMTP URL has a '#' fragment; write '#' in a user name or password as %23")
        }
        let host = (components.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else {
            throw SMTPSettingsError("SMTP URL has no host; \(usage)")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw SMTPSettingsError("SMTP URL port \(port) is out of range 1 to 65535")
        }
        guard components.path.isEmpty || components.path == "/" else {
            throw SMTPSettingsError("SMTP URL may not have a path; \(usage)")
        }
        let username = components.percentEncodedUser.map { $0.removingPercentEncoding ?? $0 }
        let password = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        switch (username, password) {
        case (nil, nil): break
        case (let user?, _) where user.isEmpty:
            throw SMTPSettingsError("SMTP URL has an empty user name; write smtp://USER:PASSWORD@HOST")
        case (_?, nil):
            throw SMTPSettingsError("SMTP URL has a user name but no password; write smtp://USER:PASSWORD@HOST")
        case (nil, _?):
            throw SMTPSettingsError("SMTP URL has a password but no user name; write smtp://USER:PASSWORD@HOST")
        default: break
        }

        var settings = SMTPSettings(host: host, port: components.port, username: username, password: password, security: security)
        var seen = Set<String>()
        for item in components.queryItems ?? [] {
            guard seen.insert(item.name).inserted else {
                throw SMTPSettingsError("SMTP URL query item '\(item.name)' is given twice")
            }
            let value = item.value ?? ""
            switch item.name {
            case "starttls":
                guard security == .startTLS || security == .none else {
                    throw SMTPSettingsError("SMTP URL starttls= applies to smtp:// only; smtps:// is TLS from the first byte")
                }
                switch value {
                case "required": settings.security = .startTLS
                case "off": settings.security = .none
                default: throw SMTPSettingsError("SMTP URL starttls must be required or off")
                }
            case "ca_file":
                guard !value.isEmpty else { throw SMTPSettingsError("SMTP URL ca_file must be the path of a PEM file") }
                settings.caFile = value
            case "timeout":
                guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 3600 else {
                    throw SMTPSettingsError("SMTP URL timeout must be a number of seconds above 0 and at most 3600")
                }
                settings.timeout = .milliseconds(Int64((seconds * 1000).rounded(.up)))
            default:
                throw SMTPSettingsError(
                    "SMTP URL has an unknown query item '\(item.name)'; expected starttls, ca_file or timeout")
            }
        }
        // Credentials in clear text may only go to a relay on this machine.
        if settings.security == .none, settings.username != nil,
            !(host == "localhost" || host == "::1" || host.hasPrefix("127."))
        {
            throw SMTPSettingsError(
                "SMTP URL sends a password without TLS (starttls=off) to \(host); that is allowed only for a relay on loopback")
        }
        self = settings
    }

    /// The URL without its password, for logs and messages.
    public var description: String {
        var text = (security == .implicitTLS ? "smtps://" : "smtp://")
        if let username {
            text += (username.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? username) + "@"
        }
        text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        var query: [String] = []
        if security == .none { query.append("starttls=off") }
        if let caFile { query.append("ca_file=\(caFile)") }
        if timeout != Self.defaultTimeout { query.append("timeout=\(Self.seconds(timeout))") }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    /// The host and port, for messages: `mail.example.com:587`.
    var server: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    static func seconds(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)" }
        return String(format: "%.3f", Double(milliseconds) / 1000)
            .replacingOccurrences(of: "0+$", with: "", options: .regularExpression)
    }
}

/// An SMTP URL that cannot be used, with a message that says what is wrong and how to write it.
public struct SMTPSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
