import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server for one test, on 127.0.0.1 at a free port: it records every request
/// and answers each as the test says (by the request's position, from 0). `run` always stops it.
final class WebhookReceiver: Sendable {
    struct Request: Sendable {
        let method: String
        let path: String
        /// Header names in lower case.
        let headers: [String: String]
        let body: String

        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    enum Reply: Sendable {
        case status(Int, headers: [String: String] = [:])
        /// Never answers; the connection stays open until the client gives up.
        case hang
    }

    /// What the server's connections share.
    fileprivate final class Recorder: Sendable {
        private let requests = Mutex<[Request]>([])
        let reply: @Sendable (Int) -> Reply

        init(reply: @escaping @Sendable (Int) -> Reply) {
            self.reply = reply
        }

        /// Keeps the request; answers how to reply to it.
        func record(_ request: Request) -> Reply {
            let index = requests.withLock { requests in
                requests.append(request)
                return requests.count - 1
            }
            return reply(index)
        }

        var all: [Request] { requests.withLock { $0 } }
    }

    private let recorder: Recorder
    private let channel: any Channel
    let port: Int

    /// Where the receiver listens, as a webhook URL.
    var url: String { "http://127.0.0.1:\(port)/hooks" }
    /// Everything received so far, oldest first.
    var requests: [Request] { recorder.all }

    private init(recorder: Recorder, channel: any Channel, port: Int) {
        self.recorder = recorder
        self.channel = channel
        self.port = port
    }

    static func run<Result: Sendable>(
        reply: @escaping @Sendable (Int) -> Reply, _ body: (WebhookReceiver) async throws -> Result
    ) async throws -> Result {
        let recorder = Recorder(reply: reply)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw TestFailure("the webhook receiver has no port")
        }
        let receiver = WebhookReceiver(recorder: recorder, channel: channel, port: port)
        do {
            let result = try await body(receiver)
            try? await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// One connection: collects a request, records it, answers it.
    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let recorder: Recorder
        private var head: HTTPRequestHead?
        private var body = ByteBuffer()

        init(recorder: Recorder) {
            self.recorder = recorder
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body.clear()
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                guard let head else { return }
                var headers: [String: String] = [:]
                for (name, value) in head.headers {
                    headers[name.lowercased()] = headers[name.lowercased()].map { $0 + ", " + value } ?? value
                }
                let request = Request(method: head.method.rawValue, path: head.uri, headers: headers, body: String(buffer: body))
                switch recorder.record(request) {
                case .hang:
                    break
                case .status(let code, let extra):
                    var response = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: code))
                    response.headers.add(name: "content-length", value: "0")
                    for (name, value) in extra { response.headers.add(name: name, value: value) }
                    context.write(wrapOutboundOut(.head(response)), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}
