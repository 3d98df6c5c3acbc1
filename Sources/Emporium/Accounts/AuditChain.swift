import Crypto
import EmporiumCore
public import EmporiumStorage
import Foundation

/// The hash chain over the audit log, and its check.
///
/// Entry n stores `entry_hash = SHA-256(entry_hash of n-1 ‖ n ‖ content)`, where the content is
/// every column as written, each length-prefixed so that no two contents encode alike. The head
/// (`audit_chain`, one row) holds the last sequence and hash: appending locks it, so entries are
/// chained in commit order on every node, and removing the newest entries shows as a head that
/// points past the end. Anyone who can rewrite the table and the head together can forge a
/// consistent chain; keep an outside copy of `audit verify`'s head line to detect that too.
enum AuditChain {
    /// The hash the first entry follows.
    static let genesis = String(repeating: "0", count: 64)

    static let schema: [SQL] = [
        "ALTER TABLE audit_log ADD COLUMN chain_sequence BIGINT",
        "ALTER TABLE audit_log ADD COLUMN previous_hash TEXT",
        "ALTER TABLE audit_log ADD COLUMN entry_hash TEXT",
        "CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_sequence)",
        """
        CREATE TABLE audit_chain (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_sequence BIGINT NOT NULL,
            last_hash TEXT NOT NULL
        )
        """,
        "INSERT INTO audit_chain (id, last_sequence, last_hash) VALUES (1, 0, \(unsafeRaw: "'\(genesis)'"))",
    ]

    /// The columns of an entry as they are stored.
    struct Content: Sendable {
        let id: String
        let occurredAt: String
        let actorID: String?
        let actorType: String?
        let action: String
        let target: String?
        let clientAddress: String?
        let requestID: String?

        fileprivate var encoded: Data {
            var data = Data()
            for field in [id, occurredAt, actorID, actorType, action, target, clientAddress, requestID] {
                guard let field else {
                    data.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])
                    continue
                }
                let bytes = Array(field.utf8)
                withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { data.append(contentsOf: $0) }
                data.append(contentsOf: bytes)
            }
            return data
        }
    }

    struct Link: Sendable, Equatable {
        let sequence: Int64
        let hash: String

        func next(_ content: Content) -> Link {
            Link(sequence: sequence + 1, hash: AuditChain.hash(previous: hash, sequence: sequence + 1, content: content))
        }
    }

    static func hash(previous: String, sequence: Int64, content: Content) -> String {
        var input = Data(previous.utf8)
        withUnsafeBytes(of: sequence.bigEndian) { input.append(contentsOf: $0) }
        input.append(content.encoded)
        return Hex.string(SHA256.hash(data: input))
    }

    /// The head, locked until the transaction ends (SQLite's single writer locks it anyway).
    static func lockHead(on db: any SQLExecutor) async throws -> Link {
        let lock: SQL = db.dialect == .postgres ? " FOR UPDATE" : ""
        guard let row = try await db.queryFirst("SELECT last_sequence, last_hash FROM audit_chain WHERE id = 1\(lock)") else {
            throw DatabaseError.decoding(column: "audit_chain", expected: "the chain's head row", found: "no row")
        }
        return Link(sequence: try row.decode("last_sequence"), hash: try row.decode("last_hash"))
    }

    static func moveHead(to link: Link, on db: any SQLExecutor) async throws {
        try await db.execute("UPDATE audit_chain SET last_sequence = \(link.sequence), last_hash = \(link.hash) WHERE id = 1")
    }

    /// What `verify` found.
    enum Verdict: Sendable, Equatable {
        /// Every entry from 1 to the head is present and unchanged.
        case intact(entries: Int64, head: String, unchained: Int)
        /// The first entry that was changed (its content no longer gives its hash).
        case changed(sequence: Int64, id: String)
        /// The first entry missing from the chain.
        case removed(sequence: Int64)
    }

    /// Walks the chain in order, a page at a time, up to the head as it was when the walk began.
    static func verify(on db: any SQLExecutor, pageSize: Int = 1000) async throws -> Verdict {
        guard let row = try await db.queryFirst("SELECT last_sequence, last_hash FROM audit_chain WHERE id = 1") else {
            return .removed(sequence: 0)
        }
        let head = Link(sequence: try row.decode("last_sequence"), hash: try row.decode("last_hash"))
        var previous = Link(sequence: 0, hash: genesis)
        while previous.sequence < head.sequence {
            let rows = try await db.query("""
                SELECT * FROM audit_log WHERE chain_sequence > \(previous.sequence)
                ORDER BY chain_sequence LIMIT \(pageSize)
                """)
            guard !rows.isEmpty else { return .removed(sequence: previous.sequence + 1) }
            for row in rows {
                let sequence: Int64 = try row.decode("chain_sequence")
                guard sequence <= head.sequence else { break }
                guard sequence == previous.sequence + 1 else { return .removed(sequence: previous.sequence + 1) }
                let content = Content(
                    id: try row.decode("id"), occurredAt: try row.decode("occurred_at"), actorID: try row.decode("actor_id"),
                    actorType: try row.decode("actor_type"), action: try row.decode("action"), target: try row.decode("target"),
                    clientAddress: try row.decode("client_address"), requestID: try row.decode("request_id"))
                let expected = previous.next(content)
                guard try row.decode("previous_hash", as: String.self) == previous.hash,
                    try row.decode("entry_hash", as: String.self) == expected.hash
                else { return .changed(sequence: sequence, id: content.id) }
                previous = expected
            }
        }
        guard previous.hash == head.hash else { return .changed(sequence: head.sequence, id: "(the chain's head)") }
        let unchained = try await db.queryFirst("SELECT count(*) AS n FROM audit_log WHERE chain_sequence IS NULL")
        return .intact(entries: head.sequence, head: head.hash, unchained: try unchained?.decode("n", as: Int.self) ?? 0)
    }
}

/// What `emporium audit verify` reports.
public struct AuditVerdict: Sendable, CustomStringConvertible {
    let verdict: AuditChain.Verdict

    public var isIntact: Bool {
        if case .intact = verdict { return true }
        return false
    }

    public var description: String {
        switch verdict {
        case .intact(let entries, let head, let unchained):
            "The audit log is intact: \(entries) chained entries, head \(head)."
                + (unchained > 0 ? " \(unchained) entries from before the chain began are not covered." : "")
        case .changed(let sequence, let id):
            "The audit log was tampered with: the chain breaks at entry \(sequence) (id \(id)); it or the entry before it was changed."
        case .removed(let sequence):
            "The audit log was tampered with: entry \(sequence) of the chain is missing."
        }
    }
}

/// Checks the audit log's hash chain (the `audit verify` command).
public func verifyAuditLog(_ database: any Database) async throws -> AuditVerdict {
    AuditVerdict(verdict: try await AuditChain.verify(on: database))
}
