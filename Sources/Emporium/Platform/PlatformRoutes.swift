import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Health, metrics and the API document: what load balancers, Prometheus and client
/// generators read.
struct PlatformRoutes {
    let database: any Database
    let metrics: AppMetrics
    let document: OpenAPIDocument

    func register(on routes: RouteRegistrar) {
        // Probes call these often and their bodies never change: they are written once.
        let live = Self.json(#"{"status":"ok"}"#)
        let ready = Self.json(#"{"database":"\#(database.dialect.rawValue)","status":"ok"}"#)

        routes.get("/health/live") { _, _ in live }

        routes.get("/health/ready") { _, context in
            do {
                try await withTimeout(.seconds(2)) { try await DatabaseProbe(database: database).check() }
            } catch {
                context.logger.warning("readiness check failed", metadata: ["error": "\(error)"])
                throw Problem.unavailable("The database is not answering.")
            }
            return ready
        }

        routes.get("/metrics") { _, _ in
            await metrics.refresh()
            let body = metrics.exposition(database: database.statistics)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }

        routes.get("/openapi.json") { request, _ in
            if let match = request.headers[.ifNoneMatch], Self.matches(match, etag: document.etag) {
                return Response(status: .notModified, headers: [.eTag: document.etag, .cacheControl: "public, max-age=300"])
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/json", .eTag: document.etag, .cacheControl: "public, max-age=300",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: document.json)))
        }

        // Browsers ask every site for an icon; an API has none to give, and a 204 (unlike a
        // 404) is not logged as an error. The back office links its own icon.
        routes.get("/favicon.ico") { _, _ in
            Response(status: .noContent, headers: [.cacheControl: "public, max-age=86400"])
        }

        let reference = LazyAPIReferencePage(document: document)
        routes.get("/docs") { request, _ in try reference.get().response(for: request) }
        routes.get("/docs/reference.css") { _, _ in APIReferencePage.styleSheet() }
    }

    static func json(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `If-None-Match` holds a list of tags or `*`.
    static func matches(_ header: String, etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
