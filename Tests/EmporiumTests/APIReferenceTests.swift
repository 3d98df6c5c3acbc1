@testable import Emporium
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// `GET /docs`: every operation of the document on one page people can read, with nothing
/// in it but our own markup.
@Suite struct APIReferenceTests {
    static let allowedTags: Set<String> = [
        "html", "head", "meta", "title", "link", "body", "nav", "main", "section", "article", "p", "a", "span", "ul",
        "li", "h1", "h2", "h3", "h4", "dl", "dt", "dd", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
        "details", "summary", "div",
    ]

    @Test func everyOperationAndSchemaIsOnThePage() async throws {
        try await withApp { app in
            let response = try await app.http.execute(uri: "/docs", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            let policy = try #require(response.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"))
            #expect(!policy.contains("unsafe-inline") && !policy.contains("script-src"))
            let html = String(buffer: response.body)

            let document = try #require(
                try JSONSerialization.jsonObject(with: try OpenAPIDocument.load().json) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            var operations = 0
            for (path, item) in paths {
                for method in ["get", "post", "put", "patch", "delete"] {
                    guard let operation = item[method] as? [String: Any], let id = operation["operationId"] as? String else { continue }
                    operations += 1
                    #expect(html.contains("id=\"op-\(APIReferenceModel.slug(id))\""), "\(method) \(path) is missing")
                }
            }
            #expect(operations > 90)
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            for name in schemas.keys {
                #expect(html.contains("id=\"\(APIReferenceModel.schemaAnchor(name))\""), "schema \(name) is missing")
            }
            #expect(html.contains("<html lang=\"en\">"))
            #expect(html.contains("Example request body"))
        }
    }

    /// Text from the document is escaped: the only elements are the template's, and every
    /// link inside the page leads somewhere.
    @Test func onlyOurMarkupAndNoBrokenLinks() async throws {
        try await withApp { app in
            let html = String(buffer: try await app.http.execute(uri: "/docs", method: .get).body)
            let tags = Set(Self.matches(of: "<([a-zA-Z][a-zA-Z0-9]*)", in: html))
            #expect(tags.isSubset(of: Self.allowedTags), "unexpected elements: \(tags.subtracting(Self.allowedTags).sorted())")
            #expect(!html.lowercased().contains("<script"))
            #expect(!html.contains(" style="))
            let ids = Set(Self.matches(of: "id=\"([^\"]+)\"", in: html))
            let targets = Set(Self.matches(of: "href=\"#([^\"]+)\"", in: html))
            #expect(targets.subtracting(ids).isEmpty, "links to nowhere: \(targets.subtracting(ids).sorted().prefix(5))")
        }
    }

    @Test func answersNotModifiedAndServesItsStyleSheet() async throws {
        try await withApp { app in
            let first = try await app.http.execute(uri: "/docs", method: .get)
            let etag = try #require(first.headers[.eTag])
            let again = try await app.http.execute(uri: "/docs", method: .get, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified)
            #expect(again.body.readableBytes == 0)
            let css = try await app.http.execute(uri: "/docs/reference.css", method: .get)
            #expect(css.status == .ok)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            #expect(String(buffer: css.body).contains("prefers-color-scheme"))
        }
    }

    static func matches(of pattern: String, in text: String) -> [String] {
        let expression = try! NSRegularExpression(pattern: pattern)
        return expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
