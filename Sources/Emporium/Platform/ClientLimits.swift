import HTTPTypes
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Limits on what one client can hold open: how long it may take to send a whole request, and
/// how many connections one address may have at once. Without them a client that trickles a
/// body one byte every 20 seconds, over thousands of connections, holds a descriptor and a
/// buffer for each as long as it likes (an idle timeout never fires: the connection is never
/// silent for long).
public struct ClientLimits: Sendable {
    /// Time from the start of a request (or of the connection, or the end of the previous
    /// response) until its last byte has arrived; nil for no limit.
    var requestTimeout: TimeAmount?
    /// Connections one client address may hold at once; nil for no limit.
    var connectionsPerAddress: Int?
}

/// The open connections per client address, shared by every connection of the server.
final class ConnectionCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts a new connection from `address`; false (and nothing counted) when it already holds `limit`.
    func open(_ address: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let current = counts[address, default: 0]
            guard current < limit else { return false }
            counts[address] = current + 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLock { counts in
            let remaining = counts[address, default: 1] - 1
            counts[address] = remaining > 0 ? remaining : nil
        }
    }

    func count(of address: String) -> Int { counts.withLock { $0[address, default: 0] } }
}

/// Enforces `ClientLimits` on one connection. It sits after HTTP decoding, so it sees requests
/// as heads, body parts and ends, and responses as they are written.
///
/// The deadline runs while a request is being received: from the connection's start, or the end
/// of the previous response, to the request's end. A connection that sent nothing is simply
/// closed (the client may open another); one that stopped mid-request is closed too, and the
/// handler reading its body sees the client go away, which is logged as a client abort.
final class ClientLimitsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ClientLimits
    private let counts: ConnectionCounts
    private let metrics: AppMetrics
    private let logger: Logger
    private var countedAddress: String?
    private var deadline: Scheduled<Void>?

    init(limits: ClientLimits, counts: ConnectionCounts, metrics: AppMetrics, logger: Logger) {
        self.limits = limits
        self.counts = counts
        self.metrics = metrics
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard countedAddress == nil, deadline == nil else { return }
        if let limit = limits.connectionsPerAddress, let address = context.channel.remoteAddress?.ipAddress {
            guard counts.open(address, limit: limit) else {
                metrics.clientLimitReached(.connections)
                logger.notice("connection refused: too many from one address", metadata: ["client": "\(address)", "limit": "\(limit)"])
                context.close(promise: nil)
                return
            }
            countedAddress = address
        }
        armDeadline(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { armDeadline(context: context) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        deadline?.cancel()
        deadline = nil
        if let address = countedAddress {
            counts.close(address)
            countedAddress = nil
        }
    }

    private func armDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        guard let timeout = limits.requestTimeout else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let metrics = metrics
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            metrics.clientLimitReached(.requestTimeout)
            loopBound.value.close(promise: nil)
        }
    }
}

extension AppMetrics {
    enum ClientLimit: String {
        case connections, requestTimeout = "request_timeout"
    }

    /// `emporium_client_limits_total{limit}`: connections refused or closed by a client limit.
    func clientLimitReached(_ limit: ClientLimit) {
        counter("emporium_client_limits_total", [("limit", limit.rawValue)]).increment()
    }
}
