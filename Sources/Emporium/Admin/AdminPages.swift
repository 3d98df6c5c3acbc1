import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The back office's templates, compiled once at start-up from the package's resources, and
/// the headers every back-office answer carries. Every `{{value}}` is HTML-escaped by
/// Mustache; `{{{…}}}` is used only for `body`, which is our own rendered template.
struct AdminPages: Sendable {
    /// Templates by name: `PackageResources.admin_<name>_mustache`, embedded in the binary
    /// (Package.swift lists each file; no bundle is looked up at run time).
    static let templates: [String: [UInt8]] = [
        "layout": PackageResources.admin_layout_mustache,
        "sign-in": PackageResources.admin_sign_in_mustache,
        "error": PackageResources.admin_error_mustache,
        "dashboard": PackageResources.admin_dashboard_mustache,
        "orders": PackageResources.admin_orders_mustache,
        "order": PackageResources.admin_order_mustache,
    ]

    /// No script at all, styles and images from here only, forms post only here, never framed.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    private let library: MustacheLibrary

    init(extra: [String: [UInt8]] = [:]) throws {
        var library = MustacheLibrary()
        for (name, bytes) in Self.templates.merging(extra, uniquingKeysWith: { $1 }) {
            try library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.library = library
    }

    /// `template` rendered with `values`; an unknown template is a programming error and
    /// renders as an empty string, which the tests of each page would catch.
    func render(_ template: String, _ values: [String: Any]) -> String {
        library.render(values, withTemplate: template) ?? ""
    }

    /// A whole HTML answer.
    static func html(_ text: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: secured(headers), body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `303 See Other` to `location` (a path of ours), after a POST or for a visitor who must sign in.
    static func redirect(to location: String, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.location] = location
        return Response(status: .seeOther, headers: secured(headers))
    }

    static func secured(_ headers: HTTPFields) -> HTTPFields {
        var headers = headers
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xFrameOptions] = "DENY"
        return headers
    }
}
