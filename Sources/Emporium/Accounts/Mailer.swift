public import EmporiumCore
import Foundation

/// An e-mail to send.
public struct MailMessage: Sendable, Equatable {
    public let to: String
    public let subject: String
    public let body: String
}

/// Sends e-mail. Deployments plug in a provider; the default writes files.
public protocol Mailer: Sendable {
    func send(_ message: MailMessage) async throws
}

/// Writes each message as an RFC 5322 `.eml` file into a folder, for development and for
/// deployments that hand mail to another system by file.
public struct FileMailer: Mailer {
    let folder: String
    let clock: any WallClock
    let ids: any IDGenerator
    static let sender = "Emporium <no-reply@emporium.invalid>"

    public init(folder: String, clock: any WallClock, ids: any IDGenerator) {
        self.folder = folder
        self.clock = clock
        self.ids = ids
    }

    public func send(_ message: MailMessage) async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let id = ids.makeUUID().uuidString.lowercased()
        let date = clock.now()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        // Header values come from our own code and a validated address: no line breaks.
        let text = [
            "From: \(Self.sender)", "To: \(message.to)", "Subject: \(message.subject)",
            "Date: \(formatter.string(from: date))", "Message-ID: <\(id)@emporium.invalid>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", message.body,
        ].joined(separator: "\r\n")
        let path = (folder as NSString).appendingPathComponent("\(Timestamp.string(from: date))-\(id).eml")
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw MailerError(description: "cannot write mail to \(folder)")
        }
    }
}

struct MailerError: Error, CustomStringConvertible {
    let description: String
}
