import EmporiumCore
import EmporiumStorage
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/me/addresses`: the signed-in customer's address book.
struct AddressRoutes {
    static let limitPerUser = 50

    let database: any Database
    let store: AddressStore
    let clock: any WallClock
    let ids: any IDGenerator

    struct AddressResponse: ResponseEncodable {
        let id: String
        let fields: AddressFields
        let createdAt: Date
        let updatedAt: Date

        init(_ address: Address) {
            id = address.id.description
            fields = address.fields
            createdAt = address.createdAt
            updatedAt = address.updatedAt
        }

        enum CodingKeys: String, CodingKey {
            case id
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        func encode(to encoder: any Encoder) throws {
            try fields.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(updatedAt, forKey: .updatedAt)
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/me/addresses", access: .customer) { _, context in
            // The whole book fits one page; the shape is that of every list.
            Page(
                try await store.list(of: context.user.id, on: database).map(AddressResponse.init),
                limit: Self.limitPerUser, id: \.id)
        }

        routes.on(.post, "/v1/me/addresses", access: .customer) { request, context in
            let fields = try await request.decodeJSON(as: AddressFields.self, context: context.base).normalized()
            let problems = fields.problems()
            guard problems.isEmpty else { throw Problem.validation(problems) }
            let now = clock.now()
            let address = Address(id: ids.make(), userID: context.user.id, fields: fields, createdAt: now, updatedAt: now)
            try await database.transaction { db in
                guard try await store.count(of: context.user.id, on: db) < Self.limitPerUser else {
                    throw Problem(
                        .conflict, slug: "address-limit", title: "Address book full",
                        detail: "An address book holds at most \(Self.limitPerUser) addresses; delete one first.")
                }
                try await store.insert(address, on: db)
            }
            return EditedResponse(status: .created, response: AddressResponse(address))
        }

        routes.on(.patch, "/v1/me/addresses/:id", access: .customer) { request, context in
            let id = try context.base.pathID(notFound: "No such address.") as ID<Address>
            let patch = try await request.decodeJSON(as: AddressPatch.self, context: context.base)
            return try await database.transaction { db in
                guard var address = try await store.find(id, of: context.user.id, on: db) else {
                    throw Problem.notFound("No such address.")
                }
                address.fields = patch.applied(to: address.fields).normalized()
                let problems = address.fields.problems()
                guard problems.isEmpty else { throw Problem.validation(problems) }
                address.updatedAt = clock.now()
                try await store.update(address, on: db)
                return AddressResponse(address)
            }
        }

        routes.on(.delete, "/v1/me/addresses/:id", access: .customer) { _, context in
            let id = try context.base.pathID(notFound: "No such address.") as ID<Address>
            guard try await store.delete(id, of: context.user.id, on: database) else {
                throw Problem.notFound("No such address.")
            }
            return HTTPResponse.Status.noContent
        }
    }
}
