import Foundation

/// The API document turned into what the reference page shows: operations grouped by tag,
/// each with its parameters, body, answers and an example, and the shared schemas once at
/// the end. Built from the same JSON that `/openapi.json` serves, so the page cannot drift
/// from the contract.
struct APIReferenceModel {
    typealias Object = [String: Any]

    private let document: Object
    private let schemas: Object

    init(json: Data) throws {
        guard let document = try JSONSerialization.jsonObject(with: json) as? Object else {
            throw OpenAPIDocumentError("the API document is not a JSON object")
        }
        self.document = document
        schemas = (document["components"] as? Object)?["schemas"] as? Object ?? [:]
    }

    /// The values the page's template reads.
    func view() -> Object {
        let info = document["info"] as? Object ?? [:]
        let securitySchemes = (document["components"] as? Object)?["securitySchemes"] as? Object ?? [:]
        return [
            "title": info["title"] as? String ?? "API",
            "version": info["version"] as? String ?? "",
            "summary": info["summary"] as? String ?? "",
            "description": paragraphs(info["description"]),
            "auth": securitySchemes.keys.sorted().map { name -> Object in
                let scheme = securitySchemes[name] as? Object ?? [:]
                return [
                    "name": name, "kind": [scheme["type"], scheme["scheme"]].compactMap { $0 as? String }.joined(separator: " "),
                    "description": paragraphs(scheme["description"]),
                ]
            },
            "tags": tags(),
            "schemas": schemas.keys.sorted().map { name -> Object in
                ["name": name, "anchor": Self.schemaAnchor(name), "schema": schema(schemas[name], depth: 0)]
            },
        ]
    }

    // MARK: Operations

    private static let methods = ["get", "post", "put", "patch", "delete"]

    private func tags() -> [Object] {
        var order = (document["tags"] as? [Object] ?? []).compactMap { $0["name"] as? String }
        let descriptions = Dictionary(
            (document["tags"] as? [Object] ?? []).compactMap { tag in (tag["name"] as? String).map { ($0, tag["description"] as? String ?? "") } },
            uniquingKeysWith: { first, _ in first })
        var operations: [String: [Object]] = [:]
        let paths = document["paths"] as? Object ?? [:]
        for path in paths.keys.sorted() {
            guard let item = paths[path] as? Object else { continue }
            let shared = item["parameters"] as? [Any] ?? []
            for method in Self.methods {
                guard let operation = item[method] as? Object else { continue }
                let tag = (operation["tags"] as? [String])?.first ?? "Other"
                if !order.contains(tag) { order.append(tag) }
                operations[tag, default: []].append(self.operation(operation, method: method, path: path, shared: shared))
            }
        }
        return order.compactMap { tag in
            guard let list = operations[tag] else { return nil }
            return ["name": tag, "anchor": "tag-" + Self.slug(tag), "description": descriptions[tag] ?? "", "operations": list]
        }
    }

    private func operation(_ operation: Object, method: String, path: String, shared: [Any]) -> Object {
        let id = operation["operationId"] as? String ?? "\(method)-\(path)"
        var view: Object = [
            "method": method.uppercased(), "methodClass": "method-\(method)", "path": path,
            "anchor": "op-" + Self.slug(id), "operationId": id,
            "summary": operation["summary"] as? String ?? "",
            "description": paragraphs(operation["description"]),
            "auth": authentication(operation["security"] as? [Object] ?? document["security"] as? [Object] ?? []),
        ]
        let parameters = (shared + (operation["parameters"] as? [Any] ?? [])).compactMap { resolve($0) }
        if !parameters.isEmpty {
            view["parameters"] = ["rows": parameters.map { parameter -> Object in
                [
                    "name": parameter["name"] as? String ?? "", "in": parameter["in"] as? String ?? "",
                    "required": parameter["required"] as? Bool ?? false,
                    "type": typeName(parameter["schema"]), "description": parameter["description"] as? String ?? "",
                ]
            }]
        }
        if let body = resolve(operation["requestBody"]), let content = body["content"] as? Object,
            let (type, media) = content.sorted(by: { $0.key < $1.key }).first.map({ ($0.key, $0.value as? Object ?? [:]) })
        {
            var request: Object = [
                "contentType": type, "required": body["required"] as? Bool ?? false,
                "description": body["description"] as? String ?? "", "schema": schema(media["schema"], depth: 0),
            ]
            request["example"] = APIExample(schemas: schemas).text(for: media) ?? false
            view["requestBody"] = request
        }
        let responses = operation["responses"] as? Object ?? [:]
        view["responses"] = responses.keys.sorted().map { status -> Object in
            let response = resolve(responses[status]) ?? [:]
            var answer: Object = [
                "status": status, "statusClass": "status-" + String(status.prefix(1)),
                "description": response["description"] as? String ?? "",
            ]
            if let content = response["content"] as? Object,
                let (type, media) = content.sorted(by: { $0.key < $1.key }).first.map({ ($0.key, $0.value as? Object ?? [:]) })
            {
                answer["contentType"] = type
                answer["schema"] = schema(media["schema"], depth: 0)
                if status.hasPrefix("2") { answer["example"] = APIExample(schemas: schemas).text(for: media) }
            }
            return Self.complete(answer, ["contentType", "schema", "example"])
        }
        return Self.complete(view, ["parameters", "requestBody"])
    }

    /// Mustache looks a missing name up in the enclosing values: a nested schema without
    /// `items` would render its parent's items again, without end. Every name a template
    /// reads is therefore set, to `false` when there is nothing.
    private static func complete(_ view: Object, _ names: [String]) -> Object {
        var view = view
        for name in names where view[name] == nil { view[name] = false }
        return view
    }

    private func authentication(_ requirements: [Object]) -> String {
        if requirements.isEmpty { return "None" }
        let names = requirements.map { requirement in
            requirement.isEmpty ? "none" : requirement.keys.sorted().joined(separator: " + ")
        }
        return names.joined(separator: " or ")
    }

    // MARK: Schemas

    /// A schema as nested lists. References are links to the shared schema, not expanded,
    /// so the page stays finite for recursive schemas; inline objects are expanded.
    private func schema(_ value: Any?, depth: Int) -> Object {
        guard let schema = value as? Object else { return Self.complete(["type": "any"], Self.schemaNames) }
        if let reference = schema["$ref"] as? String {
            let name = Self.referenceName(reference)
            return Self.complete(["ref": ["name": name, "anchor": Self.schemaAnchor(name)]], Self.schemaNames)
        }
        var view: Object = ["type": typeName(schema)]
        if let description = schema["description"] as? String { view["description"] = description }
        if let values = schema["enum"] as? [Any] { view["enum"] = values.map { "\($0)" }.joined(separator: ", ") }
        guard depth < 6 else { return Self.complete(view, Self.schemaNames) }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let options = schema[key] as? [Any] {
                view["variants"] = ["kind": key, "options": options.map { self.schema($0, depth: depth + 1) }]
            }
        }
        if let items = schema["items"] { view["items"] = self.schema(items, depth: depth + 1) }
        if let properties = schema["properties"] as? Object, !properties.isEmpty {
            let required = Set(schema["required"] as? [String] ?? [])
            view["properties"] = ["list": properties.keys.sorted().map { name -> Object in
                ["name": name, "required": required.contains(name), "schema": self.schema(properties[name], depth: depth + 1)]
            }]
        }
        return Self.complete(view, Self.schemaNames)
    }

    private static let schemaNames = ["ref", "type", "description", "enum", "variants", "items", "properties"]

    private func typeName(_ value: Any?) -> String {
        guard let schema = value as? Object else { return "any" }
        if let reference = schema["$ref"] as? String { return Self.referenceName(reference) }
        var names: [String] = []
        if let type = schema["type"] as? String { names = [type] }
        if let types = schema["type"] as? [String] { names = types }
        if let format = schema["format"] as? String { names = names.map { $0 == "null" ? $0 : "\($0) (\(format))" } }
        if names.contains("array"), let items = schema["items"] {
            names = names.map { $0 == "array" ? "array of \(typeName(items))" : $0 }
        }
        if names.isEmpty { return schema["oneOf"] != nil ? "one of" : schema["anyOf"] != nil ? "any of" : "any" }
        return names.joined(separator: " or ")
    }

    /// A parameter, body or response, following one `$ref` into the components.
    private func resolve(_ value: Any?) -> Object? {
        guard let object = value as? Object else { return nil }
        guard let reference = object["$ref"] as? String else { return object }
        let parts = reference.split(separator: "/").dropFirst().map(String.init)
        var current: Any? = document
        for part in parts { current = (current as? Object)?[part] }
        return current as? Object
    }

    private func paragraphs(_ value: Any?) -> [String] {
        (value as? String ?? "").components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
    }

    static func referenceName(_ reference: String) -> String {
        String(reference.split(separator: "/").last ?? "")
    }

    static func schemaAnchor(_ name: String) -> String { "schema-" + slug(name) }

    static func slug(_ text: String) -> String {
        String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }
}
