import EmporiumCore
import EmporiumStorage
import Foundation

extension AccountStore {
    /// Customers whose e-mail address starts with `prefix` (all of them when it is empty), by
    /// id, after the id `after`: the back office's customer list, where staff type the start
    /// of an address rather than all of it. Addresses are stored lower-cased, so the prefix is
    /// too; `%`, `_` and `\` in it are matched as themselves.
    func customers(emailPrefix prefix: String, after: String?, limit: Int, on db: any SQLExecutor) async throws -> [User] {
        var conditions: [SQL] = ["role = 'customer'"]
        if let after { conditions.append("id > \(after)") }
        if !prefix.isEmpty {
            let escaped = prefix.lowercased().replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            conditions.append("email LIKE \(escaped + "%") ESCAPE '\\'")
        }
        return try await db.query("""
            SELECT id, email, name, role, created_at, updated_at FROM users
            WHERE \(SQL.joined(conditions, separator: " AND ")) ORDER BY id LIMIT \(limit)
            """).map { row in
            User(
                id: try row.decode("id"), email: try row.decode("email"), name: try row.decode("name"), role: .customer,
                createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
        }
    }
}
