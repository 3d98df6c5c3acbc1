import EmporiumCore
public import EmporiumStorage
import Foundation

/// Creates an administrator from the command line: how the first admin of a shop comes to be.
public enum AdminBootstrap {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func createAdmin(
        email rawEmail: String, name rawName: String, password: String, configuration: AppConfiguration,
        database: any Database
    ) async throws -> String {
        let email = AccountRules.normalizedEmail(rawEmail)
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = AccountRules.emailProblem(email) { throw Failure(description: "--email \(problem)") }
        if let problem = AccountRules.nameProblem(name) { throw Failure(description: "--name \(problem)") }
        if let problem = AccountRules.passwordProblem(password) { throw Failure(description: "the password \(problem)") }
        let clock = SystemClock()
        let ids = TimeOrderedIDGenerator(clock: clock)
        let hash = try await PasswordHasher(cost: configuration.bcryptCost).hash(password)
        let now = clock.now()
        let user = User(id: ids.make(), email: email, name: name, role: .admin, createdAt: now, updatedAt: now)
        do {
            try await database.transaction { db in
                try await AccountStore().insert(user, passwordHash: hash, on: db)
                try await AuditLog(clock: clock, ids: ids).record(
                    .init(actor: nil, action: "admin.created", target: user.id.description, clientAddress: "command line"),
                    on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Failure(description: "an account with the e-mail \(email) exists already")
        }
        return user.id.description
    }
}
