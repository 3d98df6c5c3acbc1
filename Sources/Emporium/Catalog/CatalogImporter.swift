public import EmporiumCore
public import EmporiumStorage
public import Foundation

/// Applies a product CSV: upserts by handle and SKU in batched transactions. A batch that
/// fails is retried product by product, so one bad product costs only its own rows.
public enum CatalogImporter {
    static let batchSize = 50

    struct RowError: Error {
        let reason: String
    }

    enum Outcome {
        case created, updated, unchanged
    }

    /// `progress` gets (products done, products in the file) after each batch.
    public static func run(
        _ data: Data, database: any Database, locationCode: String = "main", clock: any WallClock = SystemClock(),
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> ProductCSV.ImportSummary {
        try await run(data, database: database, locationCode: locationCode, clock: clock, author: .commandLine, progress: progress)
    }

    /// As above, with the audit entries naming `author`: the back office imports as the
    /// member of staff who uploaded the file.
    static func run(
        _ data: Data, database: any Database, locationCode: String = "main", clock: any WallClock = SystemClock(),
        author: CatalogService.Author, progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> ProductCSV.ImportSummary {
        let (drafts, rejected) = try ProductCSV.read(data)
        var summary = ProductCSV.ImportSummary(rejected: rejected)
        let context = Context(clock: clock, ids: TimeOrderedIDGenerator(clock: clock), locationCode: locationCode, author: author)
        var done = 0
        for start in stride(from: 0, to: drafts.count, by: batchSize) {
            let batch = Array(drafts[start..<min(drafts.count, start + batchSize)])
            do {
                let outcomes = try await database.transaction { db in
                    var outcomes: [Outcome] = []
                    for draft in batch { outcomes.append(try await apply(draft, context: context, on: db)) }
                    if outcomes.contains(where: { $0 != .unchanged }) { try await CatalogChanges.bulkChange(on: db) }
                    return outcomes
                }
                for outcome in outcomes { tally(outcome, into: &summary) }
            } catch {
                for draft in batch {
                    do {
                        let outcome = try await database.transaction { db in
                            let outcome = try await apply(draft, context: context, on: db)
                            if outcome != .unchanged { try await CatalogChanges.bulkChange(on: db) }
                            return outcome
                        }
                        tally(outcome, into: &summary)
                    } catch {
                        let reason = (error as? RowError)?.reason ?? reasonText(error)
                        summary.rejected += draft.rows.map { ProductCSV.Rejection(row: $0, reason: "\(draft.handle): \(reason)") }
                    }
                }
            }
            done += batch.count
            progress(done, drafts.count)
        }
        summary.rejected.sort { $0.row < $1.row }
        // The end-of-load hook: a file of thousands of products changes what the planner should choose.
        if summary.created + summary.updated > 0 { try await refreshPlannerStatistics(on: database) }
        return summary
    }

    private static func reasonText(_ error: any Error) -> String {
        switch error {
        case DatabaseError.uniqueViolation(let constraint): CatalogService.conflict(constraint).detail ?? "a unique value is taken"
        case let problem as Problem: problem.errors.map(\.detail).joined(separator: "; ").isEmpty ? (problem.detail ?? problem.title) : problem.errors.map(\.detail).joined(separator: "; ")
        default: "\(error)"
        }
    }

    private static func tally(_ outcome: Outcome, into summary: inout ProductCSV.ImportSummary) {
        switch outcome {
        case .created: summary.created += 1
        case .updated: summary.updated += 1
        case .unchanged: summary.unchanged += 1
        }
    }

    struct Context: Sendable {
        let clock: any WallClock
        let ids: TimeOrderedIDGenerator
        let locationCode: String
        var author: CatalogService.Author = .commandLine
        var store: CatalogStore { CatalogStore() }
        var audit: AuditLog { AuditLog(clock: clock, ids: ids) }
        var inventory: InventoryStore { InventoryStore(ids: ids) }
    }

    static func apply(_ draft: ProductCSV.ProductDraft, context: Context, on db: any SQLExecutor) async throws -> Outcome {
        let now = context.clock.now()
        let categoryID = try await draft.categoryPath.asyncMap { try await category(path: $0, context: context, on: db) }
        var changed = false
        var product: Product
        let outcome: Outcome
        if let existing = try await context.store.product(idOrHandle: draft.handle, on: db) {
            product = existing
            if let title = draft.title, title != product.title { product.title = title; changed = true }
            if let description = draft.description, description != product.description { product.description = description; changed = true }
            if let status = draft.status, status != product.status { product.status = status; changed = true }
            if let categoryID, categoryID != product.categoryID { product.categoryID = categoryID; changed = true }
            if draft.options != product.options {
                guard product.variants.allSatisfy({ variant in draft.variants.contains { $0.sku == variant.sku } }) else {
                    throw RowError(reason: "the option names differ from the product's (\(product.options.joined(separator: ", "))) and not every variant is in the file")
                }
                product.options = draft.options
                changed = true
            }
            if changed {
                product.updatedAt = now
                guard let version = try await context.store.update(product, expectedVersion: product.version, on: db) else {
                    throw RowError(reason: "the product changed during the import; run it again")
                }
                product.version = version
            }
            outcome = .updated
        } else {
            guard let title = draft.title else { throw RowError(reason: "a new product needs a title") }
            product = Product(
                id: context.ids.make(), handle: draft.handle, title: title, description: draft.description ?? "",
                status: draft.status ?? .active, categoryID: categoryID, tags: [], images: [], attributes: [:],
                options: draft.options, version: 1, createdAt: now, updatedAt: now, variants: [])
            try await context.store.insert(product, on: db)
            changed = true
            outcome = .created
        }

        var variantsChanged = false
        for (offset, input) in draft.variants.enumerated() {
            if let index = product.variants.firstIndex(where: { $0.sku == input.sku }) {
                var variant = product.variants[index]
                let prices = variant.prices.merging(input.prices) { _, new in new }
                guard variant.optionValues != input.optionValues || variant.prices != prices else { continue }
                variant.optionValues = input.optionValues
                variant.prices = prices
                variant.updatedAt = now
                try await context.store.update(variant, on: db)
                product.variants[index] = variant
                variantsChanged = true
            } else {
                if try await context.store.productID(ofSKU: input.sku, on: db) != nil {
                    throw RowError(reason: "SKU \(input.sku) belongs to another product")
                }
                let variant = Variant(
                    id: context.ids.make(), productID: product.id, sku: input.sku, title: input.optionValues.joined(separator: " / "),
                    optionValues: input.optionValues, weightGrams: 0, barcode: nil,
                    position: Int64(product.variants.count + offset), lowStockThreshold: 0, backorder: .deny,
                    prices: input.prices, createdAt: now, updatedAt: now)
                try await context.store.insert(variant, on: db)
                product.variants.append(variant)
                variantsChanged = true
            }
        }
        if variantsChanged, outcome == .updated, !changed {
            _ = try await context.store.touch(product.id, expectedVersion: product.version, at: now, on: db)
        }
        let stockChanged = try await setQuantities(draft, of: product, context: context, on: db)
        guard changed || variantsChanged || stockChanged else { return .unchanged }
        try await context.store.refreshDerived(product.id, on: db)
        try await context.audit.record(
            .init(actor: context.author.actor, action: outcome == .created ? "product.imported" : "product.import_updated",
                  target: product.id.description, origin: context.author.origin), on: db)
        return outcome
    }

    /// Sets on-hand counts at the import location where the file gives one and it differs.
    private static func setQuantities(
        _ draft: ProductCSV.ProductDraft, of product: Product, context: Context, on db: any SQLExecutor
    ) async throws -> Bool {
        let counted = draft.variants.filter { $0.quantity != nil }
        guard !counted.isEmpty else { return false }
        let location = try await stockLocation(context: context, on: db)
        var changed = false
        for input in counted {
            guard let quantity = input.quantity, let variant = product.variants.first(where: { $0.sku == input.sku }) else { continue }
            let current = try await context.inventory.level(variant: variant.id, location: location, on: db)
            if current?.onHand == quantity || (current == nil && quantity == 0) { continue }
            let result = try await context.inventory.apply(
                .count(quantity), variant: variant.id, location: location, reason: "count", reference: "import",
                actor: context.author.actor, at: context.clock.now(), on: db)
            if case .insufficient(let available) = result {
                throw RowError(reason: "quantity \(quantity) for \(input.sku) is below what is reserved (\(available) available)")
            }
            changed = true
        }
        return changed
    }

    private static func stockLocation(context: Context, on db: any SQLExecutor) async throws -> ID<StockLocation> {
        if let row = try await db.queryFirst("SELECT id FROM stock_locations WHERE code = \(context.locationCode)") {
            return try row.decode("id")
        }
        let now = context.clock.now()
        let location = StockLocation(id: context.ids.make(), code: context.locationCode, name: context.locationCode, createdAt: now, updatedAt: now)
        try await context.inventory.insert(location, on: db)
        return location.id
    }

    /// The category at the end of `path` (names from the root): found by name under its
    /// parent, else by the slug of its name, else created with that slug.
    private static func category(path: [String], context: Context, on db: any SQLExecutor) async throws -> ID<Category>? {
        var parent: ID<Category>?
        let sameParent: SQL = db.dialect == .postgres ? "IS NOT DISTINCT FROM" : "IS"
        for name in path {
            let slug = slug(name)
            if let row = try await db.queryFirst("""
                SELECT id FROM categories WHERE name = \(name) AND parent_id \(sameParent) \(parent)
                UNION ALL SELECT id FROM categories WHERE slug = \(slug) LIMIT 1
                """) {
                parent = try row.decode("id")
                continue
            }
            let now = context.clock.now()
            let category = Category(
                id: context.ids.make(), parentID: parent, slug: slug, name: name, position: 0, version: 1, createdAt: now,
                updatedAt: now)
            try await context.store.insert(category, on: db)
            parent = category.id
        }
        return parent
    }

    static func slug(_ name: String) -> String {
        let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        let words = folded.split { !($0.isASCII && ($0.isLetter || $0.isNumber)) }
        return String(words.joined(separator: "-").prefix(100))
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T?) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
