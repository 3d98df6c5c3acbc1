@testable import Emporium
import EmporiumCore
import Foundation
import Logging
import Testing

@Suite struct MailMessageFormatTests {
    @Test func everyLineEndingBecomesCRLFOnce() {
        #expect(MailMessage.crlf("a\nb\r\nc\n") == "a\r\nb\r\nc\r\n")
        #expect(MailMessage.crlf("\r\r\n\n") == "\r\r\n\r\n")
        #expect(MailMessage.crlf("no ending, ünïcode ✓") == "no ending, ünïcode ✓")
        #expect(MailMessage.crlf("") == "")
    }

    @Test func theDateHeaderIsRFC5322InUTC() {
        #expect(MailMessage.dateHeader(Date(timeIntervalSince1970: 1_796_209_550.9)) == "Wed, 02 Dec 2026 11:05:50 +0000")
        #expect(MailMessage.dateHeader(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        #expect(MailMessage.dateHeader(Date(timeIntervalSince1970: 1_709_251_199)) == "Thu, 29 Feb 2024 23:59:59 +0000")
    }
}

@Suite struct SMTPSettingsTests {
    @Test func smtpDefaultsToPort587WithRequiredSTARTTLS() throws {
        let settings = try SMTPSettings(parsing: "smtp://mail.example.com")
        #expect(settings == SMTPSettings(host: "mail.example.com", port: 587, security: .startTLS, timeout: .seconds(30)))
        #expect(settings.username == nil && settings.password == nil && settings.caFile == nil)
        #expect(try SMTPSettings(parsing: "smtp://mail.example.com/?starttls=required") == settings)
    }

    @Test func smtpsDefaultsToPort465() throws {
        let settings = try SMTPSettings(parsing: "smtps://mail.example.com")
        #expect(settings.port == 465 && settings.security == .implicitTLS)
        #expect(try SMTPSettings(parsing: "smtps://mail.example.com:2465").port == 2465)
    }

    @Test func queryItemsSetPlainSMTPTrustRootAndTimeout() throws {
        let settings = try SMTPSettings(parsing: "smtp://[::1]:2525?starttls=off&ca_file=/etc/emporium/ca.pem&timeout=2.5")
        #expect(settings.host == "::1" && settings.port == 2525)
        #expect(settings.security == .none)
        #expect(settings.caFile == "/etc/emporium/ca.pem")
        #expect(settings.timeout == .milliseconds(2500))
    }

    @Test func userAndPasswordArePercentDecoded() throws {
        let settings = try SMTPSettings(parsing: "smtp://shop%40example.com:p%40ss%3Aw%2Fd%25%23@smtp.example.com")
        #expect(settings.username == "shop@example.com")
        #expect(settings.password == "p@ss:w/d%#")
    }

    @Test func descriptionHidesThePassword() throws {
        let settings = try SMTPSettings(
            parsing: "smtps://shop:hunter2-secret@smtp.example.com?ca_file=/ca.pem&timeout=5")
        #expect(settings.description == "smtps://shop@smtp.example.com:465?ca_file=/ca.pem&timeout=5")
        #expect(!settings.description.contains("hunter2"))
        #expect(!"\(settings)".contains("hunter2"))
        // What the description says parses back to the same settings, less the password.
        var withoutPassword = settings
        withoutPassword.password = nil
        withoutPassword.username = nil
        #expect(try SMTPSettings(parsing: settings.description.replacingOccurrences(of: "shop@", with: "")) == withoutPassword)
    }

    @Test(arguments: [
        ("http://mail.example.com", "unsupported mail URL scheme 'http'"),
        ("mail.example.com", "not an SMTP URL"),
        ("smtp://", "no host"),
        ("smtp://mail.example.com:0", "out of range"),
        ("smtp://mail.example.com/inbox", "may not have a path"),
        ("smtp://mail.example.com?starttls=maybe", "starttls must be required or off"),
        ("smtps://mail.example.com?starttls=off", "applies to smtp:// only"),
        ("smtp://mail.example.com?timeout=0", "timeout must be a number of seconds"),
        ("smtp://mail.example.com?timeout=soon", "timeout must be a number of seconds"),
        ("smtp://mail.example.com?ca_file=", "ca_file must be the path"),
        ("smtp://mail.example.com?from=shop@example.com", "unknown query item 'from'"),
        ("smtp://mail.example.com?timeout=5&timeout=6", "given twice"),
        ("smtp://shop@mail.example.com", "user name but no password"),
        ("smtp://:secret-pw@mail.example.com", "user name"),
        ("smtp://shop:pass#word@mail.example.com", "%23"),
    ])
    func badURLsSayWhatIsWrong(text: String, mentions: String) {
        #expect {
            try SMTPSettings(parsing: text)
        } throws: { error in
            let description = (error as? SMTPSettingsError)?.description ?? ""
            return description.contains(mentions) && !description.contains("secret-pw")
        }
    }
}

@Suite struct SMTPMailerUnitTests {
    @Test func dataIsDotStuffedWithCRLFLineEnds() {
        let block = SMTPMailer.dataBlock("a\n.b\r\n..c\r.\nd")
        #expect(String(decoding: block, as: UTF8.self) == "a\r\n..b\r\n...c\r\n..\r\nd\r\n.\r\n")
        #expect(String(decoding: SMTPMailer.dataBlock("ends with a newline\r\n"), as: UTF8.self) == "ends with a newline\r\n.\r\n")
        #expect(String(decoding: SMTPMailer.dataBlock(""), as: UTF8.self) == ".\r\n")
    }

    @Test func envelopeAddressesComeOutOfDisplayNames() {
        #expect(SMTPMailer.envelopeAddress("Emporium <no-reply@shop.test>") == "no-reply@shop.test")
        #expect(SMTPMailer.envelopeAddress(" zoe@example.com ") == "zoe@example.com")
        #expect(SMTPMailer.envelopeAddress("zoe@example.com>\r\nRCPT TO:<x@y.z") == nil)
        #expect(SMTPMailer.envelopeAddress("not an address") == nil)
        #expect(SMTPMailer.envelopeAddress("") == nil)
    }

    @Test func extensionsIncludeAuthMechanismsInEitherSpelling() {
        let modern = SMTPExtensions(SMTPReply(code: 250, lines: ["sink.test", "8BITMIME", "AUTH PLAIN LOGIN", "STARTTLS"]))
        #expect(modern.offers("STARTTLS") && modern.offers("8BITMIME") && !modern.offers("SMTPUTF8"))
        #expect(modern.authMechanisms == ["PLAIN", "LOGIN"])
        #expect(SMTPExtensions(SMTPReply(code: 250, lines: ["old.test", "AUTH=LOGIN"])).authMechanisms == ["LOGIN"])
    }

    @Test func errorsSayWhetherARetryMayHelp() {
        let rejected = SMTPError(step: "RCPT TO", server: "mx.test:25", reason: .rejected(code: 550, text: "no such user"))
        #expect(rejected.isPermanent && rejected.code == 550)
        #expect(rejected.description == "SMTP RCPT TO at mx.test:25 failed: the server replied 550 no such user (permanent)")
        #expect(SMTPError(step: "DATA", server: "mx.test:25", reason: .rejected(code: 451, text: "try later")).isTransient)
        #expect(SMTPError(step: "EHLO", server: "mx.test:25", reason: .connectionClosed).isTransient)
        #expect(SMTPError(step: "greeting", server: "mx.test:25", reason: .timedOut(.seconds(2))).isTransient)
        #expect(SMTPError(step: "STARTTLS", server: "mx.test:25", reason: .startTLSNotOffered).isPermanent)
    }
}

@Suite(.enabled(if: SMTPSink.shouldRun, "needs python3 with aiosmtpd (pip install aiosmtpd); EMPORIUM_SMTP_TESTS=required makes it a failure"))
struct SMTPMailerTests {
    static let sender = "Emporium Shop <no-reply@shop.test>"
    let clock = ManualClock()
    let message = MailMessage(
        to: "zoe@example.com", subject: "Your order #1001 ✓",
        text: "Bonjour Zoë,\n.a line that starts with a dot\n..and one with two\n.\nThanks — the shop 🛒",
        messageID: "evt-1@shop.test")

    func mailer(_ url: String) throws -> SMTPMailer {
        SMTPMailer(settings: try SMTPSettings(parsing: url), sender: Self.sender, logger: Logger(label: "smtp-test"), clock: clock)
    }

    /// The error of a send that must fail.
    func failure(_ mailer: SMTPMailer) async -> SMTPError? {
        do {
            try await mailer.send(message)
            Issue.record("the send succeeded; it should have failed")
        } catch let error as SMTPError {
            return error
        } catch {
            Issue.record("expected an SMTPError, got \(error)")
        }
        return nil
    }

    @Test func plainSMTPDeliversTheMessageIntact() async throws {
        try await SMTPSink.run { sink in
            try await mailer("smtp://127.0.0.1:\(sink.port)?starttls=off&timeout=30").send(message)
            let received = try sink.received()
            try #require(received.count == 1)
            // Byte for byte what the message renders to: headers, UTF-8 body, the lone "." and the dotted lines.
            #expect(received[0].text == message.rendered(from: Self.sender, date: clock.now(), fallbackID: "unused") + "\r\n")
            #expect(received[0].text.contains("\r\nTo: zoe@example.com\r\n"))
            #expect(received[0].text.contains("\r\nSubject: =?utf-8?B?"))
            #expect(received[0].text.contains("\r\n.a line that starts with a dot\r\n..and one with two\r\n.\r\nThanks — the shop 🛒"))
            #expect(received[0].envelope.mailFrom == "no-reply@shop.test")
            #expect(received[0].envelope.rcptTos == ["zoe@example.com"])
            #expect(received[0].envelope.mailOptions == ["BODY=8BITMIME"])
            #expect(!received[0].envelope.tls && !received[0].envelope.authenticated)
        }
    }

    @Test func startTLSThenAuthPlainDelivers() async throws {
        try await SMTPSink.run(security: .startTLS, account: ("shop", "s3cret:pw")) { sink in
            let certificate = try #require(sink.certificate)
            try await mailer("smtp://shop:s3cret%3Apw@127.0.0.1:\(sink.port)?ca_file=\(certificate)&timeout=30").send(message)
            let received = try sink.received()
            try #require(received.count == 1)
            #expect(received[0].envelope.tls && received[0].envelope.authenticated)
            #expect(received[0].text.contains("Message-ID: <evt-1@shop.test>"))
        }
    }

    @Test func authLoginWhenPlainIsNotOffered() async throws {
        try await SMTPSink.run(security: .startTLS, account: ("shop", "s3cret"), loginOnly: true) { sink in
            let certificate = try #require(sink.certificate)
            try await mailer("smtp://shop:s3cret@localhost:\(sink.port)?ca_file=\(certificate)&timeout=30").send(message)
            #expect(try sink.received().map(\.envelope.authenticated) == [true])
        }
    }

    @Test func implicitTLSDelivers() async throws {
        try await SMTPSink.run(security: .implicitTLS, account: ("shop", "s3cret")) { sink in
            let certificate = try #require(sink.certificate)
            try await mailer("smtps://shop:s3cret@localhost:\(sink.port)?ca_file=\(certificate)&timeout=30").send(message)
            let received = try sink.received()
            #expect(received.map(\.envelope.tls) == [true])
            #expect(received.map(\.envelope.authenticated) == [true])
        }
    }

    @Test func wrongPasswordIsPermanentAndNeverShown() async throws {
        try await SMTPSink.run(security: .startTLS, account: ("shop", "s3cret")) { sink in
            let certificate = try #require(sink.certificate)
            let error = try #require(
                await failure(try mailer("smtp://shop:wrong-pw-123@127.0.0.1:\(sink.port)?ca_file=\(certificate)&timeout=30")))
            #expect(error.step == "AUTH PLAIN")
            #expect(error.code == 535)
            #expect(error.isPermanent)
            #expect(!error.description.contains("wrong-pw-123"))
            #expect(!error.description.contains(Data("\0shop\0wrong-pw-123".utf8).base64EncodedString()))
            #expect(try sink.received().isEmpty)
        }
    }

    @Test func untrustedCertificateStopsBeforeAnythingIsSent() async throws {
        try await SMTPSink.run(security: .startTLS) { sink in
            let error = try #require(await failure(try mailer("smtp://127.0.0.1:\(sink.port)?timeout=30")))
            guard case .tls = error.reason else {
                Issue.record("expected a TLS failure, got \(error)")
                return
            }
            #expect(error.isPermanent)
            #expect(try sink.received().isEmpty)
        }
    }

    @Test func rejectedRecipientIsPermanentAndNamesRCPT() async throws {
        try await SMTPSink.run(mode: .rejectRecipients) { sink in
            let error = try #require(await failure(try mailer("smtp://127.0.0.1:\(sink.port)?starttls=off&timeout=30")))
            #expect(error.step == "RCPT TO")
            #expect(error.code == 550)
            #expect(error.isPermanent)
            #expect(error.description.contains("RCPT TO") && error.description.contains("550"))
            #expect(error.description.contains("permanent"))
            #expect(try sink.received().isEmpty)
        }
    }

    @Test func droppedConnectionIsTransient() async throws {
        try await SMTPSink.run(mode: .drop) { sink in
            let error = try #require(await failure(try mailer("smtp://127.0.0.1:\(sink.port)?starttls=off&timeout=30")))
            #expect(error.reason == .connectionClosed)
            #expect(error.step == "EHLO")
            #expect(error.isTransient)
            #expect(error.description.contains("transient"))
        }
    }

    @Test func silentServerTimesOutWithinTheTimeout() async throws {
        try await SMTPSink.run(mode: .silent) { sink in
            let started = ContinuousClock.now
            let error = try #require(await failure(try mailer("smtp://127.0.0.1:\(sink.port)?starttls=off&timeout=2")))
            let elapsed = ContinuousClock.now - started
            #expect(error.reason == .timedOut(.seconds(2)))
            #expect(error.step == "greeting")
            #expect(error.isTransient)
            // Not before the timeout; the upper bound only proves it does not wait forever (a busy
            // 2-core machine running the whole suite can be slow to wake the timer).
            #expect(elapsed >= .milliseconds(1900) && elapsed < .seconds(60), "took \(elapsed)")
        }
    }

    @Test func requiredSTARTTLSThatIsNotOfferedSendsNothing() async throws {
        try await SMTPSink.run(account: ("shop", "s3cret")) { sink in
            let error = try #require(await failure(try mailer("smtp://shop:s3cret@127.0.0.1:\(sink.port)?timeout=30")))
            #expect(error.reason == .startTLSNotOffered)
            #expect(error.isPermanent)
            #expect(try sink.received().isEmpty)
        }
    }

    @Test func plaintextInjectedAfterSTARTTLSIsRefused() async throws {
        try await SMTPSink.run(mode: .inject) { sink in
            let error = try #require(await failure(try mailer("smtp://shop:s3cret@127.0.0.1:\(sink.port)?timeout=30")))
            #expect(error.step == "STARTTLS")
            guard case .protocolViolation = error.reason else {
                Issue.record("expected a protocol violation, got \(error)")
                return
            }
            #expect(error.isPermanent)
        }
    }

    @Test func unreachableServerIsTransient() async throws {
        // A port that was free a moment ago: nothing listens there.
        var port = 0
        try await SMTPSink.run(mode: .silent) { sink in port = sink.port }
        let error = try #require(await failure(try mailer("smtp://127.0.0.1:\(port)?starttls=off&timeout=5")))
        #expect(error.step == "connect")
        #expect(error.isTransient)
    }
}
