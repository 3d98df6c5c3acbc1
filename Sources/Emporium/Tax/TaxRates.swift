import EmporiumCore
import EmporiumStorage
import Foundation
import Hummingbird

/// A tax rate for a country, or for one region of it (a US state, a Canadian province).
struct TaxRateEntry: Sendable, Equatable {
    let id: ID<TaxRateEntry>
    var country: String
    /// Empty for the rate of the whole country.
    var region: String
    var name: String
    var rate: TaxRate
    let createdAt: Date
    var updatedAt: Date
}

extension TaxRateEntry {
    /// The rate for a destination among `rates`: the region's own when there is one, else the
    /// country's. The one rule for choosing a rate, from memory or from the table.
    static func best(in rates: [TaxRateEntry], country: String, region: String?) -> TaxRateEntry? {
        let region = region?.uppercased() ?? ""
        let matching = rates.filter { $0.country == country && ($0.region.isEmpty || $0.region == region) }
        return matching.first { !$0.region.isEmpty } ?? matching.first
    }
}

/// The `tax_rates` table.
struct TaxRateStore: Sendable {
    /// The rate for a destination (`TaxRateEntry.best` among the country's rates).
    func rate(country: String, region: String?, on db: any SQLExecutor) async throws -> TaxRateEntry? {
        let rows = try await db.query("""
            SELECT * FROM tax_rates WHERE country = \(country) AND (region = '' OR region = \(region?.uppercased() ?? ""))
            """)
        return TaxRateEntry.best(in: try rows.map(Self.decode), country: country, region: region)
    }

    func all(on db: any SQLExecutor) async throws -> [TaxRateEntry] {
        try await db.query("SELECT * FROM tax_rates ORDER BY country, region").map(Self.decode)
    }

    func find(_ id: ID<TaxRateEntry>, on db: any SQLExecutor) async throws -> TaxRateEntry? {
        try await db.queryFirst("SELECT * FROM tax_rates WHERE id = \(id)").map(Self.decode)
    }

    func save(_ entry: TaxRateEntry, on db: any SQLExecutor) async throws {
        try await db.execute("""
            INSERT INTO tax_rates (id, country, region, name, rate_ppm, created_at, updated_at)
            VALUES (\(entry.id), \(entry.country), \(entry.region), \(entry.name), \(entry.rate.partsPerMillion),
                    \(entry.createdAt), \(entry.updatedAt))
            ON CONFLICT (id) DO UPDATE SET country = excluded.country, region = excluded.region, name = excluded.name,
                rate_ppm = excluded.rate_ppm, updated_at = excluded.updated_at
            """)
    }

    func delete(_ id: ID<TaxRateEntry>, on db: any SQLExecutor) async throws -> Bool {
        try await !db.query("DELETE FROM tax_rates WHERE id = \(id) RETURNING id").isEmpty
    }

    static func decode(_ row: SQLRow) throws -> TaxRateEntry {
        let ppm: Int64 = try row.decode("rate_ppm")
        guard let rate = TaxRate(partsPerMillion: ppm) else {
            throw DatabaseError.decoding(column: "rate_ppm", expected: "0 to 1000000", found: String(ppm))
        }
        return TaxRateEntry(
            id: try row.decode("id"), country: try row.decode("country"), region: try row.decode("region"),
            name: try row.decode("name"), rate: rate, createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"))
    }
}

/// `/v1/admin/tax-rates`: admins keep the rates checkout charges. A rate is in parts per
/// million (`rate_ppm`: 19 % is 190000, 8.875 % is 88750) so that every rate is exact.
struct TaxRateRoutes {
    let database: any Database
    let store: TaxRateStore
    let audit: AuditLog
    let clock: any WallClock
    let ids: any IDGenerator

    struct Input: Codable, Sendable {
        var country: String?
        var region: String?
        var name: String?
        var ratePPM: Int64?

        enum CodingKeys: String, CodingKey {
            case country, region, name
            case ratePPM = "rate_ppm"
        }
    }

    struct RateResponse: ResponseEncodable, Sendable {
        let id: String
        let country: String
        @NullEncoded var region: String?
        let name: String
        let ratePPM: Int64
        let rate: String
        let createdAt: String
        let updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id, country, region, name, rate
            case ratePPM = "rate_ppm"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ entry: TaxRateEntry) {
            id = entry.id.description
            country = entry.country
            region = entry.region.isEmpty ? nil : entry.region
            name = entry.name
            ratePPM = entry.rate.partsPerMillion
            rate = entry.rate.description
            createdAt = Timestamp.string(from: entry.createdAt)
            updatedAt = Timestamp.string(from: entry.updatedAt)
        }
    }

    func register(on routes: RouteRegistrar) {
        routes.on(.get, "/v1/admin/tax-rates", access: .admin) { _, _ in
            Page(try await store.all(on: database).map(RateResponse.init), limit: Int.max, id: \.id)
        }
        routes.on(.post, "/v1/admin/tax-rates", access: .admin) { request, context in
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            let now = clock.now()
            let entry = try Self.entry(from: input, id: ids.make(), createdAt: now, updatedAt: now)
            try await save(entry, action: "tax_rate.created", by: context)
            return EditedResponse(status: .created, response: RateResponse(entry))
        }
        routes.on(.put, "/v1/admin/tax-rates/:id", access: .admin) { request, context in
            let id: ID<TaxRateEntry> = try context.base.pathID(notFound: "There is no such tax rate.")
            let input = try await request.decodeStrictJSON(as: Input.self, context: context.base).value
            guard let existing = try await store.find(id, on: database) else { throw Problem.notFound("There is no such tax rate.") }
            let entry = try Self.entry(from: input, id: id, createdAt: existing.createdAt, updatedAt: clock.now())
            try await save(entry, action: "tax_rate.updated", by: context)
            return RateResponse(entry)
        }
        routes.on(.delete, "/v1/admin/tax-rates/:id", access: .admin) { _, context in
            let id: ID<TaxRateEntry> = try context.base.pathID(notFound: "There is no such tax rate.")
            try await database.transaction { db in
                guard try await store.delete(id, on: db) else { throw Problem.notFound("There is no such tax rate.") }
                try await audit.record(.init(actor: context.actor, action: "tax_rate.deleted", target: id.description, origin: context.origin), on: db)
            }
            return Response(status: .noContent)
        }
    }

    private func save(_ entry: TaxRateEntry, action: String, by context: AuthenticatedContext) async throws {
        do {
            try await database.transaction { db in
                try await store.save(entry, on: db)
                try await audit.record(.init(actor: context.actor, action: action, target: entry.id.description, origin: context.origin), on: db)
            }
        } catch DatabaseError.uniqueViolation {
            throw Problem(.conflict, slug: "tax-rate-exists", title: "Rate exists", detail: "This country and region already have a rate; change that one.")
        }
    }

    static func entry(from input: Input, id: ID<TaxRateEntry>, createdAt: Date, updatedAt: Date) throws -> TaxRateEntry {
        var errors = FieldErrors()
        let country = errors.required(input.country, "/country")?.uppercased()
        if let country { errors.country(country, "/country") }
        let region = (input.region ?? "").uppercased()
        if !region.isEmpty, region.count > 10 || !region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            errors.add("/region", "must be a region code such as CA or NY")
        }
        errors.text(input.name, "/name", maximum: 100)
        let rate = errors.required(input.ratePPM, "/rate_ppm").flatMap { TaxRate(partsPerMillion: $0) }
        if input.ratePPM != nil, rate == nil { errors.add("/rate_ppm", "must be 0 to 1000000 (parts per million; 19 % is 190000)") }
        try errors.check()
        guard let country, let name = input.name, let rate else { throw Problem.internalError }
        return TaxRateEntry(id: id, country: country, region: region, name: name, rate: rate, createdAt: createdAt, updatedAt: updatedAt)
    }
}

extension TaxRateRoutes.Input: CheckedBody {
    /// The rules that build the record, run on the body as it is decoded.
    func check(into errors: inout FieldErrors) {
        errors.collect { _ = try TaxRateRoutes.entry(from: self, id: ID(UUID()), createdAt: .distantPast, updatedAt: .distantPast) }
    }
}
