import Foundation

/// An example body for a media type of the API document: the document's own example when it
/// has one, else one made from the schema (each property with a value of its type and format,
/// the first of an enum, the first of `oneOf`), as indented JSON.
struct APIExample {
    typealias Object = [String: Any]

    let schemas: Object

    func text(for media: Object) -> String? {
        let value: Any? =
            media["example"]
            ?? (media["examples"] as? Object)?.values.compactMap { ($0 as? Object)?["value"] }.first
            ?? (media["schema"].flatMap { self.value(for: $0, depth: 0) })
        guard let value, JSONSerialization.isValidJSONObject([value]) else { return nil }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A value the schema accepts. References are followed a few levels deep; deeper, or in a
    /// cycle, objects stay empty.
    private func value(for schema: Any, depth: Int) -> Any? {
        guard let schema = schema as? Object, depth < 6 else { return nil }
        if let reference = schema["$ref"] as? String {
            return schemas[APIReferenceModel.referenceName(reference)].flatMap { value(for: $0, depth: depth + 1) }
        }
        if let example = schema["example"] { return example }
        if let examples = schema["examples"] as? [Any], let first = examples.first { return first }
        if let values = schema["enum"] as? [Any], let first = values.first { return first }
        if let constant = schema["const"] { return constant }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let options = schema[key] as? [Any], let first = options.first { return value(for: first, depth: depth + 1) }
        }
        let types: [String] = (schema["type"] as? [String]) ?? [(schema["type"] as? String) ?? (schema["properties"] != nil ? "object" : "")]
        switch types.first(where: { $0 != "null" }) ?? "" {
        case "object":
            var object: Object = [:]
            for (name, property) in schema["properties"] as? Object ?? [:] {
                if let value = value(for: property, depth: depth + 1) { object[name] = value }
            }
            return object
        case "array":
            return schema["items"].flatMap { value(for: $0, depth: depth + 1) }.map { [$0] } ?? []
        case "integer":
            return schema["minimum"] as? Int ?? 1
        case "number":
            return schema["minimum"] as? Double ?? 1.5
        case "boolean":
            return true
        case "string":
            return Self.string(format: schema["format"] as? String)
        default:
            return NSNull()
        }
    }

    private static func string(format: String?) -> String {
        switch format {
        case "date-time": "2026-01-31T12:00:00.000Z"
        case "date": "2026-01-31"
        case "uuid": "0194b2c3-4d5e-7f60-8a1b-2c3d4e5f6a7b"
        case "email": "ada@example.com"
        case "uri": "https://shop.example.com/"
        default: "string"
        }
    }
}
