import Foundation
import NIOHTTP1
import Tracing

/// A client span around one call to another system (payment gateway, webhook receiver,
/// carrier, mail server), for code that makes the call itself:
///
///     let span = OutgoingCallSpan.start("POST stripe /v1/payment_intents", peer: "api.stripe.com")
///     defer { span.end() }
///     span.propagate(into: &request.headers)   // traceparent, so the other side continues the trace
///     let response = try await client.execute(request, timeout: timeout)
///     span.answered(status: Int(response.status.code))
///
/// Outside a traced task (tracing off, or no tracer in the service context) every method
/// does nothing and costs one task-local read. Name spans after the operation and the peer,
/// never after a value of the request (an address, an amount, a customer's e-mail).
struct OutgoingCallSpan: Sendable {
    let span: (any Span)?
    let tracer: (any Tracer)?

    /// Starts a span in the current trace, or a new trace when the task has a tracer but no
    /// span (background work such as a webhook delivery job).
    static func start(_ name: String, peer: String? = nil, system: String? = nil) -> OutgoingCallSpan {
        guard let context = ServiceContext.current, let tracer = context.activeTracer else {
            return OutgoingCallSpan(span: nil, tracer: nil)
        }
        let span = tracer.startSpan(name, context: context, ofKind: .client)
        if let peer { span.attributes["server.address"] = peer }
        if let system { span.attributes["emporium.peer.system"] = system }
        return OutgoingCallSpan(span: span, tracer: tracer)
    }

    /// Adds `traceparent` for this span to an outgoing request's headers.
    func propagate(into headers: inout HTTPHeaders) {
        guard let span, let tracer else { return }
        tracer.inject(span.context, into: &headers, using: HTTPHeadersInjector())
    }

    /// The other side's HTTP status; 5xx marks the span failed.
    func answered(status: Int) {
        guard let span else { return }
        span.attributes["http.response.status_code"] = status
        if status >= 500 { span.setStatus(.init(code: .error)) }
    }

    /// The call failed without an answer (refused, timed out) or with an error of its own.
    /// Records the error's type only: its description can quote what was sent (an address,
    /// a key).
    func failed(_ error: any Error) {
        guard let span else { return }
        span.attributes["error.type"] = String(describing: type(of: error))
        span.setStatus(.init(code: .error))
    }

    func end() {
        span?.end()
    }
}

extension URLHost {
    /// The host of a URL for `server.address`, without user, path or query.
    static func of(_ url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@").last ?? authority
        return host.isEmpty ? nil : String(host)
    }
}

enum URLHost {}

private struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: key, value: value)
    }
}
