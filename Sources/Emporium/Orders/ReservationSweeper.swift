import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import ServiceLifecycle

/// Releases what abandoned orders hold: an order whose payment was never authorized (the
/// provider timed out, the client vanished) is cancelled once its reservation expires, and its
/// stock, discount use and cart come back. Every node runs it; the conditional status change
/// lets exactly one of them cancel each order.
struct ReservationSweeper: Service {
    let database: any Database
    let orders: OrderStore
    let service: OrderService
    let clock: any WallClock
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let released = try await sweep()
                    if released > 0 { logger.info("Released the stock of \(released) unpaid orders") }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("Releasing unpaid orders failed; retrying later", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Cancels every pending order whose reservation has expired; returns how many.
    @discardableResult
    func sweep() async throws -> Int {
        let now = clock.now()
        var released = 0
        while true {
            let due = try await orders.list(
                where: ["status = 'pending'", "reservation_expires_at <= \(now)"], limit: 100, on: database)
            if due.isEmpty { return released }
            for order in due.prefix(100) {
                let cancelled = try await database.transaction { db in
                    try await service.cancelUnpaid(order, reason: "payment_not_authorized", failureCode: nil, on: db)
                }
                if cancelled { released += 1 }
            }
            if due.count <= 100 { return released }
        }
    }
}
