import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

/// The test client every test talks through: it passes each request on and records a test
/// failure for every way the response breaks `openapi.yaml` (see `ResponseValidator`), so no
/// test can receive an undocumented answer without noticing.
struct ValidatingTestClient: TestClientProtocol {
    let base: any TestClientProtocol
    /// Paths under these prefixes belong to routes a test added outside the document on purpose.
    let exemptPrefixes: [String]

    init(_ base: any TestClientProtocol, exemptPrefixes: [String] = []) {
        self.base = base
        self.exemptPrefixes = exemptPrefixes
    }

    var port: Int? { base.port }

    func executeRequest(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?
    ) async throws -> TestResponse {
        let response = try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
        let failures: [String]
        switch ResponseValidator.shared {
        case .success(let validator):
            failures = validator.failures(
                method: method, uri: uri, status: response.status, headers: response.headers,
                body: Data(response.body.readableBytesView),
                exempt: exemptPrefixes.contains { uri.hasPrefix($0) })
        case .failure(let error):
            failures = ["openapi.yaml cannot be compiled: \(error)"]
        }
        for failure in failures {
            Issue.record("contract: \(method) \(uri) → \(response.status.code): \(failure)")
        }
        return response
    }
}

extension TestClientProtocol {
    /// This client with every response checked against the document.
    func validatingResponses(exemptPrefixes: [String] = []) -> any TestClientProtocol {
        self as? ValidatingTestClient ?? ValidatingTestClient(self, exemptPrefixes: exemptPrefixes)
    }
}
