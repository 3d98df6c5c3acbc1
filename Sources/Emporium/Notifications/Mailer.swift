public import EmporiumCore
public import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An e-mail to send: a plain-text body and, optionally, an HTML alternative.
public struct MailMessage: Sendable, Equatable {
    public var to: String
    public var subject: String
    public var text: String
    public var html: String?
    /// The `Message-ID` without angle brackets. Messages sent for an event use the event's id,
    /// so a message repeated by a retry carries the same id and mail systems can drop it.
    public var messageID: String?

    public init(to: String, subject: String, text: String, html: String? = nil, messageID: String? = nil) {
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
    }

    /// The message as RFC 5322 text with CRLF line ends: the text part as 8-bit UTF-8, the HTML
    /// part (when there is one) base64-encoded beside it in `multipart/alternative`.
    ///
    /// Header values come from our own code and validated addresses; line breaks are removed
    /// anyway, so that no value can add a header.
    public func rendered(from sender: String, date: Date, fallbackID: String) -> String {
        func clean(_ value: String) -> String {
            String(value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" }.map(Character.init))
        }
        let id = messageID ?? fallbackID
        var lines = [
            "From: \(clean(sender))", "To: \(clean(to))", "Subject: \(Self.encodedHeader(clean(subject)))",
            "Date: \(Self.dateHeader(date))", "Message-ID: <\(clean(id))>", "MIME-Version: 1.0",
        ]
        let textBody = Self.crlf(text)
        guard let html else {
            lines += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", textBody]
            return lines.joined(separator: "\r\n")
        }
        let boundary = "=_emporium_" + String(id.unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) }.map(Character.init))
        let encodedHTML = Data(html.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        lines += [
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"", "",
            "--\(boundary)", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", textBody,
            "--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: base64", "", encodedHTML,
            "--\(boundary)--", "",
        ]
        return lines.joined(separator: "\r\n")
    }

    /// Every line ending as CRLF, whether it was LF or CRLF: one pass over the bytes, as
    /// every message is rendered through here (Foundation's replacing took 2.5 % of a
    /// checkout's CPU).
    static func crlf(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + text.utf8.count / 32)
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n"), previous != UInt8(ascii: "\r") { bytes.append(UInt8(ascii: "\r")) }
            bytes.append(byte)
            previous = byte
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// RFC 2047 encoded-word for a subject that is not plain ASCII.
    static func encodedHeader(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: { $0.value > 126 }) else { return value }
        return "=?utf-8?B?" + Data(value.utf8).base64EncodedString() + "?="
    }

    /// RFC 5322's date in UTC (`Wed, 02 Dec 2026 11:05:50 +0000`), from the calendar fields
    /// directly: a `DateFormatter` made per message cost more than rendering the message.
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func dateHeader(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(Self.days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}

/// Sends e-mail. The built-in transports write `.eml` files (`FileMailer`) or speak SMTP
/// (`SMTPMailer`); messages are sent by jobs, so a transport that fails is retried.
public protocol Mailer: Sendable {
    func send(_ message: MailMessage) async throws
}

/// Writes each message as an RFC 5322 `.eml` file into a folder, for development and for
/// deployments that hand mail to another system by file.
public struct FileMailer: Mailer {
    let folder: String
    let sender: String
    let clock: any WallClock
    let ids: any IDGenerator

    public init(folder: String, sender: String = MailSettings.defaultSender, clock: any WallClock, ids: any IDGenerator) {
        self.folder = folder
        self.sender = sender
        self.clock = clock
        self.ids = ids
    }

    public func send(_ message: MailMessage) async throws {
        let id = ids.makeUUID().lowercasedString
        let date = clock.now()
        let text = message.rendered(from: sender, date: date, fallbackID: "\(id)@emporium.invalid")
        let path = (folder as NSString).appendingPathComponent("\(Timestamp.string(from: date))-\(id).eml")
        // The file is written whole and synced before the job counts the message as sent, so
        // it blocks for a disk flush: on a thread of the I/O pool, not one that serves requests.
        let written = try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            return FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        }
        guard written else {
            throw MailerError(description: "cannot write mail to \(folder): check that the folder (--mail-folder) is writable")
        }
    }
}

/// What every transport shares.
public enum MailSettings {
    public static let defaultSender = "Emporium <no-reply@emporium.invalid>"
}

public struct MailerError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}
