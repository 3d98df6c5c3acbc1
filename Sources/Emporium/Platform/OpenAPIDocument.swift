public import Foundation
import Yams

/// The API contract, `openapi.yaml`, compiled into the binary and served as JSON.
public struct OpenAPIDocument: Sendable {
    /// The document as compact JSON with sorted keys.
    public let json: Data
    /// A strong validator for the JSON: it changes exactly when the document does.
    public let etag: String

    /// The YAML text as it is in the repository.
    public static var yaml: String { String(decoding: PackageResources.openapi_yaml, as: UTF8.self) }

    /// The embedded YAML as JSON. It is part of the build, so a failure here is a broken
    /// build that the test suite catches, not something an operator can fix.
    public static func load() throws -> OpenAPIDocument {
        try converted.get()
    }

    /// Converted once per process: the document never changes while it runs, and converting
    /// it is the most expensive step of building an application (every test builds several).
    private static let converted = Result { try convert() }

    private static func convert() throws -> OpenAPIDocument {
        guard let object = try Yams.load(yaml: yaml) else {
            throw OpenAPIDocumentError("openapi.yaml is empty")
        }
        guard JSONSerialization.isValidJSONObject(object) else {
            throw OpenAPIDocumentError("openapi.yaml holds values JSON cannot express")
        }
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return OpenAPIDocument(json: json, etag: "\"\(fnv1a(json))\"")
    }

    /// 64-bit FNV-1a as hex: enough to tell versions of one document apart.
    private static func fnv1a(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

struct OpenAPIDocumentError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
