import Foundation

/// A JSON Schema from the OpenAPI document, compiled once into rules that can be checked
/// quickly. It covers what `openapi.yaml` uses: `type` (one or a list, `'null'` included),
/// `nullable`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`,
/// `allOf`/`anyOf`/`oneOf`, `$ref` to `#/components/schemas/…`, string and array lengths,
/// numeric bounds, `pattern`, and the `date-time` and `uuid` formats (loosely).
indirect enum CompiledSchema: Sendable {
    case anything
    case nothing
    case reference(String)
    case rules(SchemaRules)

    init(_ value: JSONValue) throws {
        switch value {
        case .bool(let allows):
            self = allows ? .anything : .nothing
        case .object(let members):
            if let ref = members["$ref"]?.string {
                self = .reference(ref)
            } else {
                self = .rules(try SchemaRules(members))
            }
        default:
            throw TestFailure("a schema must be an object or a boolean, not \(value.brief)")
        }
    }
}

struct SchemaRules: Sendable {
    var types: [String]?
    var properties: [String: CompiledSchema] = [:]
    var required: [String] = []
    var additionalProperties: CompiledSchema = .anything
    var items: CompiledSchema?
    var enumValues: [JSONValue]?
    var constValue: JSONValue?
    var allOf: [CompiledSchema] = []
    var anyOf: [CompiledSchema] = []
    var oneOf: [CompiledSchema] = []
    var format: String?
    var pattern: String?
    var minimum: Double?
    var maximum: Double?
    var minLength: Int?
    var maxLength: Int?
    var minItems: Int?
    var maxItems: Int?

    init(_ members: [String: JSONValue]) throws {
        switch members["type"] {
        case .string(let name): types = [name]
        case .array(let names): types = names.compactMap(\.string)
        case nil: types = nil
        case let other?: throw TestFailure("unexpected type \(other.brief)")
        }
        if members["nullable"]?.bool == true, let known = types {
            types = known + ["null"]
        }
        for (name, schema) in members["properties"]?.object ?? [:] {
            properties[name] = try CompiledSchema(schema)
        }
        required = members["required"]?.array?.compactMap(\.string) ?? []
        if let additional = members["additionalProperties"] {
            additionalProperties = try CompiledSchema(additional)
        }
        if let items = members["items"] {
            self.items = try CompiledSchema(items)
        }
        enumValues = members["enum"]?.array
        constValue = members["const"]
        allOf = try (members["allOf"]?.array ?? []).map(CompiledSchema.init)
        anyOf = try (members["anyOf"]?.array ?? []).map(CompiledSchema.init)
        oneOf = try (members["oneOf"]?.array ?? []).map(CompiledSchema.init)
        format = members["format"]?.string
        pattern = members["pattern"]?.string
        minimum = members["minimum"]?.double
        maximum = members["maximum"]?.double
        minLength = members["minLength"]?.double.map { Int($0) }
        maxLength = members["maxLength"]?.double.map { Int($0) }
        minItems = members["minItems"]?.double.map { Int($0) }
        maxItems = members["maxItems"]?.double.map { Int($0) }
    }
}

/// Checks values against compiled schemas; `$ref`s are looked up in `components`.
struct SchemaChecker: Sendable {
    let components: [String: CompiledSchema]

    /// Every way `value` breaks `schema`, each as "pointer: what is wrong"; empty when it conforms.
    func failures(of value: JSONValue, against schema: CompiledSchema, at pointer: String = "") -> [String] {
        var found: [String] = []
        check(value, schema, pointer, &found)
        return found
    }

    private func check(_ value: JSONValue, _ schema: CompiledSchema, _ pointer: String, _ found: inout [String]) {
        switch schema {
        case .anything:
            return
        case .nothing:
            found.append("\(pointer.isEmpty ? "/" : pointer): no value is allowed here, got \(value.brief)")
        case .reference(let ref):
            guard let target = components[ref] else {
                found.append("\(pointer): unresolvable $ref \(ref)")
                return
            }
            check(value, target, pointer, &found)
        case .rules(let rules):
            check(value, rules, pointer, &found)
        }
    }

    private func conforms(_ value: JSONValue, _ schema: CompiledSchema, _ pointer: String) -> Bool {
        var found: [String] = []
        check(value, schema, pointer, &found)
        return found.isEmpty
    }

    private func check(_ value: JSONValue, _ rules: SchemaRules, _ pointer: String, _ found: inout [String]) {
        let at = pointer.isEmpty ? "/" : pointer
        if let types = rules.types, !value.typeNames.contains(where: types.contains) {
            found.append("\(at): \(value.brief) is not of type \(types.joined(separator: " or "))")
            return
        }
        if let allowed = rules.enumValues, !allowed.contains(where: { Self.same($0, value) }) {
            found.append("\(at): \(value.brief) is not one of \(allowed.map(\.brief).joined(separator: ", "))")
        }
        if let constant = rules.constValue, !Self.same(constant, value) {
            found.append("\(at): \(value.brief) is not \(constant.brief)")
        }
        for schema in rules.allOf {
            check(value, schema, pointer, &found)
        }
        if !rules.anyOf.isEmpty, !rules.anyOf.contains(where: { conforms(value, $0, pointer) }) {
            found.append("\(at): \(value.brief) matches none of the anyOf schemas")
        }
        if !rules.oneOf.isEmpty {
            let matches = rules.oneOf.filter { conforms(value, $0, pointer) }.count
            if matches != 1 {
                found.append("\(at): \(value.brief) matches \(matches) of the oneOf schemas, not exactly one")
            }
        }
        switch value {
        case .object(let members):
            for name in rules.required where members[name] == nil {
                found.append("\(pointer)/\(name): is required")
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                let path = "\(pointer)/\(Self.escape(name))"
                if let schema = rules.properties[name] {
                    check(member, schema, path, &found)
                } else if case .nothing = rules.additionalProperties {
                    found.append("\(path): is not a documented member")
                } else {
                    check(member, rules.additionalProperties, path, &found)
                }
            }
        case .array(let items):
            if let minimum = rules.minItems, items.count < minimum {
                found.append("\(at): has \(items.count) items, fewer than \(minimum)")
            }
            if let maximum = rules.maxItems, items.count > maximum {
                found.append("\(at): has \(items.count) items, more than \(maximum)")
            }
            if let schema = rules.items {
                for (index, item) in items.enumerated() {
                    check(item, schema, "\(pointer)/\(index)", &found)
                }
            }
        case .string(let text):
            if let minimum = rules.minLength, text.count < minimum {
                found.append("\(at): \(value.brief) is shorter than \(minimum)")
            }
            if let maximum = rules.maxLength, text.count > maximum {
                found.append("\(at): \(value.brief) is longer than \(maximum)")
            }
            if let pattern = rules.pattern, text.range(of: pattern, options: .regularExpression) == nil {
                found.append("\(at): \(value.brief) does not match \(pattern)")
            }
            switch rules.format {
            case "date-time" where !Self.isDateTime(text):
                found.append("\(at): \(value.brief) is not an RFC 3339 date-time")
            case "uuid" where UUID(uuidString: text) == nil:
                found.append("\(at): \(value.brief) is not a UUID")
            default:
                break
            }
        case .int, .number:
            let number = value.double ?? 0
            if let minimum = rules.minimum, number < minimum {
                found.append("\(at): \(value.brief) is below \(minimum)")
            }
            if let maximum = rules.maximum, number > maximum {
                found.append("\(at): \(value.brief) is above \(maximum)")
            }
        case .null, .bool:
            break
        }
    }

    /// JSON equality, with 1 and 1.0 the same number.
    private static func same(_ left: JSONValue, _ right: JSONValue) -> Bool {
        if let a = left.double, let b = right.double { return a == b }
        return left == right
    }

    private static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// `2026-11-30T12:00:00Z`, with optional fractional seconds and a `Z` or `±hh:mm` offset.
    static func isDateTime(_ text: String) -> Bool {
        let pattern = #"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#
        return text.range(of: pattern, options: .regularExpression) != nil
    }
}
