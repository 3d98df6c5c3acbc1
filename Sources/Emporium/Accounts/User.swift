public import EmporiumCore
public import Foundation

/// A person with an account: a customer, or someone who runs the shop.
public struct User: Sendable, Equatable {
    public let id: ID<User>
    public var email: String
    public var name: String
    public var role: Role
    public let createdAt: Date
    public var updatedAt: Date
    /// Raised by a password reset, a role change and sign-out everywhere; access tokens issued
    /// under an earlier generation are refused.
    public internal(set) var tokenGeneration: Int64 = 0
}

/// What a user may do. Each role includes what the ones before it may do.
public enum Role: String, Sendable, Codable, Comparable, CaseIterable {
    case customer
    case staff
    case admin

    private var rank: Int {
        switch self {
        case .customer: 0
        case .staff: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// The user as the API shows it: never the password hash.
struct UserResponse: Codable, Sendable {
    let id: String
    let email: String
    let name: String
    let role: Role
    let createdAt: Date
    let updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, email, name, role
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(_ user: User) {
        id = user.id.description
        email = user.email
        name = user.name
        role = user.role
        createdAt = user.createdAt
        updatedAt = user.updatedAt
    }
}
