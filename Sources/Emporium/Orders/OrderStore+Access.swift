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

    /// The order with the sealed access token for its confirmation e-mail, while it is kept:
    /// one read for the mail job, which opens the token (`openMailAccessToken`) only for the
    /// confirmation.
    func findWithMailAccessToken(_ id: ID<Order>, on db: any SQLExecutor) async throws -> (order: Order, sealedToken: String?)? {
        guard let row = try await db.queryFirst("SELECT * FROM orders WHERE id = \(id)") else { return nil }
        return (try decode(row), try row.decode("access_token_sealed"))
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
