import EmporiumCore
import EmporiumStorage
import Foundation

/// Reading orders as the API shows them: with their lines and payment.
extension OrderService {
    func find(_ id: ID<Order>) async throws -> Order {
        guard let order = try await store.find(id, on: database) else { throw OrderStore.notFound }
        return order
    }

    /// The customer's own order; anyone else's is as absent as a missing one.
    func find(_ id: ID<Order>, of user: ID<User>) async throws -> Order {
        guard let order = try await store.find(id, of: user, on: database) else { throw OrderStore.notFound }
        return order
    }

    /// The order `token` opens (a guest's); a wrong token is as absent as a missing order.
    func find(_ id: ID<Order>, accessToken token: String) async throws -> Order {
        guard let order = try await store.find(id, accessToken: token, on: database) else { throw OrderStore.notFound }
        return order
    }

    func response(for order: Order) async throws -> OrderResponse {
        OrderResponse(
            order, lines: try await store.lines(of: order.id, on: database),
            payment: try await payments.payment(of: order.id, on: database))
    }

    /// A page of orders with their lines and payments, in three queries.
    func page(_ filter: OrderStore.Filter) async throws -> Page<OrderResponse> {
        let orders = try await store.list(filter, on: database)
        return OrderResponse.page(
            orders, limit: filter.limit, lines: try await store.lines(of: orders, on: database),
            payments: try await payments.payments(of: orders, on: database))
    }
}
