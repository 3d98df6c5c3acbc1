import EmporiumCore
import EmporiumStorage
import Foundation

/// The `addresses` table. Street lines and phone numbers are sealed with the field cipher,
/// bound to their column and row.
struct AddressStore: Sendable {
    let cipher: FieldCipher

    /// The columns that hold ciphertext, for key rotation.
    static let encryptedColumns = ["line1", "line2", "phone"]

    func insert(_ address: Address, on db: any SQLExecutor) async throws {
        let fields = address.fields
        try await db.execute("""
            INSERT INTO addresses (id, user_id, recipient, line1, line2, city, region, postal_code, country, phone,
                                   created_at, updated_at)
            VALUES (\(address.id), \(address.userID), \(fields.recipient), \(try seal(fields.line1, "line1", address.id)),
                    \(try seal(fields.line2, "line2", address.id)), \(fields.city), \(fields.region), \(fields.postalCode),
                    \(fields.country), \(try seal(fields.phone, "phone", address.id)), \(address.createdAt), \(address.updatedAt))
            """)
    }

    func update(_ address: Address, on db: any SQLExecutor) async throws {
        let fields = address.fields
        try await db.execute("""
            UPDATE addresses SET recipient = \(fields.recipient), line1 = \(try seal(fields.line1, "line1", address.id)),
                line2 = \(try seal(fields.line2, "line2", address.id)), city = \(fields.city), region = \(fields.region),
                postal_code = \(fields.postalCode), country = \(fields.country),
                phone = \(try seal(fields.phone, "phone", address.id)), updated_at = \(address.updatedAt)
            WHERE id = \(address.id) AND user_id = \(address.userID)
            """)
    }

    func list(of userID: ID<User>, on db: any SQLExecutor) async throws -> [Address] {
        try await db.query("SELECT * FROM addresses WHERE user_id = \(userID) ORDER BY id").map(decode)
    }

    func count(of userID: ID<User>, on db: any SQLExecutor) async throws -> Int {
        try await db.queryFirst("SELECT COUNT(*) AS n FROM addresses WHERE user_id = \(userID)")?.decode("n") ?? 0
    }

    /// The address, if it exists and belongs to the user; someone else's is as absent as a
    /// missing one.
    func find(_ id: ID<Address>, of userID: ID<User>, on db: any SQLExecutor) async throws -> Address? {
        try await db.queryFirst("SELECT * FROM addresses WHERE id = \(id) AND user_id = \(userID)").map(decode)
    }

    func delete(_ id: ID<Address>, of userID: ID<User>, on db: any SQLExecutor) async throws -> Bool {
        try await !db.query("DELETE FROM addresses WHERE id = \(id) AND user_id = \(userID) RETURNING id").isEmpty
    }

    /// Re-encrypts, with the current key, every value sealed with an older one; returns how
    /// many rows changed.
    func rotate(on db: any SQLExecutor) async throws -> Int {
        var changed = 0
        for row in try await db.query("SELECT id, line1, line2, phone FROM addresses") {
            let id: ID<Address> = try row.decode("id")
            let sealed = try Self.encryptedColumns.map { try row.decode($0, as: String?.self) }
            guard sealed.contains(where: { $0.map(cipher.isStale) ?? false }) else { continue }
            let plain = try zip(Self.encryptedColumns, sealed).map { column, value in
                try value.map { try cipher.open($0, context: Self.context(column, id)) }
            }
            try await db.execute("""
                UPDATE addresses SET line1 = \(try seal(plain[0], "line1", id)), line2 = \(try seal(plain[1], "line2", id)),
                    phone = \(try seal(plain[2], "phone", id))
                WHERE id = \(id)
                """)
            changed += 1
        }
        return changed
    }

    private func decode(_ row: SQLRow) throws -> Address {
        let id: ID<Address> = try row.decode("id")
        func open(_ column: String) throws -> String? {
            try row.decode(column, as: String?.self).map { try cipher.open($0, context: Self.context(column, id)) }
        }
        return Address(
            id: id, userID: try row.decode("user_id"),
            fields: AddressFields(
                recipient: try row.decode("recipient"), line1: try open("line1") ?? "", line2: try open("line2"),
                city: try row.decode("city"), region: try row.decode("region"), postalCode: try row.decode("postal_code"),
                country: try row.decode("country"), phone: try open("phone")),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }

    private func seal(_ value: String?, _ column: String, _ id: ID<Address>) throws -> String? {
        try value.map { try cipher.seal($0, context: Self.context(column, id)) }
    }

    private static func context(_ column: String, _ id: ID<Address>) -> String {
        "addresses.\(column):\(id)"
    }
}
