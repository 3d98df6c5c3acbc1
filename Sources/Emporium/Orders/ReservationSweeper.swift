import EmporiumCore
import EmporiumStorage
import Foundation
import Logging
import ServiceLifecycle

/// Releases what abandoned orders hold: an order whose payment was never authorized (the
/// provider timed out, the client vanished) is reconciled with the provider once its
/// reservation expires — recorded as paid when the provider did take the money, else cancelled
/// with its stock, discount use and cart given back. Every node runs it; the conditional
/// status change lets exactly one of them settle each order. (Orders placed since payments
/// have reconcile jobs are normally settled by those; this catches the rest.)
struct ReservationSweeper: Service {
    let database: any Database
    let orders: OrderStore
    let service: OrderService
    let clock: any WallClock
    let interval: Duration
    let logger: Logger
    /// When set, sweeping starts once it opens (after migrations).
    var gate: StartGate?

    func run() async throws {
        // Nothing to sweep in a database that never became ready (the process stopped first).
        if let gate, await !gate.wait() { return }
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
            let due = try await orders.list(.init(reservationExpiredBy: now, limit: 100), on: database)
            if due.isEmpty { return released }
            let before = released
            for order in due.prefix(100) {
                guard let payment = try await service.payments.payment(of: order.id, on: database) else { continue }
                do {
                    try await service.reconcile(payment.id)
                } catch let failure as JobFailure {
                    logger.warning("An expired order's payment could not be settled yet", metadata: ["order": "\(order.displayNumber)", "reason": "\(failure)"])
                    continue
                }
                if try await orders.find(order.id, on: database)?.status != .pending { released += 1 }
            }
            // Orders the provider cannot settle yet stay due: stop rather than go round again.
            if due.count <= 100 || released == before { return released }
        }
    }
}
