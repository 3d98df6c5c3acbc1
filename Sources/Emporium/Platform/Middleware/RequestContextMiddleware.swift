import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// Fills in the request context before anything else runs: the body limit, the client's
/// address, and the request id — the client's `X-Request-ID` when it is well-formed, a new
/// random one otherwise. The id goes into every log line of the request and back in the
/// response's `X-Request-ID`.
struct RequestContextMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let bodyLimit: Int
    let trustForwardedFor: TrustedProxies
    let logLevel: Logger.Level

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.bodyLimit = bodyLimit
        if trustForwardedFor != .nobody, let forwarded = request.headers[.xForwardedFor] {
            // Asked before the forwarded address is set: this is the connection's peer.
            context.forwardedClientAddress = trustForwardedFor.client(peer: context.clientAddress, forwardedFor: forwarded)
        }
        let id = request.headers[.requestID].flatMap { Self.isWellFormed($0) ? $0 : nil } ?? Self.makeID()
        context.requestID = id
        // Replaces the id Hummingbird made under its own key, which EmporiumLogHandler
        // writes as `request_id`: one change to the logger instead of two.
        context.logger[metadataKey: EmporiumLogHandler.requestIDKey] = .string(id)
        context.logger.logLevel = logLevel
        var response = try await next(request, context)
        response.headers[.requestID] = id
        return response
    }

    /// 1 to 128 characters from a set that cannot smuggle anything into a header or a log
    /// line.
    static func isWellFormed(_ id: String) -> Bool {
        let utf8 = id.utf8
        return (1...128).contains(utf8.count)
            && utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                    UInt8(ascii: "."), UInt8(ascii: ":"):
                    true
                default:
                    false
                }
            }
    }

    /// A process-wide random prefix and a counter, as 32 hex digits: unique without a
    /// system call per request (ids correlate logs; they are not secrets).
    static func makeID() -> String {
        let sequence = counter.add(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { buffer in
            writeHex(prefix, into: buffer, at: 0)
            writeHex(sequence, into: buffer, at: 16)
            return 32
        }
    }

    private static let prefix = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0..<(1 << 32)))

    private static func writeHex(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        let digits: StaticString = "0123456789abcdef"
        for index in 0..<16 {
            let nibble = Int((value >> (60 - 4 * UInt64(index))) & 0xF)
            buffer[offset + index] = digits.utf8Start[nibble]
        }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-ID")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
