import EmporiumCore
import EmporiumStorage
import Foundation

/// The `users` table.
struct AccountStore: Sendable {
    struct StoredUser {
        let user: User
        let passwordHash: String
    }

    /// Users read to authenticate requests; every write below forgets the user it changes.
    var recentUsers = RecentUsers()

    func insert(_ user: User, passwordHash: String, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO users (id, email, name, password_hash, role, created_at, updated_at)
            VALUES (\(user.id), \(user.email), \(user.name), \(passwordHash), \(user.role.rawValue),
                    \(user.createdAt), \(user.updatedAt))
            """)
    }

    func find(email: String, on db: any SQLExecutor) async throws -> StoredUser? {
        try await db.queryFirst("SELECT * FROM users WHERE email = \(email)").map(Self.decode)
    }

    func find(id: ID<User>, on db: any SQLExecutor) async throws -> User? {
        try await db.queryFirst("SELECT * FROM users WHERE id = \(id)").map(Self.decode)?.user
    }

    /// The user behind a request's access token: as this node read it within the last second
    /// (`RecentUsers`), else from the database. Not for reads a write depends on.
    func findRecent(id: ID<User>, on db: any SQLExecutor) async throws -> User? {
        if let user = recentUsers.user(id) { return user }
        let readAt = ContinuousClock.now
        guard let user = try await find(id: id, on: db) else { return nil }
        recentUsers.remember(user, readAt: readAt)
        return user
    }

    /// Customers (`staff` false) or staff and admins (`staff` true), by id (creation order),
    /// after the id `after`; `email` picks one by address.
    func list(staff: Bool, email: String? = nil, after: String?, limit: Int, on db: any SQLExecutor) async throws -> [User] {
        var conditions: [SQL] = [staff ? "role <> 'customer'" : "role = 'customer'"]
        if let after { conditions.append("id > \(after)") }
        if let email { conditions.append("email = \(email)") }
        return try await db.query("""
            SELECT * FROM users WHERE \(SQL.joined(conditions, separator: " AND ")) ORDER BY id LIMIT \(limit)
            """).map { try Self.decode($0).user }
    }

    func updateName(_ name: String, of id: ID<User>, at now: Date, on db: any SQLExecutor) async throws -> User? {
        let updated = try await db.queryFirst("""
            UPDATE users SET name = \(name), updated_at = \(now) WHERE id = \(id) RETURNING *
            """).map(Self.decode)?.user
        recentUsers.forget(id)
        return updated
    }

    /// Sets a new password and ends every access token issued before.
    func setPassword(hash: String, of id: ID<User>, at now: Date, on db: any SQLExecutor) async throws {
        try await db.execute("""
            UPDATE users SET password_hash = \(hash), token_generation = token_generation + 1, updated_at = \(now)
            WHERE id = \(id)
            """)
        recentUsers.forget(id)
    }

    /// Ends every access token issued to the user so far.
    func endAccessTokens(of id: ID<User>, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE users SET token_generation = token_generation + 1 WHERE id = \(id)")
        recentUsers.forget(id)
    }

    enum RoleChange {
        case changed(User, from: Role)
        case noSuchUser
        /// Refused: it would leave the shop without an administrator.
        case lastAdmin
    }

    /// Gives a user another role, unless that demotes the last administrator. Call it in a
    /// transaction: on PostgreSQL the administrators' rows are locked first, so that two
    /// admins demoting each other at once cannot both succeed (SQLite has one writer anyway).
    func changeRole(of id: ID<User>, to role: Role, at now: Date, on db: any SQLExecutor) async throws -> RoleChange {
        if db.dialect == .postgres {
            _ = try await db.query("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
        }
        guard let current = try await find(id: id, on: db) else { return .noSuchUser }
        if current.role == .admin, role != .admin {
            let others = try await db.queryFirst("""
                SELECT count(*) AS n FROM users WHERE role = 'admin' AND id <> \(id)
                """)
            guard let others, try others.decode("n", as: Int.self) > 0 else { return .lastAdmin }
        }
        guard let updated = try await db.queryFirst("""
            UPDATE users
            SET role = \(role.rawValue), updated_at = \(now),
                token_generation = token_generation + CASE WHEN role = \(role.rawValue) THEN 0 ELSE 1 END
            WHERE id = \(id) RETURNING *
            """).map(Self.decode)?.user
        else { return .noSuchUser }
        recentUsers.forget(id)
        return .changed(updated, from: current.role)
    }

    private static func decode(_ row: SQLRow) throws -> StoredUser {
        guard let role = Role(rawValue: try row.decode("role")) else {
            throw DatabaseError.decoding(column: "role", expected: "a role", found: "an unknown role")
        }
        return StoredUser(
            user: User(
                id: try row.decode("id"), email: try row.decode("email"), name: try row.decode("name"), role: role,
                createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"),
                tokenGeneration: try row.decode("token_generation")),
            passwordHash: try row.decode("password_hash"))
    }
}
