public import EmporiumCore
import Foundation
public import Logging
import NIOCore
import NIOSSL

/// Sends each message over its own SMTP connection: greeting, EHLO, STARTTLS (required unless
/// the URL says `starttls=off`) and EHLO again, AUTH PLAIN or AUTH LOGIN when credentials are
/// configured, MAIL FROM, RCPT TO, DATA, QUIT.
///
/// Failures are `SMTPError`s that say which command failed and whether a retry may help.
public struct SMTPMailer: Mailer {
    let settings: SMTPSettings
    let sender: String
    let logger: Logger
    let clock: any WallClock
    let ids: any IDGenerator
    /// Built once; `nil` when the settings use no TLS.
    let tls: Result<NIOSSLContext, SMTPError>?

    public init(
        settings: SMTPSettings, sender: String = MailSettings.defaultSender, logger: Logger,
        clock: any WallClock = SystemClock(), ids: any IDGenerator = TimeOrderedIDGenerator()
    ) {
        self.settings = settings
        self.sender = sender
        self.logger = logger
        self.clock = clock
        self.ids = ids
        if settings.security == .none {
            tls = nil
        } else {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            if let caFile = settings.caFile {
                configuration.additionalTrustRoots = [.file(caFile)]
            }
            do {
                tls = .success(try NIOSSLContext(configuration: configuration))
            } catch {
                let detail = settings.caFile.map { "cannot use ca_file \($0): \(error)" } ?? "cannot set up TLS: \(error)"
                tls = .failure(SMTPError(step: "TLS setup", server: settings.server, reason: .unusable(detail)))
                logger.error("SMTP mailer cannot send: \(detail)", metadata: ["smtp.url": "\(settings)"])
            }
        }
    }

    public func send(_ message: MailMessage) async throws {
        let context = try tls?.get()
        guard let from = Self.envelopeAddress(sender) else {
            throw SMTPError(step: "MAIL FROM", server: settings.server, reason: .unusable("the sender is not an e-mail address"))
        }
        guard let to = Self.envelopeAddress(message.to) else {
            throw SMTPError(step: "RCPT TO", server: settings.server, reason: .unusable("the recipient is not an e-mail address"))
        }
        let domain = from.split(separator: "@").last.map(String.init) ?? "emporium.invalid"
        let messageID = message.messageID ?? "\(ids.makeUUID().lowercasedString)@\(domain)"
        let text = message.rendered(from: sender, date: clock.now(), fallbackID: messageID)

        // The span names the server only, never the recipient.
        let span = OutgoingCallSpan.start("SMTP send", peer: settings.host, system: "smtp")
        defer { span.end() }
        do {
            try await SMTPConnection.open(settings, tls: context) { connection in
                try await converse(over: connection, from: from, to: to, text: text, tlsContext: context)
            }
        } catch {
            span.failed(error)
            throw error
        }
        logger.info("mail sent", metadata: ["smtp.server": "\(settings.server)", "mail.message_id": "\(messageID)"])
    }

    private func converse(
        over connection: SMTPConnection, from: String, to: String, text: String, tlsContext: NIOSSLContext?
    ) async throws {
        func expect(_ codes: Set<Int>, _ reply: SMTPReply, _ step: String) throws {
            guard codes.contains(reply.code) else {
                throw SMTPError(step: step, server: settings.server, reason: .rejected(code: reply.code, text: scrubbed(reply.text)))
            }
        }
        do {
            try expect([220], try await connection.readReply(step: "greeting"), "greeting")
            var extensions = SMTPExtensions(try await connection.command("EHLO \(connection.clientName)", step: "EHLO"))
            try expect([250], extensions.reply, "EHLO")

            if settings.security == .startTLS {
                guard extensions.offers("STARTTLS") else {
                    throw SMTPError(step: "STARTTLS", server: settings.server, reason: .startTLSNotOffered)
                }
                guard let tlsContext else {
                    throw SMTPError(step: "STARTTLS", server: settings.server, reason: .unusable("no TLS configuration"))
                }
                try expect([220], try await connection.command("STARTTLS", step: "STARTTLS"), "STARTTLS")
                try await connection.startTLS(tlsContext, step: "STARTTLS")
                extensions = SMTPExtensions(try await connection.command("EHLO \(connection.clientName)", step: "EHLO"))
                try expect([250], extensions.reply, "EHLO")
            }

            if let username = settings.username, let password = settings.password {
                guard connection.isTLS || settings.security == .none else {
                    throw SMTPError(step: "AUTH", server: settings.server, reason: .credentialsNeedTLS)
                }
                let mechanisms = extensions.authMechanisms
                if mechanisms.contains("PLAIN") {
                    let credentials = Data("\0\(username)\0\(password)".utf8).base64EncodedString()
                    try expect([235], try await connection.command("AUTH PLAIN \(credentials)", step: "AUTH PLAIN"), "AUTH PLAIN")
                } else if mechanisms.contains("LOGIN") {
                    try expect([334], try await connection.command("AUTH LOGIN", step: "AUTH LOGIN"), "AUTH LOGIN")
                    let user = Data(username.utf8).base64EncodedString()
                    try expect([334], try await connection.command(user, step: "AUTH LOGIN"), "AUTH LOGIN")
                    let secret = Data(password.utf8).base64EncodedString()
                    try expect([235], try await connection.command(secret, step: "AUTH LOGIN"), "AUTH LOGIN")
                } else {
                    throw SMTPError(step: "AUTH", server: settings.server, reason: .authenticationNotOffered(offered: mechanisms))
                }
            }

            var parameters = ""
            if text.utf8.contains(where: { $0 > 127 }), extensions.offers("8BITMIME") { parameters += " BODY=8BITMIME" }
            if (from + to).utf8.contains(where: { $0 > 127 }) {
                guard extensions.offers("SMTPUTF8") else {
                    throw SMTPError(
                        step: "MAIL FROM", server: settings.server,
                        reason: .unusable("an address is not ASCII and the server does not offer SMTPUTF8"))
                }
                parameters += " SMTPUTF8"
            }
            try expect([250], try await connection.command("MAIL FROM:<\(from)>\(parameters)", step: "MAIL FROM"), "MAIL FROM")
            try expect([250, 251], try await connection.command("RCPT TO:<\(to)>", step: "RCPT TO"), "RCPT TO")
            try expect([354], try await connection.command("DATA", step: "DATA"), "DATA")
            try await connection.write(ByteBuffer(bytes: Self.dataBlock(text)), step: "DATA")
            try expect([250], try await connection.readReply(step: "DATA"), "DATA")
        } catch let error as SMTPError {
            // A refusal leaves the conversation in order: say goodbye politely, ignoring how that goes.
            if error.code != nil { _ = try? await connection.command("QUIT", step: "QUIT") }
            throw error
        }
        // The message is accepted; a QUIT that goes wrong changes nothing.
        _ = try? await connection.command("QUIT", step: "QUIT")
    }

    /// Server text with the password (and its base64 forms) blanked out, in case a server echoes what it was sent.
    private func scrubbed(_ text: String) -> String {
        guard let username = settings.username, let password = settings.password, !password.isEmpty else { return text }
        var result = text
        for secret in [
            password, Data(password.utf8).base64EncodedString(), Data("\0\(username)\0\(password)".utf8).base64EncodedString(),
        ] {
            result = result.replacingOccurrences(of: secret, with: "***")
        }
        return result
    }

    /// The bare address for the envelope: `a@b.example` from `Name <a@b.example>` or from itself.
    static func envelopeAddress(_ value: String) -> String? {
        var address = Substring(value)
        if let open = value.lastIndex(of: "<"), let close = value.lastIndex(of: ">"), open < close {
            address = value[value.index(after: open)..<close]
        }
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        let forbidden: (Unicode.Scalar) -> Bool = {
            $0.value < 33 || $0.value == 127 || $0 == "<" || $0 == ">" || $0.properties.isWhitespace
        }
        guard trimmed.contains("@"), !trimmed.hasPrefix("@"), !trimmed.hasSuffix("@"), !trimmed.unicodeScalars.contains(where: forbidden)
        else { return nil }
        return trimmed
    }

    /// The DATA section: line ends made CRLF, a dot doubled at the start of every line that
    /// begins with one, and the terminating `.` line.
    static func dataBlock(_ text: String) -> [UInt8] {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), dot = UInt8(ascii: ".")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + text.utf8.count / 32 + 5)
        var atLineStart = true
        var afterCR = false
        for byte in text.utf8 {
            switch byte {
            case cr:
                bytes += [cr, lf]
                atLineStart = true
                afterCR = true
            case lf:
                if !afterCR { bytes += [cr, lf] }
                atLineStart = true
                afterCR = false
            default:
                if atLineStart && byte == dot { bytes.append(dot) }
                bytes.append(byte)
                atLineStart = false
                afterCR = false
            }
        }
        if !atLineStart { bytes += [cr, lf] }
        bytes += [dot, cr, lf]
        return bytes
    }
}

/// What a server offers in its EHLO reply: `STARTTLS`, `AUTH PLAIN LOGIN`, `8BITMIME`, ….
struct SMTPExtensions {
    let reply: SMTPReply
    private let keywords: [String: [String]]

    init(_ reply: SMTPReply) {
        self.reply = reply
        var keywords: [String: [String]] = [:]
        // The first line greets; each further line is a keyword and its parameters.
        for line in reply.lines.dropFirst() {
            // Some servers still write the pre-standard `AUTH=PLAIN LOGIN`.
            let words = line.replacingOccurrences(of: "=", with: " ").split(separator: " ").map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            keywords[keyword, default: []] += words.dropFirst()
        }
        self.keywords = keywords
    }

    func offers(_ keyword: String) -> Bool { keywords[keyword] != nil }

    var authMechanisms: [String] { keywords["AUTH"] ?? [] }
}
