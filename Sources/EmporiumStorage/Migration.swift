/// One forward-only schema change. Versions are consecutive from 1 and never reused;
/// a released migration is never edited, only followed by a new one.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// The statements, which may differ per engine (FTS5 against tsvector, say).
    public let statements: @Sendable (SQLDialect) -> [SQL]

    public init(version: Int, name: String, statements: @escaping @Sendable (SQLDialect) -> [SQL]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// A migration whose statements are the same on both engines.
    public init(version: Int, name: String, _ statements: [SQL]) {
        self.init(version: version, name: name, statements: { _ in statements })
    }
}

public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The database was migrated by a newer Emporium than this one.
    case databaseIsNewer(databaseVersion: Int, binaryVersion: Int)
    /// The database recorded a different migration under a version this binary knows.
    case mismatch(version: Int, recorded: String, expected: String)
    /// The list of migrations in the binary is not numbered 1, 2, 3, ….
    case invalidSequence(String)

    public var description: String {
        switch self {
        case .databaseIsNewer(let databaseVersion, let binaryVersion):
            "the database schema is at version \(databaseVersion) but this emporium knows versions up to \(binaryVersion); run a newer emporium (downgrades are not supported)"
        case .mismatch(let version, let recorded, let expected):
            "schema version \(version) was recorded as '\(recorded)' but this emporium calls it '\(expected)'; the database belongs to a different build"
        case .invalidSequence(let reason):
            "the migration list is invalid: \(reason)"
        }
    }
}
