import Emporium
import Foundation
import HTTPTypes
import Testing
import Yams

/// The router and openapi.yaml must describe the same API: no route the document does not
/// name, no operation the router does not answer.
@Suite struct ContractTests {
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method) \(path)" }
    }

    func documentedOperations() throws -> Set<Operation> {
        let document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        var operations = Set<Operation>()
        let methods = ["get", "put", "post", "delete", "patch", "head", "options"]
        for (path, item) in paths {
            let item = try #require(item as? [String: Any])
            for method in methods where item[method] != nil {
                let operation = try #require(item[method] as? [String: Any])
                #expect(operation["operationId"] is String, "\(method) \(path) has no operationId")
                operations.insert(Operation(method: method.uppercased(), path: path))
            }
        }
        return operations
    }

    @Test func routerAndDocumentAgree() async throws {
        let documented = try documentedOperations()
        try await withApp { app in
            let routed = Set(app.routes.routes.map { Operation(method: $0.method.rawValue, path: $0.openAPIPath) })
            let undocumented = routed.subtracting(documented)
            let unrouted = documented.subtracting(routed)
            #expect(undocumented.isEmpty, "routes missing from openapi.yaml: \(undocumented.sorted { $0.description < $1.description })")
            #expect(unrouted.isEmpty, "operations in openapi.yaml the router lacks: \(unrouted.sorted { $0.description < $1.description })")
        }
    }

    @Test func documentIsOpenAPI31AndEveryErrorResponseIsAProblem() throws {
        let document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for (path, item) in paths {
            for (method, operation) in item where ["get", "put", "post", "delete", "patch"].contains(method) {
                let responses = try #require((operation as? [String: Any])?["responses"] as? [String: Any])
                #expect(responses["default"] != nil, "\(method) \(path) documents no default (problem) response")
            }
        }
    }
}
