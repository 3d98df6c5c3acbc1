/// Why a message could not be handed to the SMTP server: the step (usually the command) that
/// failed, the server's reply when there was one, and whether trying again later may help.
///
/// Never contains the password: commands that carry credentials are named, not quoted.
public struct SMTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The server answered with a 4xx (transient) or 5xx (permanent) reply, or with a reply the step did not expect.
        case rejected(code: Int, text: String)
        /// No reply (or no connection) within the configured timeout.
        case timedOut(Duration)
        /// The TCP connection could not be made.
        case connectionFailed(String)
        /// The server closed the connection in the middle of the conversation.
        case connectionClosed
        /// TLS could not be set up: the handshake failed or the certificate is not trusted.
        case tls(String)
        /// STARTTLS is required and the server does not offer it; nothing was sent.
        case startTLSNotOffered
        /// Credentials are configured and the server offers neither AUTH PLAIN nor AUTH LOGIN.
        case authenticationNotOffered(offered: [String])
        /// Credentials would have gone over a connection without TLS.
        case credentialsNeedTLS
        /// The server's reply is not SMTP.
        case protocolViolation(String)
        /// The message or the settings cannot be sent as they are (an address that is not an address, an unreadable `ca_file`).
        case unusable(String)
    }

    /// The command or step that failed: `connect`, `greeting`, `EHLO`, `STARTTLS`, `AUTH PLAIN`, `MAIL FROM`, `RCPT TO`, `DATA`, ….
    public let step: String
    /// `host:port` of the server.
    public let server: String
    public let reason: Reason

    public init(step: String, server: String, reason: Reason) {
        self.step = step
        self.server = server
        self.reason = reason
    }

    /// The server's reply code, when the server answered.
    public var code: Int? {
        if case .rejected(let code, _) = reason { return code }
        return nil
    }

    /// A 4xx reply, a dropped connection or a timeout: trying again later may succeed. Everything
    /// else (5xx replies, TLS and configuration problems) needs someone to change something.
    public var isTransient: Bool {
        switch reason {
        case .rejected(let code, _): (400..<500).contains(code)
        case .timedOut, .connectionFailed, .connectionClosed: true
        case .tls, .startTLSNotOffered, .authenticationNotOffered, .credentialsNeedTLS, .protocolViolation, .unusable: false
        }
    }

    /// The opposite of `isTransient`: sending the same message again will fail the same way.
    public var isPermanent: Bool { !isTransient }

    public var description: String {
        let detail: String
        switch reason {
        case .rejected(let code, let text): detail = "the server replied \(code) \(text)"
        case .timedOut(let limit): detail = "no answer within \(SMTPSettings.seconds(limit)) s (the timeout= of the mail URL)"
        case .connectionFailed(let why): detail = "cannot connect: \(why)"
        case .connectionClosed: detail = "the server closed the connection"
        case .tls(let why): detail = "TLS failed: \(why)"
        case .startTLSNotOffered:
            detail = "the server does not offer STARTTLS, which is required; nothing was sent (use smtps:// or, for a loopback relay only, starttls=off)"
        case .authenticationNotOffered(let offered):
            detail = "credentials are configured but the server offers neither AUTH PLAIN nor AUTH LOGIN"
                + (offered.isEmpty ? " (no AUTH at all)" : " (it offers \(offered.joined(separator: " ")))")
        case .credentialsNeedTLS: detail = "refusing to send credentials over a connection without TLS"
        case .protocolViolation(let why): detail = "the server's reply is not SMTP: \(why)"
        case .unusable(let why): detail = why
        }
        return "SMTP \(step) at \(server) failed: \(detail) (\(isTransient ? "transient" : "permanent"))"
    }
}
