import EmporiumStorage
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// The one place where errors become responses. A `Problem` is sent as it is; Hummingbird's
/// own errors become the matching problem (a path that exists under another method becomes
/// 405 with `Allow`); anything else is a bug or an outage: it is logged with the request id
/// and the client gets a 500 that says nothing about the cause.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let routes: RouteTable

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = problem(for: error, request: request, context: context)
            return problem.response(path: request.uri.path, requestID: context.requestID)
        }
    }

    private func problem(for error: any Error, request: Request, context: Context) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let error as HTTPError:
            switch error.status {
            case .notFound where context.endpointPath == nil || context.endpointPath == "NotFound":
                let allowed = routes.allowedMethods(forPath: request.uri.path)
                return allowed.isEmpty ? .notFound() : .methodNotAllowed(allowed: allowed)
            case .contentTooLarge:
                return .payloadTooLarge(limit: context.bodyLimit)
            default:
                return Self.problem(status: error.status, detail: error.body)
            }
        case let error as any HTTPResponseError where error.status.code < 500:
            return Self.problem(status: error.status, detail: nil)
        case _ where Self.isClientAbort(error):
            // The client closed the connection (or was cut off by --request-timeout) before its
            // request was whole: nothing to answer and nothing wrong on this side.
            context.logger.notice("client went away mid-request", metadata: ["path": .string(request.uri.path)])
            return .clientClosedRequest
        case DatabaseError.transactionConflict:
            context.logger.notice("transaction refused as busy", metadata: ["path": .string(request.uri.path)])
            return .databaseBusy
        default:
            context.logger.error(
                "request failed", metadata: ["error": .string(String(reflecting: error)), "path": .string(request.uri.path)])
            return .internalError
        }
    }

    /// Errors that mean the connection ended while the request was still being read.
    static func isClientAbort(_ error: any Error) -> Bool {
        switch error {
        case HTTPParserError.invalidEOFState, HTTPParserError.closedConnection: true
        case ChannelError.ioOnClosedChannel, ChannelError.eof, ChannelError.inputClosed, ChannelError.alreadyClosed: true
        default: false
        }
    }

    /// A problem for a bare HTTP status, titled with its reason phrase.
    static func problem(status: HTTPResponse.Status, detail: String?) -> Problem {
        let slug = status.reasonPhrase.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).joined(separator: "-")
        return Problem(status, slug: slug, title: status.reasonPhrase, detail: detail)
    }
}
