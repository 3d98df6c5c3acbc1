import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/auth/*` and `/v1/me`.
struct AccountRoutes {
    let service: AccountService
    let passwordReset: PasswordReset

    struct ResetRequestInput: Decodable {
        let email: String
    }

    struct ResetConfirmInput: Decodable {
        let token: String
        let password: String
    }

    struct RegisterInput: Decodable {
        let email: String
        let password: String
        let name: String
    }

    struct LoginInput: Decodable {
        let email: String
        let password: String
        let totp: String?
    }

    struct CodeInput: Decodable {
        let code: String
    }

    struct MFASetupResponse: ResponseEncodable {
        let secret: String
        let otpauthURI: String

        enum CodingKeys: String, CodingKey {
            case secret
            case otpauthURI = "otpauth_uri"
        }
    }

    struct RefreshInput: Decodable {
        let refreshToken: String

        enum CodingKeys: String, CodingKey {
            case refreshToken = "refresh_token"
        }
    }

    /// Fields a user may change about themselves; anything else in the body (a role, an id)
    /// is ignored.
    struct ProfileInput: Decodable {
        let name: String?
    }

    struct SessionResponse: ResponseEncodable {
        let user: UserResponse
        let accessToken: String
        let refreshToken: String
        let tokenType = "Bearer"
        let expiresIn = Int(AccessTokens.lifetime)

        enum CodingKeys: String, CodingKey {
            case user
            case accessToken = "access_token"
            case refreshToken = "refresh_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
        }

        init(_ session: AccountService.Session) {
            user = UserResponse(session.user)
            accessToken = session.accessToken
            refreshToken = session.refreshToken
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.post("/v1/auth/register") { request, context in
            let input = try await request.decodeJSON(as: RegisterInput.self, context: context)
            let session = try await service.register(
                email: input.email, password: input.password, name: input.name, origin: context.origin)
            return EditedResponse(status: .created, response: SessionResponse(session))
        }

        routes.post("/v1/auth/login") { request, context in
            let input = try await request.decodeJSON(as: LoginInput.self, context: context)
            return SessionResponse(
                try await service.login(email: input.email, password: input.password, totp: input.totp, origin: context.origin))
        }

        routes.post("/v1/auth/refresh") { request, context in
            let input = try await request.decodeJSON(as: RefreshInput.self, context: context)
            return SessionResponse(try await service.refresh(input.refreshToken, origin: context.origin))
        }

        routes.post("/v1/auth/logout") { request, context in
            let input = try await request.decodeJSON(as: RefreshInput.self, context: context)
            try await service.logout(input.refreshToken, origin: context.origin)
            return HTTPResponse.Status.noContent
        }

        routes.on(.post, "/v1/auth/logout-everywhere", access: .customer) { _, context in
            try await service.signOutEverywhere(context.user, origin: context.origin)
            return HTTPResponse.Status.noContent
        }

        routes.post("/v1/auth/password-reset") { request, context in
            let input = try await request.decodeJSON(as: ResetRequestInput.self, context: context)
            try await passwordReset.request(email: input.email, origin: context.origin)
            return HTTPResponse.Status.accepted
        }

        routes.post("/v1/auth/password-reset/confirm") { request, context in
            let input = try await request.decodeJSON(as: ResetConfirmInput.self, context: context)
            try await passwordReset.confirm(token: input.token, newPassword: input.password, origin: context.origin)
            return HTTPResponse.Status.noContent
        }

        routes.on(.post, "/v1/me/mfa/setup", access: .customer) { _, context in
            let (secret, uri) = try await service.beginTwoFactor(for: context.user)
            return MFASetupResponse(secret: secret, otpauthURI: uri)
        }

        routes.on(.post, "/v1/me/mfa/enable", access: .customer) { request, context in
            let input = try await request.decodeJSON(as: CodeInput.self, context: context.base)
            try await service.enableTwoFactor(for: context.user, code: input.code, origin: context.origin)
            return HTTPResponse.Status.noContent
        }

        routes.on(.post, "/v1/me/mfa/disable", access: .customer) { request, context in
            let input = try await request.decodeJSON(as: CodeInput.self, context: context.base)
            try await service.disableTwoFactor(for: context.user, code: input.code, origin: context.origin)
            return HTTPResponse.Status.noContent
        }

        routes.on(.get, "/v1/me", access: .customer) { _, context in
            EncodableUser(UserResponse(context.user))
        }

        routes.on(.patch, "/v1/me", access: .customer) { request, context in
            let input = try await request.decodeJSON(as: ProfileInput.self, context: context.base)
            guard let name = input.name else { return EncodableUser(UserResponse(context.user)) }
            return EncodableUser(UserResponse(try await service.rename(context.user, to: name)))
        }
    }
}

struct EncodableUser: ResponseEncodable {
    let user: UserResponse
    init(_ user: UserResponse) { self.user = user }
    func encode(to encoder: any Encoder) throws { try user.encode(to: encoder) }
}

extension AppRequestContext {
    var origin: RequestOrigin { RequestOrigin(clientAddress: clientAddress, requestID: requestID) }
}

extension AccountRoutes.RegisterInput: CheckedBody {
    /// The service checks the same rules; here they join the shape's faults in one answer.
    func check(into errors: inout FieldErrors) {
        errors.add(AccountRules.problems(
            email: AccountRules.normalizedEmail(email), password: password,
            name: name.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
