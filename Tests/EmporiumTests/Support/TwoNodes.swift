import Emporium
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// Two API nodes on one fresh PostgreSQL database, each with its own pool (as two processes
/// would have), and a member of staff signed in on the first: `writer` changes things,
/// `reader` shows what another node serves, `auth` carries the staff token.
func withTwoNodes(
    _ body: @Sendable (_ writer: any TestClientProtocol, _ reader: any TestClientProtocol, _ auth: HTTPFields) async throws -> Void
) async throws {
    try await TestDatabase.withFresh { url in
        let configuration = TestDatabase.configuration(for: url)
        let logger = Logger(label: "test")
        let firstDatabase = try await openDatabase(configuration, logger: logger)
        let secondDatabase = try await openDatabase(configuration, logger: logger)
        let first = try await buildApplication(configuration, dependencies: AppDependencies(database: firstDatabase))
        let second = try await buildApplication(configuration, dependencies: AppDependencies(database: secondDatabase))
        defer {
            Task {
                await firstDatabase.close()
                await secondDatabase.close()
            }
        }
        try await first.test(.router) { writer in
            try await second.test(.router) { reader in
                let writer = writer.validatingResponses()
                let reader = reader.validatingResponses()
                let register = try await writer.execute(
                    uri: "/v1/auth/register", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"email":"staff@example.com","password":"correct horse battery","name":"S"}"#))
                try await firstDatabase.execute("UPDATE users SET role = 'staff'")
                let token = try #require(try register.jsonObject()["access_token"] as? String)
                try await body(writer, reader, [.authorization: "Bearer \(token)", .contentType: "application/json"])
            }
        }
    }
}
