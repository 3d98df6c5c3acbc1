// The types and client in this module are generated at build time from openapi.yaml by
// swift-openapi-generator. Create a client with `Client(serverURL:transport:)` and any
// `ClientTransport` (URLSession, AsyncHTTPClient, or your own). Emporium writes times with
// milliseconds: pass `configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds)`.
