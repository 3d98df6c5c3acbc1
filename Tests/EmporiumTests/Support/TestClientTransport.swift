import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OpenAPIRuntime

/// Lets the generated `EmporiumClient` talk to the application through Hummingbird's test
/// client, so happy-path tests check responses against the OpenAPI document.
struct TestClientTransport: ClientTransport {
    let client: any TestClientProtocol

    func send(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var buffer: ByteBuffer?
        if let body {
            buffer = ByteBuffer(bytes: try await [UInt8](collecting: body, upTo: 16 << 20))
        }
        let response = try await client.executeRequest(
            uri: request.path ?? "/", method: request.method, headers: request.headerFields, body: buffer)
        return (
            HTTPResponse(status: response.status, headerFields: response.headers),
            HTTPBody(Array(response.body.readableBytesView))
        )
    }
}
