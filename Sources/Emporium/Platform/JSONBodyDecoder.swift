import Foundation

/// Decodes a request body, and when it does not fit the type finds every member at fault, not
/// only the first one `JSONDecoder` stops at.
///
/// The body is decoded once; only when that fails is it parsed into a tree and decoded again
/// after each fault is noted and patched over with a stand-in of the expected type (an empty
/// string, zero, false, an empty object or array). The stand-ins never reach a handler: the
/// patched value serves only to check the members that were right, and the request is refused
/// with every fault found. Faults below a member already reported (the members of an object
/// that is missing) are not reported again.
struct JSONBodyDecoder {
    /// Rounds of patching before giving up on finding more: plenty for a human-made body.
    static let maximumRounds = 64
    /// Numbers that may be the one a whole-number member cannot hold, tried one by one.
    static let maximumNumberSuspects = 32

    struct Outcome<T> {
        /// The value, exact when `errors` is empty, patched otherwise; nil when it could not be
        /// patched into shape.
        var value: T?
        var errors: FieldErrorList
    }

    private let decoder = JSONDecoder()

    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(Problem) -> Outcome<T> {
        let firstError: DecodingError
        do {
            return Outcome(value: try decoder.decode(T.self, from: data), errors: FieldErrorList())
        } catch let error as DecodingError {
            firstError = error
        } catch {
            throw Problem.malformedJSON("The request body could not be read.")
        }
        let tree: Any
        do {
            tree = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw Problem.malformedJSON("The request body is not valid JSON" + (reason.map { " (\($0))" } ?? "") + ".")
        }
        var patching = Patching(tree: tree)
        var error = firstError
        for _ in 0..<Self.maximumRounds {
            guard patching.absorb(error, decoding: T.self, with: decoder) else { break }
            switch patching.attempt(T.self, with: decoder) {
            case .success(let value): return Outcome(value: value, errors: patching.errors)
            case .failure(let next): error = next
            }
        }
        return Outcome(value: nil, errors: patching.errors)
    }
}

/// Field errors in the order found, none at or below a pointer already reported.
struct FieldErrorList {
    private(set) var all: [Problem.FieldError] = []

    var isEmpty: Bool { all.isEmpty }

    /// Whether `pointer` is, or lies inside, a member already reported.
    func covers(_ pointer: String) -> Bool {
        all.contains { error in
            guard let reported = error.pointer else { return false }
            return pointer == reported || pointer.hasPrefix(reported + "/")
        }
    }

    /// Adds the error unless a member at or above it is reported already.
    mutating func add(_ error: Problem.FieldError) {
        if let pointer = error.pointer, covers(pointer) { return }
        all.append(error)
    }

    mutating func add(_ errors: [Problem.FieldError]) {
        for error in errors { add(error) }
    }
}

/// The body as a tree, patched fault by fault.
private struct Patching {
    var tree: Any
    var errors = FieldErrorList()
    /// Patches made per pointer: a member that keeps failing is given up on.
    private var attempts: [String: Int] = [:]

    init(tree: Any) { self.tree = tree }

    func attempt<T: Decodable>(_ type: T.Type, with decoder: JSONDecoder) -> Result<T, DecodingError> {
        do {
            let data = try JSONSerialization.data(withJSONObject: tree, options: [.fragmentsAllowed])
            return .success(try decoder.decode(T.self, from: data))
        } catch let error as DecodingError {
            return .failure(error)
        } catch {
            return .failure(.dataCorrupted(.init(codingPath: [], debugDescription: "unreadable")))
        }
    }

    /// Notes the fault and patches the tree so that the next attempt gets past it; false when
    /// it cannot be patched.
    mutating func absorb<T: Decodable>(_ error: DecodingError, decoding type: T.Type, with decoder: JSONDecoder) -> Bool {
        switch error {
        case .keyNotFound(let key, let context):
            let path = context.codingPath + [key]
            report(path, "is required")
            // Null first: the next attempt names the type the member needs.
            return patch(path, with: NSNull())
        case .valueNotFound(let expected, let context):
            report(context.codingPath, "must not be null")
            return patch(context.codingPath, with: Self.standIn(for: expected))
        case .typeMismatch(let expected, let context):
            report(context.codingPath, "must be \(JSONPointer.describe(expected))")
            return patch(context.codingPath, with: Self.standIn(for: expected))
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return absorbNumbers(decoding: type, with: decoder)
        case .dataCorrupted(let context):
            report(context.codingPath, context.debugDescription)
            // A value of the right type but not one the type takes (an unknown enum case):
            // without the member, an optional one decodes; a required one cannot be patched.
            return patch(context.codingPath, with: nil)
        @unknown default:
            return false
        }
    }

    private mutating func report(_ path: [any CodingKey], _ detail: String) {
        errors.add(.init(pointer: JSONPointer.make(path), detail: detail))
    }

    private mutating func patch(_ path: [any CodingKey], with value: Any?) -> Bool {
        let pointer = JSONPointer.make(path)
        let count = attempts[pointer, default: 0] + 1
        attempts[pointer] = count
        guard count <= 4, let patched = Self.replacing(path[...], in: tree, with: value) else { return false }
        tree = patched
        return true
    }

    /// Foundation's decoder reports a number that does not fit its member (1.5 or 1e30 for an
    /// integer) without saying where it is. Each fractional or huge number is a suspect; one is
    /// at fault when the body fails that way with it and not with all suspects set to zero.
    private mutating func absorbNumbers<T: Decodable>(decoding type: T.Type, with decoder: JSONDecoder) -> Bool {
        var suspects: [[any CodingKey]] = []
        Self.collectSuspects(in: tree, path: [], into: &suspects)
        suspects = Array(suspects.prefix(JSONBodyDecoder.maximumNumberSuspects))
        func zeroed(_ paths: [[any CodingKey]], in tree: Any) -> Any {
            paths.reduce(tree) { tree, path in Self.replacing(path[...], in: tree, with: 0) ?? tree }
        }
        func failsOnNumbers(_ tree: Any) -> Bool {
            let probe = Patching(tree: tree)
            if case .failure(.dataCorrupted(let context)) = probe.attempt(type, with: decoder), context.codingPath.isEmpty {
                return true
            }
            return false
        }
        guard !suspects.isEmpty, !failsOnNumbers(zeroed(suspects, in: tree)) else {
            errors.add(.init(pointer: "", detail: "a number is fractional or out of range where a whole number is expected"))
            return false
        }
        var culprits: [[any CodingKey]] = []
        for (index, suspect) in suspects.enumerated() {
            var others = suspects
            others.remove(at: index)
            if failsOnNumbers(zeroed(others, in: tree)) { culprits.append(suspect) }
        }
        if culprits.isEmpty { culprits = suspects }
        for path in culprits {
            let number = Self.value(at: path[...], in: tree).flatMap(Self.number)
            let fractional = number.map { $0.rounded() != $0 } ?? false
            report(path, fractional ? "must be a whole number" : "is out of range")
        }
        tree = zeroed(culprits, in: tree)
        return true
    }

    private static func collectSuspects(in node: Any, path: [any CodingKey], into suspects: inout [[any CodingKey]]) {
        switch node {
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                collectSuspects(in: object[key] as Any, path: path + [Key(key)], into: &suspects)
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                collectSuspects(in: element, path: path + [Key(index)], into: &suspects)
            }
        default:
            if let value = number(node), value.rounded() != value || abs(value) >= 9.2e18 { suspects.append(path) }
        }
    }

    private static func number(_ node: Any) -> Double? {
        switch node {
        case is String, is NSNull, is Bool: nil
        case let value as Int: Double(value)
        case let value as Double: value
        case let value as Decimal: NSDecimalNumber(decimal: value).doubleValue
        case let value as NSNumber: value.doubleValue
        default: nil
        }
    }

    private static func value(at path: ArraySlice<any CodingKey>, in node: Any) -> Any? {
        guard let key = path.first else { return node }
        if let object = node as? [String: Any], let child = object[key.stringValue] {
            return value(at: path.dropFirst(), in: child)
        }
        if let array = node as? [Any], let index = key.intValue, array.indices.contains(index) {
            return value(at: path.dropFirst(), in: array[index])
        }
        return nil
    }

    /// The tree with the value at `path` replaced (removed when `value` is nil), or nil when
    /// the path leads nowhere.
    private static func replacing(_ path: ArraySlice<any CodingKey>, in node: Any, with value: Any?) -> Any? {
        guard let key = path.first else { return value ?? NSNull() }
        if var object = node as? [String: Any] {
            let rest = path.dropFirst()
            if rest.isEmpty {
                object[key.stringValue] = value
                return object
            }
            guard let child = object[key.stringValue], let patched = replacing(rest, in: child, with: value) else { return nil }
            object[key.stringValue] = patched
            return object
        }
        if var array = node as? [Any], let index = key.intValue, array.indices.contains(index) {
            guard let patched = replacing(path.dropFirst(), in: array[index], with: value ?? NSNull()) else { return nil }
            array[index] = patched
            return array
        }
        return nil
    }

    /// A JSON value of the type the decoder asked for.
    private static func standIn(for type: Any.Type) -> Any {
        switch type {
        case is String.Type, is Substring.Type: ""
        case is Bool.Type: false
        case is Int.Type, is Int64.Type, is Int32.Type, is Int16.Type, is Int8.Type,
            is UInt.Type, is UInt64.Type, is UInt32.Type, is UInt16.Type, is UInt8.Type: 0
        case is Double.Type, is Float.Type, is Decimal.Type: 0.0
        default:
            JSONPointer.describe(type) == "an array" ? [Any]() : [String: Any]()
        }
    }

    private struct Key: CodingKey {
        let stringValue: String
        let intValue: Int?
        init(_ string: String) { stringValue = string; intValue = nil }
        init(_ index: Int) { stringValue = String(index); intValue = index }
        init?(stringValue: String) { self.init(stringValue) }
        init?(intValue: Int) { self.init(intValue) }
    }
}
