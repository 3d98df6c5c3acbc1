import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One TCP connection to an SMTP server: it writes command lines, reads replies and switches
/// to TLS. Every step (connecting, each reply) is bounded by the settings' timeout: when the
/// time is up the channel is closed, which ends whatever was waiting, and the step reports a
/// timeout.
///
/// Used by one task at a time, inside `open`, which closes the connection when its body ends.
final class SMTPConnection {
    private let channel: any Channel
    private var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let settings: SMTPSettings
    private let deadline = Deadline()
    private var repliesRead = 0
    /// Whether the conversation is protected by TLS (from the start or after STARTTLS).
    private(set) var isTLS: Bool

    private init(
        channel: any Channel, inbound: NIOAsyncChannelInboundStream<SMTPReply>,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, settings: SMTPSettings
    ) {
        self.channel = channel
        self.replies = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.settings = settings
        self.isTLS = settings.security == .implicitTLS
    }

    /// Connects (with TLS from the first byte for `smtps://`), runs `body`, then closes the connection.
    static func open(
        _ settings: SMTPSettings, tls: NIOSSLContext?, _ body: (SMTPConnection) async throws -> Void
    ) async throws {
        let server = settings.server
        let implicitTLS = settings.security == .implicitTLS ? tls : nil
        let serverHostname = Self.serverHostname(settings.host)
        let asyncChannel: NIOAsyncChannel<SMTPReply, ByteBuffer>
        do {
            asyncChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(settings.timeout))
                .connect(host: settings.host, port: settings.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let implicitTLS {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: implicitTLS, serverHostname: serverHostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(SMTPReplyDecoder())
                        return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch let error as ChannelError {
            if case .connectTimeout = error {
                throw SMTPError(step: "connect", server: server, reason: .timedOut(settings.timeout))
            }
            throw SMTPError(step: "connect", server: server, reason: .connectionFailed(String(describing: error)))
        } catch {
            throw SMTPError(step: "connect", server: server, reason: .connectionFailed(String(describing: error)))
        }
        try await asyncChannel.executeThenClose { inbound, outbound in
            try await body(SMTPConnection(channel: asyncChannel.channel, inbound: inbound, outbound: outbound, settings: settings))
        }
    }

    /// The name this client gives in EHLO: its address literal, as RFC 5321 allows for a client without a domain name.
    var clientName: String {
        guard let address = channel.localAddress, let ip = address.ipAddress else { return "localhost" }
        let host = ip.split(separator: "%").first.map(String.init) ?? ip
        if case .v6 = address { return "[IPv6:\(host)]" }
        return "[\(host)]"
    }

    /// Reads the next reply, which must arrive within the timeout.
    func readReply(step: String) async throws -> SMTPReply {
        try await bounded(step) {
            guard let reply = try await replies.next() else {
                throw SMTPError(step: step, server: settings.server, reason: .connectionClosed)
            }
            repliesRead += 1
            return reply
        }
    }

    /// Writes one command line (CRLF is added) and reads its reply.
    func command(_ line: String, step: String) async throws -> SMTPReply {
        var buffer = channel.allocator.buffer(capacity: line.utf8.count + 2)
        buffer.writeString(line)
        buffer.writeString("\r\n")
        try await write(buffer, step: step)
        return try await readReply(step: step)
    }

    /// Writes raw bytes (the message body) without reading a reply.
    func write(_ buffer: ByteBuffer, step: String) async throws {
        try await bounded(step) {
            do {
                try await outbound.write(buffer)
            } catch {
                // Writing fails once the channel is gone; the inbound side knows why (a TLS alert, say).
                _ = try await replies.next()
                throw error
            }
        }
    }

    /// Puts TLS under the conversation after the server's 220 reply to STARTTLS. The handshake
    /// runs before the next command goes out, and its failure is reported by that command.
    func startTLS(_ context: NIOSSLContext, step: String) async throws {
        let channel = self.channel
        let consumed = repliesRead
        let serverHostname = Self.serverHostname(settings.host)
        try await bounded(step) {
            try await channel.eventLoop.submit {
                let decoder = try channel.pipeline.syncOperations.handler(type: SMTPReplyDecoder.self)
                guard decoder.repliesDecoded == consumed, !decoder.hasUndecodedInput else {
                    throw SMTPReplyDecoder.Malformed(description: "the server sent more after its STARTTLS reply, before TLS began")
                }
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: context, serverHostname: serverHostname), position: .first)
            }.get()
        }
        isTLS = true
    }

    /// Runs one step under the timeout and turns whatever it throws into an `SMTPError`.
    private func bounded<T>(_ step: String, _ work: () async throws -> T) async throws -> T {
        let deadline = self.deadline
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(settings.timeout)) {
            deadline.expire()
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            return try await work()
        } catch {
            throw failure(of: step, error)
        }
    }

    private func failure(of step: String, _ error: any Error) -> SMTPError {
        let reason: SMTPError.Reason
        if deadline.hasExpired {
            reason = .timedOut(settings.timeout)
        } else {
            switch error {
            case let error as SMTPError: return error
            case let error as SMTPReplyDecoder.Malformed: reason = .protocolViolation(error.description)
            case NIOSSLError.uncleanShutdown: reason = .connectionClosed
            case is NIOSSLError, is NIOSSLExtraError: reason = .tls(String(describing: error))
            default: reason = .connectionClosed
            }
        }
        return SMTPError(step: step, server: settings.server, reason: reason)
    }

    /// The name for SNI and certificate checks; `nil` for an IP address, which NIOSSL then
    /// checks against the certificate's IP addresses.
    private static func serverHostname(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }
}

/// Set once the current step's time is up; the connection is closed at the same moment.
private final class Deadline: Sendable {
    private let expired = Atomic<Bool>(false)

    var hasExpired: Bool { expired.load(ordering: .acquiring) }

    func expire() { expired.store(true, ordering: .releasing) }
}
