public import EmporiumCore
public import Foundation

/// A credential for another system (an ERP, a warehouse, a script) rather than a person. It
/// may do exactly what its scopes say, never more, and is never a user.
public struct APIKey: Sendable, Equatable {
    public let id: ID<APIKey>
    public let name: String
    /// The first characters of the secret, enough to recognise a key in a list.
    public let prefix: String
    public let scopes: Set<Scope>
    public let createdBy: ID<User>?
    public let createdAt: Date
    public let expiresAt: Date?
    public var revokedAt: Date?

    /// Secrets start with this, so that a key is told from a JWT at a glance (and by secret
    /// scanners).
    static let secretPrefix = "emp_"
    /// How much of the secret the lists show.
    static let shownPrefixLength = secretPrefix.count + 8
}

/// What an API key may do. Routes for people declare a role; routes that other systems may
/// call declare the scope that lets a key in as well.
public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
    case catalogRead = "catalog:read"
    case catalogWrite = "catalog:write"
    case inventoryRead = "inventory:read"
    case inventoryWrite = "inventory:write"
    case ordersRead = "orders:read"
    case ordersWrite = "orders:write"
    case customersRead = "customers:read"
    case reportsRead = "reports:read"

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Who is behind an authenticated request.
public enum Principal: Sendable {
    case user(User)
    case apiKey(APIKey)
    /// A third-party app, for a person who granted it scopes or for itself.
    case app(AppAccess)

    /// How the audit log names this caller.
    var auditActor: AuditLog.Actor {
        switch self {
        case .user(let user): .user(user.id)
        case .apiKey(let key): .apiKey(key.id)
        case .app(let access): .app(access.appID)
        }
    }
}
