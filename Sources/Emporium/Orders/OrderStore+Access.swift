import EmporiumCore
import EmporiumStorage
import Foundation

/// A guest's way to their order: a secret shown once in the checkout answer, kept as its
/// SHA-256 digest. A copy sealed with the field cipher is kept only until the confirmation
/// e-mail, which links to the order with it, has gone out.
extension OrderStore {
    static func accessContext(_ id: ID<Order>) -> String { "orders.access_token:\(id)" }

    /// The order, when `token` is its access token; a wrong token and a missing order are
    /// alike nil.
    func find(_ id: ID<Order>, accessToken token: String, on db: any SQLExecutor) async throws -> Order? {
        guard let row = try await db.queryFirst("SELECT access_token_hash FROM orders WHERE id = \(id)"),
            let digest: String = try row.decode("access_token_hash"), SecretToken.matches(token, digest: digest)
        else { return nil }
        return try await find(id, on: db)
    }

    /// What an e-mail about the order shows: the order, its lines and, while it is kept, the
    /// sealed access token, which the mail job opens (`openMailAccessToken`) only for the
    /// confirmation. One read: a row per line, the line's columns after the `line_columns` marker.
    func findForMail(_ id: ID<Order>, on db: any SQLExecutor) async throws -> (order: Order, lines: [OrderLine], sealedToken: String?)? {
        let rows = try await db.query("""
            SELECT o.*, NULL AS line_columns, l.* FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id
            WHERE o.id = \(id) ORDER BY l.position
            """)
        guard let first = rows.first else { return nil }
        let lines = try rows.compactMap { row in try row.joined(from: "line_columns").map(Self.decodeLine) }
        return (try decode(first), lines, try first.decode("access_token_sealed"))
    }

    func openMailAccessToken(_ sealed: String, of id: ID<Order>) throws -> String {
        try cipher.open(sealed, context: Self.accessContext(id))
    }

    /// Drops the sealed copy: the e-mail is sent, or the order will never be confirmed. The
    /// digest stays, so the token keeps working.
    func forgetMailAccessToken(of id: ID<Order>, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE orders SET access_token_sealed = NULL WHERE id = \(id) AND access_token_sealed IS NOT NULL")
    }
}
