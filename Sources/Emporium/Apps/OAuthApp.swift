public import EmporiumCore
public import Foundation

/// A third-party application registered by an admin. It acts for a person who granted it
/// scopes on the consent page, or for itself (client credentials) with the scopes it was
/// registered with.
public struct OAuthApp: Sendable, Equatable {
    public enum ClientType: String, Sendable, Codable {
        /// Keeps a secret on a server; authenticates at the token endpoint.
        case confidential
        /// A native or browser app that cannot keep a secret; PKCE alone binds its codes.
        case `public`
    }

    /// How an app may obtain tokens, fixed at registration: an app that people grant access to
    /// cannot also take tokens for itself, and the other way round, unless registered for both.
    public enum GrantType: String, Sendable, Codable, CaseIterable, Comparable {
        /// For a person, on the consent page; refresh tokens come with it.
        case authorizationCode = "authorization_code"
        /// For the app itself, with its own scopes (confidential apps only).
        case clientCredentials = "client_credentials"

        public static func < (lhs: GrantType, rhs: GrantType) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public let id: ID<OAuthApp>
    public let name: String
    public let clientType: ClientType
    public let redirectURIs: [String]
    public let scopes: Set<Scope>
    public let grantTypes: Set<GrantType>
    public let createdBy: ID<User>?
    public let createdAt: Date
    public var deletedAt: Date?

    /// Client secrets start with this, so that they are told from other credentials at a glance.
    static let secretPrefix = "emp_cs_"
}

/// One app's standing permission: the scopes someone granted (or, for client credentials, the
/// app's own), and who granted them. Refresh tokens of one grant form a family; revoking the
/// grant ends every token issued under it.
struct OAuthGrant: Sendable, Equatable {
    let id: ID<OAuthGrant>
    let appID: ID<OAuthApp>
    /// The person the app acts for; `nil` for client credentials.
    let userID: ID<User>?
    let scopes: Set<Scope>
    let createdAt: Date
    var revokedAt: Date?
}

/// What an app token lets its holder do, resolved afresh on every request: the scopes still
/// granted and still registered for the app, and the person it acts for as they are now.
public struct AppAccess: Sendable {
    public let appID: ID<OAuthApp>
    public let scopes: Set<Scope>
    /// The person the app acts for; `nil` when it acts for itself.
    public let user: User?
}

/// Which scopes a person may grant an app: a customer only the reading of their own orders,
/// people who run the shop any scope (routes still check their role on every request).
enum GrantableScopes {
    static func allowed(for role: Role) -> Set<Scope> {
        switch role {
        case .customer: [.ordersRead]
        case .staff, .admin: Set(Scope.allCases)
        }
    }
}

/// Redirect URIs are compared exactly. They must be absolute https URLs without a fragment;
/// native apps may use plain http on the loopback interface (RFC 8252 §7.3).
enum RedirectURIRules {
    static func problem(_ text: String) -> String? {
        guard text.count <= 2000, let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else { return "must be an absolute URL" }
        if components.fragment != nil { return "must not have a fragment" }
        if components.user != nil || components.password != nil { return "must not carry credentials" }
        switch scheme {
        case "https": return nil
        case "http" where ["127.0.0.1", "localhost", "[::1]", "::1"].contains(host.lowercased()): return nil
        default: return "must use https (plain http only on 127.0.0.1 or localhost)"
        }
    }
}
