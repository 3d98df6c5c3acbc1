import EmporiumCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/admin/apps`: admins register third-party apps (a confidential app's secret is shown
/// once), list and delete them. Deleting an app revokes every grant it holds.
struct OAuthAppRoutes {
    static let maxRedirectURIs = 10

    let service: OAuthService

    struct CreateInput: Decodable {
        let name: String
        let clientType: String
        let redirectURIs: [String]
        let scopes: [String]
        let grantTypes: [String]?

        enum CodingKeys: String, CodingKey {
            case name, scopes
            case clientType = "client_type"
            case redirectURIs = "redirect_uris"
            case grantTypes = "grant_types"
        }
    }

    struct AppResponse: ResponseEncodable {
        let id: String
        let name: String
        let clientType: String
        let redirectURIs: [String]
        let scopes: [String]
        let grantTypes: [String]
        let createdAt: String
        /// Only in the answer that registers a confidential app.
        let clientSecret: String?

        enum CodingKeys: String, CodingKey {
            case id, name, scopes
            case clientID = "client_id"
            case clientType = "client_type"
            case redirectURIs = "redirect_uris"
            case grantTypes = "grant_types"
            case createdAt = "created_at"
            case clientSecret = "client_secret"
        }

        init(_ app: OAuthApp, secret: String? = nil) {
            id = app.id.description
            name = app.name
            clientType = app.clientType.rawValue
            redirectURIs = app.redirectURIs
            scopes = app.scopes.sorted().map(\.rawValue)
            grantTypes = app.grantTypes.sorted().map(\.rawValue)
            createdAt = Timestamp.string(from: app.createdAt)
            clientSecret = secret
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(id, forKey: .clientID)
            try container.encode(name, forKey: .name)
            try container.encode(clientType, forKey: .clientType)
            try container.encode(redirectURIs, forKey: .redirectURIs)
            try container.encode(scopes, forKey: .scopes)
            try container.encode(grantTypes, forKey: .grantTypes)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encodeIfPresent(clientSecret, forKey: .clientSecret)
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.post, "/v1/admin/apps", access: .admin) { request, context in
            let input = try await request.decodeJSON(as: CreateInput.self, context: context.base)
            let (app, secret) = try await service.register(try Self.validated(input), by: context.user, origin: context.origin)
            return EditedResponse(status: .created, response: AppResponse(app, secret: secret))
        }
        routes.on(.get, "/v1/admin/apps", access: .admin) { request, _ in
            let page = try PageRequest(request)
            return Page(try await service.apps(after: page.after, limit: page.limit + 1).map { AppResponse($0) }, limit: page.limit, id: \.id)
        }
        routes.on(.delete, "/v1/admin/apps/:id", access: .admin) { _, context in
            let id: ID<OAuthApp> = try context.base.pathID(notFound: "There is no app with this id.")
            try await service.delete(id, by: context.user, origin: context.origin)
            return HTTPResponse.Status.noContent
        }
        ConnectedAppRoutes(service: service).register(on: routes)
    }

    static func validated(_ input: CreateInput) throws -> OAuthService.Registration {
        let name = input.name.trimmingCharacters(in: .whitespacesAndNewlines)
        var errors: [Problem.FieldError] = []
        if let problem = AccountRules.nameProblem(name) { errors.append(.init(pointer: "/name", detail: problem)) }
        let clientType = OAuthApp.ClientType(rawValue: input.clientType)
        if clientType == nil { errors.append(.init(pointer: "/client_type", detail: "must be confidential or public")) }
        for (index, uri) in input.redirectURIs.enumerated() {
            if let problem = RedirectURIRules.problem(uri) { errors.append(.init(pointer: "/redirect_uris/\(index)", detail: problem)) }
        }
        var scopes = Set<Scope>()
        if input.scopes.isEmpty { errors.append(.init(pointer: "/scopes", detail: "must name at least one scope")) }
        for (index, text) in input.scopes.enumerated() {
            if let scope = Scope(rawValue: text) {
                scopes.insert(scope)
            } else {
                errors.append(.init(
                    pointer: "/scopes/\(index)", detail: "must be one of " + Scope.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        var grantTypes = Set<OAuthApp.GrantType>()
        let names = input.grantTypes ?? [OAuthApp.GrantType.authorizationCode.rawValue]
        if names.isEmpty { errors.append(.init(pointer: "/grant_types", detail: "must name at least one grant type")) }
        for (index, text) in names.enumerated() {
            if let grantType = OAuthApp.GrantType(rawValue: text) {
                grantTypes.insert(grantType)
            } else {
                errors.append(.init(pointer: "/grant_types/\(index)", detail: "must be authorization_code or client_credentials"))
            }
        }
        let least = grantTypes.contains(.authorizationCode) ? 1 : 0
        if input.redirectURIs.count < least || input.redirectURIs.count > maxRedirectURIs {
            errors.append(.init(pointer: "/redirect_uris", detail: "must list \(least) to \(maxRedirectURIs) redirect URIs"))
        }
        if grantTypes.contains(.clientCredentials), clientType == .public {
            errors.append(.init(pointer: "/grant_types", detail: "client_credentials needs a confidential app"))
        }
        guard errors.isEmpty, let clientType else { throw Problem.validation(errors) }
        var unique: [String] = []
        for uri in input.redirectURIs where !unique.contains(uri) { unique.append(uri) }
        return .init(name: name, clientType: clientType, redirectURIs: unique, scopes: scopes, grantTypes: grantTypes)
    }
}

/// The OAuth 2.0 endpoints: the consent page (`/oauth/authorize`), the token endpoint, token
/// revocation and the authorization server metadata. Their errors follow the OAuth RFCs
/// rather than problem documents, since OAuth clients parse those.
struct OAuthRoutes {
    let service: OAuthService
    let page: ConsentPage

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/oauth/authorize", access: .anonymous) { request, _ in
            do {
                return page.consent(try await service.beginAuthorization(OAuthForm.query(of: request)))
            } catch let failure as OAuthService.AuthorizationFailure {
                return respond(failure)
            }
        }

        routes.on(.post, "/oauth/authorize", access: .anonymous) { request, context in
            let form = try await OAuthForm.body(of: request, context: context)
            guard let token = form["request_token"], let consent = try await service.pendingConsent(token) else {
                return page.failure("This consent request was answered before or has expired. Start again from the app.")
            }
            let decision: OAuthService.Decision
            switch form["decision"] {
            case "deny": decision = .deny
            case "allow":
                guard let email = form["email"], let password = form["password"] else {
                    return page.consent(consent, error: "Enter your e-mail address and password.", status: .badRequest)
                }
                decision = .allow(email: email, password: password, oneTimeCode: form["otp"])
            default:
                return page.consent(consent, error: "Choose Allow or Deny.", status: .badRequest)
            }
            do {
                return Self.seeOther(try await service.decide(consent, decision, origin: context.origin))
            } catch let failure as OAuthService.AuthorizationFailure {
                return respond(failure)
            } catch let problem as Problem {
                // Sign-in failed: the same page again, with why, the request still open.
                return page.consent(consent, error: problem.detail ?? problem.title, status: problem.status)
            }
        }

        routes.on(.post, "/oauth/token", access: .anonymous) { request, context in
            let authorization = request.headers[.authorization]
            do {
                let form = try await OAuthForm.body(of: request, context: context)
                return Self.json(try await service.token(form, authorization: authorization))
            } catch let error as OAuthError {
                return error.response(basicAttempted: authorization?.lowercased().hasPrefix("basic ") == true)
            }
        }

        routes.on(.post, "/oauth/revoke", access: .anonymous) { request, context in
            let authorization = request.headers[.authorization]
            do {
                try await service.revoke(try await OAuthForm.body(of: request, context: context), authorization: authorization)
                return Response(status: .ok, headers: [.cacheControl: "no-store"])
            } catch let error as OAuthError {
                return error.response(basicAttempted: authorization?.lowercased().hasPrefix("basic ") == true)
            }
        }

        routes.on(.get, "/.well-known/oauth-authorization-server", access: .anonymous) { request, _ in
            Self.json(Self.metadata(issuer: Self.issuer(request)), cacheControl: "public, max-age=3600")
        }
    }

    private func respond(_ failure: OAuthService.AuthorizationFailure) -> Response {
        switch failure {
        case .page(let message):
            return page.failure(message)
        case .redirect(let uri, let error, let description, let state):
            var parameters = ["error": error, "error_description": description]
            parameters["state"] = state
            return Self.seeOther(OAuthService.redirect(uri, parameters))
        }
    }

    static func seeOther(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func json(_ value: some Encodable, cacheControl: String = "no-store") -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data()
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: cacheControl],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// This server's URL as the client reached it: https, except on the loopback interface.
    /// Behind a proxy the `Host` it forwards is the public one.
    static func issuer(_ request: Request) -> String {
        let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? "localhost"
        let name = host.split(separator: ":").first.map(String.init) ?? host
        let local = ["localhost", "127.0.0.1", "[", "emporium.test"].contains { name.hasPrefix($0) }
        return (local ? "http://" : "https://") + host
    }

    struct Metadata: Encodable {
        let issuer: String
        let authorizationEndpoint: String
        let tokenEndpoint: String
        let revocationEndpoint: String
        let responseTypesSupported = ["code"]
        let grantTypesSupported = ["authorization_code", "refresh_token", "client_credentials"]
        let codeChallengeMethodsSupported = ["S256"]
        let tokenEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "none"]
        let revocationEndpointAuthMethodsSupported = ["client_secret_basic", "client_secret_post", "none"]
        let scopesSupported = Scope.allCases.map(\.rawValue)

        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case revocationEndpoint = "revocation_endpoint"
            case responseTypesSupported = "response_types_supported"
            case grantTypesSupported = "grant_types_supported"
            case codeChallengeMethodsSupported = "code_challenge_methods_supported"
            case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
            case revocationEndpointAuthMethodsSupported = "revocation_endpoint_auth_methods_supported"
            case scopesSupported = "scopes_supported"
        }
    }

    static func metadata(issuer: String) -> Metadata {
        Metadata(
            issuer: issuer, authorizationEndpoint: issuer + "/oauth/authorize", tokenEndpoint: issuer + "/oauth/token",
            revocationEndpoint: issuer + "/oauth/revoke")
    }
}
