import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Fills in the request context before anything else runs: the body limit, the client's
/// address, and the request id — the client's `X-Request-ID` when it is well-formed, a new
/// random one otherwise. The id goes into every log line of the request and back in the
/// response's `X-Request-ID`.
struct RequestContextMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let bodyLimit: Int
    let trustForwardedFor: Bool
    let logLevel: Logger.Level

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.bodyLimit = bodyLimit
        if trustForwardedFor, let forwarded = request.headers[.xForwardedFor],
            let client = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !client.isEmpty
        {
            context.clientAddress = client
        }
        let id = request.headers[.requestID].flatMap { Self.isWellFormed($0) ? $0 : nil } ?? Self.makeID()
        context.requestID = id
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = .string(id)
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

    /// 128 random bits as 32 hex digits.
    static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-ID")!
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
