import EmporiumStorage

/// Whether the database answers a statement: what `/health/ready` asks, kept beside the
/// other SQL rather than in the route.
struct DatabaseProbe: Sendable {
    let database: any Database

    func check() async throws {
        try await database.execute("SELECT 1")
    }
}
