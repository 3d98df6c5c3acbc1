import EmporiumCore
import Foundation
import HTTPTypes

/// The refusals of a carrier quote, each with what the storefront should do next.
enum ShippingRateProblems {
    static let unknown = Problem(
        .unprocessableContent, slug: "unknown-shipping-rate", title: "Unknown shipping rate",
        detail: "This cart has no shipping rate with this id; choose one of GET /v1/carts/{id}/shipping-options.",
        errors: [.init(pointer: "/rate_id", detail: "names no shipping rate of this cart")])
    static let expired = Problem(
        .conflict, slug: "shipping-rate-expired", title: "Shipping rate expired",
        detail: "The carrier's price for this rate no longer holds; list the cart's shipping options again and choose one.",
        errors: [.init(pointer: "/rate_id", detail: "expired")])
    static let otherVersion = Problem(
        .conflict, slug: "shipping-rate-stale", title: "Shipping rate for another cart version",
        detail: "This rate was quoted for an earlier version of the cart, which has changed since; list the cart's shipping options again and choose one.",
        errors: [.init(pointer: "/rate_id", detail: "quoted for another cart version")])
    static let parcelChanged = Problem(
        .conflict, slug: "shipping-rate-stale", title: "Shipping rate for another cart version",
        detail: "The cart's items or shipping address changed since this rate was quoted; list the cart's shipping options again and choose one.",
        errors: [.init(pointer: "/shipping_method", detail: "the chosen rate no longer prices this cart")])
    static let carrierOff = Problem(
        .conflict, slug: "carrier-not-configured", title: "No carrier configured",
        detail: "Buying a label needs a carrier (--carrier-api-base and --carrier-api-key-file).")
}
