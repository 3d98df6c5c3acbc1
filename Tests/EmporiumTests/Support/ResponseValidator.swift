import Emporium
import Foundation
import HTTPTypes

/// Checks a response against `openapi.yaml`: the status is documented for the operation, the
/// headers the document marks required are there, the content type is a documented one and a
/// JSON body matches the response's schema; every `application/problem+json` body, whichever
/// route sent it, matches the `Problem` schema.
///
/// Compiled once per test process from the same document the server serves.
struct ResponseValidator: Sendable {
    struct Header: Sendable {
        let name: HTTPField.Name
        let required: Bool
    }

    struct Response: Sendable {
        let headers: [Header]
        /// Media type to its schema (nil when the document gives none); empty when no body is documented.
        let content: [String: CompiledSchema?]
    }

    struct Operation: Sendable {
        let template: String
        /// The path's segments, nil where the template has a parameter.
        let segments: [String?]
        let method: HTTPRequest.Method
        /// Keyed as the document writes them: `200`, `4XX`, `default`.
        let responses: [String: Response]
    }

    let operations: [Operation]
    let checker: SchemaChecker
    let problem: CompiledSchema

    /// The validator for the document compiled into the server.
    static let shared: Result<ResponseValidator, any Error> = Result {
        try ResponseValidator(document: try JSONValue.parse(OpenAPIDocument.load().json))
    }

    init(document: JSONValue) throws {
        var components: [String: CompiledSchema] = [:]
        for (name, schema) in document["components"]?["schemas"]?.object ?? [:] {
            components["#/components/schemas/\(name)"] = try CompiledSchema(schema)
        }
        checker = SchemaChecker(components: components)
        problem = .reference("#/components/schemas/Problem")
        guard components["#/components/schemas/Problem"] != nil else {
            throw TestFailure("the document has no Problem schema")
        }

        func resolve(_ value: JSONValue) throws -> JSONValue {
            guard let ref = value["$ref"]?.string else { return value }
            guard ref.hasPrefix("#/") else { throw TestFailure("external $ref \(ref)") }
            var target = document
            for token in ref.dropFirst(2).split(separator: "/") {
                let name = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                guard let next = target[name] else { throw TestFailure("unresolvable $ref \(ref)") }
                target = next
            }
            return try resolve(target)
        }

        var operations: [Operation] = []
        for (template, item) in document["paths"]?.object ?? [:] {
            let segments = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
                $0.hasPrefix("{") ? nil : String($0)
            }
            for (method, operation) in item.object ?? [:] {
                guard let method = HTTPRequest.Method(method.uppercased()), operation["responses"] != nil else { continue }
                var responses: [String: Response] = [:]
                for (status, response) in operation["responses"]?.object ?? [:] {
                    let response = try resolve(response)
                    var headers: [Header] = []
                    for (name, header) in response["headers"]?.object ?? [:] {
                        guard let field = HTTPField.Name(name) else { throw TestFailure("bad header name \(name)") }
                        headers.append(Header(name: field, required: try resolve(header)["required"]?.bool == true))
                    }
                    var content: [String: CompiledSchema?] = [:]
                    for (mediaType, media) in response["content"]?.object ?? [:] {
                        content[mediaType.lowercased()] = try media["schema"].map(CompiledSchema.init)
                    }
                    responses[status] = Response(headers: headers, content: content)
                }
                operations.append(Operation(template: template, segments: segments, method: method, responses: responses))
            }
        }
        self.operations = operations
    }

    /// The operation a request path reaches: literal segments win over parameters, as in the router.
    func operation(method: HTTPRequest.Method, path: String) -> Operation? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let lookup = method == .head ? .get : method
        return
            operations
            .filter { $0.method == lookup && $0.segments.count == parts.count }
            .filter { zip($0.segments, parts).allSatisfy { segment, part in segment == nil ? !part.isEmpty : segment == part } }
            .max { $0.segments.compactMap { $0 }.count < $1.segments.compactMap { $0 }.count }
    }

    /// Every way the response breaks the document; empty when it conforms. `exempt` is for
    /// routes a test adds on purpose outside the document: only their problem bodies are checked.
    func failures(
        method: HTTPRequest.Method, uri: String, status: HTTPResponse.Status, headers: HTTPFields, body: Data,
        exempt: Bool = false
    ) -> [String] {
        var found: [String] = []
        let path = String(uri.prefix { $0 != "?" })
        let mediaType = headers[.contentType].map {
            String($0.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased()
        }
        let hasBody = !body.isEmpty && method != .head

        var parsed: JSONValue?
        if hasBody, let mediaType, mediaType == "application/json" || mediaType.hasSuffix("+json") {
            do {
                parsed = try JSONValue.parse(body)
            } catch {
                found.append("the \(mediaType) body is not JSON")
            }
        }
        if mediaType == "application/problem+json", let parsed {
            found += checker.failures(of: parsed, against: problem).map { "problem document \($0)" }
            if let stated = parsed["status"]?.double, stated != Double(status.code) {
                found.append("problem document status \(stated) is not the response's \(status.code)")
            }
        }
        if exempt || method == .options { return found }

        guard let operation = operation(method: method, path: path) else {
            if status.code < 400 {
                found.append("\(method) \(path) is not a documented operation, yet answered \(status.code)")
            } else if mediaType != "application/problem+json" {
                found.append("the \(status.code) for an undocumented operation is not a problem document")
            }
            return found
        }
        let code = String(status.code)
        let range = "\(status.code / 100)XX"
        guard
            let response = operation.responses[code] ?? operation.responses[range]
                ?? (status.code >= 400 ? operation.responses["default"] : nil)
        else {
            let documented = operation.responses.keys.sorted().joined(separator: ", ")
            found.append("\(status.code) is not documented for \(method) \(operation.template) (documented: \(documented))")
            return found
        }
        for header in response.headers where header.required && headers[header.name] == nil {
            found.append("required header \(header.name) is missing")
        }
        guard hasBody else {
            if !response.content.isEmpty && status != .notModified && status != .noContent && method != .head {
                found.append("the body is empty, yet \(status.code) documents \(response.content.keys.sorted().joined(separator: ", "))")
            }
            return found
        }
        guard let mediaType else {
            found.append("a body without a Content-Type")
            return found
        }
        let anySubtype = (mediaType.split(separator: "/").first.map(String.init) ?? "") + "/*"
        guard let key = [mediaType, anySubtype, "*/*"].first(where: { response.content.keys.contains($0) }),
            let schema = response.content[key]
        else {
            let listed = response.content.keys.sorted().joined(separator: ", ")
            found.append("Content-Type \(mediaType) is not documented for \(status.code) (documented: \(listed.isEmpty ? "no body" : listed))")
            return found
        }
        if let schema, let parsed {
            found += checker.failures(of: parsed, against: schema)
        }
        return found
    }
}
