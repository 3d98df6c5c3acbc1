import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import Synchronization

/// `GET /docs`: the API document as a page people read, with operations grouped by tag,
/// their parameters, bodies, answers and examples, and the shared schemas. Rendered once from
/// the document on first use and kept: the document is part of the binary. Every value is
/// HTML-escaped by Mustache; the page has no script and its only style sheet is ours.
struct APIReferencePage: Sendable {
    let html: ByteBuffer
    let etag: String

    init(document: OpenAPIDocument) throws {
        var library = MustacheLibrary()
        try library.register(Self.page, named: "page")
        try library.register(Self.schema, named: "schema")
        let view = try APIReferenceModel(json: document.json).view()
        guard let rendered = library.render(view, withTemplate: "page") else {
            throw OpenAPIDocumentError("the API reference template did not render")
        }
        html = ByteBuffer(string: rendered)
        etag = document.etag
    }

    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

    func response(for request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .eTag: etag, .cacheControl: "public, max-age=300",
            .contentSecurityPolicy: Self.contentSecurityPolicy,
        ]
        if let match = request.headers[.ifNoneMatch], PlatformRoutes.matches(match, etag: etag) {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: html))
    }

    static func styleSheet() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: css)))
    }

    private static let page = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} {{version}} reference</title>
        <link rel="stylesheet" href="/docs/reference.css">
        </head>
        <body>
        <nav aria-label="Operations">
        <p class="brand"><a href="#top">{{title}}</a> <span class="version">{{version}}</span></p>
        <ul>
        {{#tags}}<li><a href="#{{anchor}}">{{name}}</a>
        <ul>{{#operations}}<li><a href="#{{anchor}}"><span class="{{methodClass}}">{{method}}</span> {{path}}</a></li>{{/operations}}</ul></li>
        {{/tags}}
        <li><a href="#schemas">Schemas</a></li>
        </ul>
        </nav>
        <main id="top">
        <h1>{{title}} <span class="version">{{version}}</span></h1>
        <p class="summary">{{summary}}</p>
        {{#description}}<p>{{.}}</p>{{/description}}
        <p>The machine-readable document is at <a href="/openapi.json">/openapi.json</a>.</p>
        <h2 id="auth">Authentication</h2>
        <dl>{{#auth}}<dt>{{name}} <code>{{kind}}</code></dt><dd>{{#description}}<p>{{.}}</p>{{/description}}</dd>{{/auth}}</dl>
        {{#tags}}
        <section id="{{anchor}}">
        <h2>{{name}}</h2>
        <p>{{description}}</p>
        {{#operations}}
        <article id="{{anchor}}" class="operation">
        <h3><span class="{{methodClass}}">{{method}}</span> <code>{{path}}</code></h3>
        <p class="summary">{{summary}}</p>
        {{#description}}<p>{{.}}</p>{{/description}}
        <p class="meta">Operation <code>{{operationId}}</code> · Authentication: {{auth}}</p>
        {{#parameters}}
        <h4>Parameters</h4>
        <table><thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Type</th><th scope="col">Description</th></tr></thead>
        <tbody>{{#rows}}<tr><td><code>{{name}}</code>{{#required}} <span class="required">required</span>{{/required}}</td><td>{{in}}</td><td>{{type}}</td><td>{{description}}</td></tr>{{/rows}}</tbody></table>
        {{/parameters}}
        {{#requestBody}}
        <h4>Request body <code>{{contentType}}</code>{{#required}} <span class="required">required</span>{{/required}}</h4>
        {{#schema}}{{> schema}}{{/schema}}
        {{#example}}<details><summary>Example request body</summary><pre>{{.}}</pre></details>{{/example}}
        {{/requestBody}}
        <h4>Responses</h4>
        <ul class="responses">
        {{#responses}}<li><span class="status {{statusClass}}">{{status}}</span> {{description}}{{#contentType}} <code>{{.}}</code>{{/contentType}}
        {{#schema}}{{> schema}}{{/schema}}
        {{#example}}<details><summary>Example</summary><pre>{{.}}</pre></details>{{/example}}</li>
        {{/responses}}
        </ul>
        </article>
        {{/operations}}
        </section>
        {{/tags}}
        <section id="schemas">
        <h2>Schemas</h2>
        {{#schemas}}<article id="{{anchor}}" class="schema"><h3>{{name}}</h3>{{#schema}}{{> schema}}{{/schema}}</article>{{/schemas}}
        </section>
        </main>
        </body>
        </html>
        """

    /// One schema: a link for a reference, else its type and, nested, its properties, items
    /// and alternatives.
    private static let schema = """
        <div class="schema-body">{{#ref}}<a href="#{{anchor}}">{{name}}</a>{{/ref}}{{^ref}}<span class="type">{{type}}</span>{{#enum}} <span class="enum">one of {{.}}</span>{{/enum}}{{#description}} <span class="description">{{.}}</span>{{/description}}
        {{#variants}}<p class="variants">{{kind}}:</p><ul>{{#options}}<li>{{> schema}}</li>{{/options}}</ul>{{/variants}}
        {{#items}}<p class="items">items:</p>{{> schema}}{{/items}}
        {{#properties}}<ul class="properties">{{#list}}<li><code>{{name}}</code>{{#required}} <span class="required">required</span>{{/required}} {{#schema}}{{> schema}}{{/schema}}</li>{{/list}}</ul>{{/properties}}{{/ref}}</div>
        """

    private static let css = """
        :root { color-scheme: light dark; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0a58ca; --bg: #ffffff; --code: #f3f4f6; }
        @media (prefers-color-scheme: dark) { :root { --ink: #e6edf3; --muted: #9da7b3; --line: #30363d; --accent: #6cb6ff; --bg: #0d1117; --code: #161b22; } }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--ink); background: var(--bg); display: grid; grid-template-columns: 20rem 1fr; }
        nav { position: sticky; top: 0; height: 100vh; overflow-y: auto; border-right: 1px solid var(--line); padding: 1rem; font-size: 13px; }
        nav ul { list-style: none; margin: 0; padding-left: 0.75rem; }
        nav > ul { padding-left: 0; }
        main { padding: 1rem 2rem 4rem; max-width: 70rem; }
        a { color: var(--accent); }
        a:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
        code, pre { font-family: ui-monospace, monospace; font-size: 13px; background: var(--code); border-radius: 4px; }
        code { padding: 0 0.25rem; }
        pre { padding: 0.75rem; overflow-x: auto; }
        .operation, .schema { border-top: 1px solid var(--line); padding-top: 0.5rem; margin-top: 1.5rem; }
        .summary { font-weight: 600; }
        .meta, .version, .description, .enum { color: var(--muted); }
        .required { color: #b42318; font-size: 12px; }
        .method-get, .method-post, .method-put, .method-patch, .method-delete { font-weight: 700; font-family: ui-monospace, monospace; }
        .method-get { color: #1a7f37; } .method-post { color: #0a58ca; } .method-put, .method-patch { color: #9a6700; } .method-delete { color: #b42318; }
        .status { font-weight: 700; font-family: ui-monospace, monospace; }
        .status-2 { color: #1a7f37; } .status-4, .status-5 { color: #b42318; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 0.25rem 0.5rem; vertical-align: top; }
        .schema-body ul { margin: 0.25rem 0; }
        @media (max-width: 50rem) { body { display: block; } nav { position: static; height: auto; } }
        """
}

/// The reference page, rendered on first request rather than at start-up, which it would
/// slow by the time the template takes over the whole document.
final class LazyAPIReferencePage: Sendable {
    private let document: OpenAPIDocument
    private let page = Mutex<APIReferencePage?>(nil)

    init(document: OpenAPIDocument) {
        self.document = document
    }

    /// Renders outside the lock, so that requests arriving meanwhile do not hold a thread of
    /// the cooperative pool; two first requests at once may both render, and one result stays.
    func get() throws -> APIReferencePage {
        if let rendered = page.withLock({ $0 }) { return rendered }
        let rendered = try APIReferencePage(document: document)
        return page.withLock { page in
            if let page { return page }
            page = rendered
            return rendered
        }
    }
}
