import EmporiumCore
import EmporiumStorage
import Foundation

/// Reads what a parcel is made of: the variants' weights and dimensions and the stock location
/// it would leave from. Reads only; the catalog and inventory stores write these tables.
struct ParcelStore: Sendable {
    /// A cart's lines as a parcel to `destination`, leaving from the location checkout would
    /// reserve the first line at (the first by id holding enough of it, as
    /// `InventoryStore.reserve` picks).
    func parcel(
        of lines: [(variant: ID<Variant>, quantity: Int64)], to destination: AddressFields, on db: any SQLExecutor
    ) async throws -> Parcel {
        var origin: Parcel.Origin?
        if let first = lines.min(by: { $0.variant < $1.variant }) {
            origin = try await db.queryFirst("""
                SELECT s.code, s.name FROM inventory_levels l JOIN stock_locations s ON s.id = l.location_id
                WHERE l.variant_id = \(first.variant) AND l.on_hand - l.reserved >= \(first.quantity)
                ORDER BY l.location_id LIMIT 1
                """).map { Parcel.Origin(code: try $0.decode("code"), name: try $0.decode("name")) }
        }
        return try await parcel(of: lines, from: origin, to: destination, on: db)
    }

    /// The lines as a parcel leaving from a known location (a fulfilment's).
    func parcel(
        of lines: [(variant: ID<Variant>, quantity: Int64)], from location: ID<StockLocation>, to destination: AddressFields,
        on db: any SQLExecutor
    ) async throws -> Parcel {
        let origin = try await db.queryFirst("SELECT code, name FROM stock_locations WHERE id = \(location)")
            .map { Parcel.Origin(code: try $0.decode("code"), name: try $0.decode("name")) }
        return try await parcel(of: lines, from: origin, to: destination, on: db)
    }

    private func parcel(
        of lines: [(variant: ID<Variant>, quantity: Int64)], from origin: Parcel.Origin?, to destination: AddressFields,
        on db: any SQLExecutor
    ) async throws -> Parcel {
        var weight: Int64 = 0
        var sized: [(dimensions: Parcel.Dimensions?, quantity: Int64)] = []
        for line in lines {
            guard let row = try await db.queryFirst("""
                SELECT weight_grams, length_mm, width_mm, height_mm FROM variants WHERE id = \(line.variant)
                """)
            else {
                // A variant deleted since: its size is unknown, so is the box's.
                sized.append((nil, line.quantity))
                continue
            }
            weight += try row.decode("weight_grams", as: Int64.self) * line.quantity
            let length: Int64? = try row.decode("length_mm"), width: Int64? = try row.decode("width_mm")
            let height: Int64? = try row.decode("height_mm")
            if let length, let width, let height {
                sized.append((Parcel.Dimensions(lengthMM: length, widthMM: width, heightMM: height), line.quantity))
            } else {
                sized.append((nil, line.quantity))
            }
        }
        return Parcel(weightGrams: weight, dimensions: Parcel.box(sized), origin: origin, destination: destination)
    }
}
