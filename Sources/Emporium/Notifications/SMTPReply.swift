import NIOCore

/// One SMTP reply: a three-digit code and its text lines (`250-first`, `250 last` → two lines).
struct SMTPReply: Sendable, Equatable {
    var code: Int
    var lines: [String]

    /// The text of every line, for messages.
    var text: String { lines.joined(separator: " / ") }
}

/// Turns the bytes from the server into `SMTPReply` values, joining multi-line replies.
///
/// It counts what it decodes and can tell whether bytes are still waiting, so that the
/// STARTTLS step can refuse plaintext the server sent before TLS began (a reply injected there
/// would otherwise be read as if it came through TLS).
final class SMTPReplyDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = SMTPReply

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// RFC 5321 allows 512 octets per reply line; real servers stay far below this.
    static let maximumLineLength = 8192
    static let maximumLines = 512

    private var buffer = ByteBuffer()
    private var pending: SMTPReply?
    private var failed = false
    private(set) var repliesDecoded = 0

    /// Whether bytes or lines of an incomplete reply are waiting for more input.
    var hasUndecodedInput: Bool { buffer.readableBytes > 0 || pending != nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        do {
            while let line = try nextLine() {
                if let reply = try add(line) {
                    repliesDecoded += 1
                    context.fireChannelRead(wrapInboundOut(reply))
                }
            }
            buffer.discardReadBytes()
        } catch {
            failed = true
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    private func nextLine() throws(Malformed) -> String? {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            guard buffer.readableBytes <= Self.maximumLineLength else {
                throw Malformed(description: "a reply line is longer than \(Self.maximumLineLength) bytes")
            }
            return nil
        }
        var bytes = buffer.readBytes(length: newline - buffer.readerIndex + 1) ?? []
        bytes.removeLast()
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Adds one line; returns the reply when the line was its last.
    private func add(_ line: String) throws(Malformed) -> SMTPReply? {
        let scalars = Array(line.unicodeScalars.prefix(4))
        guard scalars.count >= 3, ("2"..."5").contains(scalars[0]), scalars[1...2].allSatisfy({ ("0"..."9").contains($0) }) else {
            throw Malformed(description: "expected a three-digit reply code, got \"\(line.prefix(80))\"")
        }
        let code = scalars[0..<3].reduce(0) { $0 * 10 + Int($1.value) - 48 }
        let separator = scalars.count > 3 ? scalars[3] : " "
        guard separator == " " || separator == "-" else {
            throw Malformed(description: "expected ' ' or '-' after the reply code, got \"\(line.prefix(80))\"")
        }
        let text = String(line.unicodeScalars.dropFirst(4))
        var reply = pending ?? SMTPReply(code: code, lines: [])
        guard reply.code == code else {
            throw Malformed(description: "a multi-line reply changes its code from \(reply.code) to \(code)")
        }
        guard reply.lines.count < Self.maximumLines else {
            throw Malformed(description: "a reply has more than \(Self.maximumLines) lines")
        }
        reply.lines.append(text)
        if separator == "-" {
            pending = reply
            return nil
        }
        pending = nil
        return reply
    }
}
