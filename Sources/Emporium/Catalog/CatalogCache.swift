import Crypto
import EmporiumCore
import Foundation
import Metrics
import NIOCore
import Synchronization

/// Rendered storefront answers (body and ETag) held in memory, each with what it depends on,
/// so that a change drops only the answers it touches: a price change the product's detail and
/// the list pages; a checkout the answers showing the variants whose stock band it moved; a
/// cart change or a login nothing at all. Changes arrive from `CatalogService` at once after
/// its commit and from the change log (`CatalogChangeFeed`) for everything else, this node's
/// stock writes and other nodes' and processes' writes included.
///
/// A bounded LRU in segments (product pages, lists, searches, the category tree), each with its
/// own share of the capacity, so that a storm of distinct product handles or searches evicts
/// only its own kind. Every operation is O(1) in the number of entries (O(dependencies) of the
/// one entry touched). Misses that end in an error (404, 400) are never stored.
final class CatalogCache: Sendable {
    struct Entry: Sendable {
        let body: ByteBuffer
        let etag: String
    }

    enum Segment: Int, CaseIterable, Sendable {
        case detail, list, search, tree

        var label: String {
            switch self {
            case .detail: "detail"
            case .list: "list"
            case .search: "search"
            case .tree: "categories"
            }
        }
    }

    /// A cache key: the segment and a normalized description of the request.
    struct Key: Hashable, Sendable {
        let segment: Segment
        let text: String
    }

    /// What an answer shows, and so what must drop it when it changes.
    enum Dependency: Hashable, Sendable {
        case product(ID<Product>)
        case stock(ID<Variant>)
        case categories
        /// Which products a list shows: every list and search page.
        case lists
        /// Any stock change: lists filtered to products in stock.
        case anyStock
    }

    static let notificationChannel = CatalogChanges.channel

    private struct State {
        var generation: UInt64 = 0
        /// The last changes applied, newest last, to judge answers computed meanwhile.
        var recent: [(generation: UInt64, change: CatalogChange)] = []
        var lru: LRU
        var tree: (CategoryTree, UInt64)?
        /// Log sequence numbers this node applied itself right after its commit.
        var appliedLocally: Set<Int64> = []
        var hasStored = false
    }

    private static let remembered = 64
    private let state: Mutex<State>
    private let hits: [Metrics.Counter]
    private let misses: [Metrics.Counter]
    private let evictions: Metrics.Counter
    /// Where this node is in the change log (`CatalogChangeFeed.swift`).
    let follower = ChangeFollower()

    /// `capacity` entries in all: 55 % product pages, 30 % lists, 15 % searches, and a few
    /// slots for the category tree.
    init(capacity: Int = 4096, metrics: AppMetrics = AppMetrics()) {
        let shared = max(capacity - 8, 3)
        let capacities = [max(shared * 55 / 100, 1), max(shared * 30 / 100, 1), max(shared * 15 / 100, 1), 8]
        state = Mutex(State(lru: LRU(capacities: capacities)))
        hits = Segment.allCases.map { metrics.counter("emporium_catalog_cache_hits_total", [("segment", $0.label)]) }
        misses = Segment.allCases.map { metrics.counter("emporium_catalog_cache_misses_total", [("segment", $0.label)]) }
        evictions = metrics.counter("emporium_catalog_cache_evictions_total")
        let entries = metrics.gauge("emporium_catalog_cache_entries")
        metrics.onScrape { [weak self] in entries.record(self?.count ?? 0) }
    }

    /// The cached answer for `key`, or the generation to pass to `store` after computing it.
    func lookup(_ key: Key) -> (entry: Entry?, generation: UInt64) {
        let found = state.withLock { ($0.lru.get(key), $0.generation) }
        (found.0 == nil ? misses : hits)[key.segment.rawValue].increment()
        return found
    }

    /// Keeps an answer computed while `generation` was current, unless a change since then
    /// touched something it depends on: such an answer may show the old state, so it is
    /// dropped, not stored.
    func store(_ entry: Entry, for key: Key, dependsOn dependencies: Set<Dependency>, computedAt generation: UInt64) {
        let evicted = state.withLock { state -> Int in
            guard Self.unchanged(dependencies, since: generation, in: state) else { return 0 }
            state.hasStored = true
            return state.lru.insert(key, entry, dependencies: dependencies)
        }
        if evicted > 0 { evictions.increment(by: Int64(evicted)) }
    }

    /// Drops every answer that depends on what `change` names.
    func apply(_ change: CatalogChange) {
        guard !change.isEmpty else { return }
        state.withLock { state in
            state.generation &+= 1
            state.recent.append((state.generation, change))
            if state.recent.count > Self.remembered { state.recent.removeFirst(state.recent.count - Self.remembered) }
            if change.everything || change.categories { state.tree = nil }
            if change.everything {
                state.lru.removeAll()
                return
            }
            var dropped: [Dependency] = change.products.map { .product($0) } + change.stock.map { .stock($0) }
            if !change.stock.isEmpty { dropped.append(.anyStock) }
            if change.categories { dropped.append(.categories) }
            if change.lists { dropped.append(.lists) }
            for dependency in dropped { state.lru.removeDependents(of: dependency) }
        }
    }

    /// Drops everything: when this node may have missed changes (the log unreadable, the
    /// notification connection lost).
    func invalidate() {
        apply(.all)
    }

    /// The category tree, from memory while no category changed.
    func categoryTree(load: () async throws -> CategoryTree) async throws -> CategoryTree {
        let (cached, generation) = state.withLock { ($0.tree?.0, $0.generation) }
        if let cached { return cached }
        let tree = try await load()
        state.withLock { state in
            if Self.unchanged([.categories], since: generation, in: state) { state.tree = (tree, state.generation) }
        }
        return tree
    }

    var count: Int { state.withLock { $0.lru.index.count } }

    /// Whether any answer was ever stored (and so may need dropping when changes were missed).
    var hasStored: Bool { state.withLock { $0.hasStored } }

    func count(in segment: Segment) -> Int { state.withLock { $0.lru.counts[segment.rawValue] } }

    // MARK: Changes this node applied itself

    /// Marks a log entry as applied here already, so the change feed skips it.
    func appliedLocally(_ seq: Int64) {
        state.withLock { _ = $0.appliedLocally.insert(seq) }
    }

    /// Whether the feed should skip `seq`; forgets it either way.
    func takeAppliedLocally(_ seq: Int64) -> Bool {
        state.withLock { $0.appliedLocally.remove(seq) != nil }
    }

    /// Forgets marks the feed has passed without seeing (rolled-back transactions).
    func forgetAppliedLocally(through seq: Int64) {
        state.withLock { state in
            if !state.appliedLocally.isEmpty { state.appliedLocally = state.appliedLocally.filter { $0 > seq } }
        }
    }

    // MARK: Internals

    private static func unchanged(_ dependencies: Set<Dependency>, since generation: UInt64, in state: State) -> Bool {
        if state.generation == generation { return true }
        // Too many changes since to tell: play safe.
        guard let oldest = state.recent.first, oldest.generation <= generation &+ 1 else { return false }
        for (changedAt, change) in state.recent where changedAt > generation {
            if change.everything { return false }
            for dependency in dependencies {
                switch dependency {
                case .product(let id): if change.products.contains(id) { return false }
                case .stock(let id): if change.stock.contains(id) { return false }
                case .categories: if change.categories { return false }
                case .lists: if change.lists { return false }
                case .anyStock: if !change.stock.isEmpty { return false }
                }
            }
        }
        return true
    }

    static func makeEntry(_ body: ByteBuffer) -> Entry {
        let digest = SHA256.hash(data: Data(body.readableBytesView))
        return Entry(body: body, etag: "\"" + Hex.string(digest.prefix(16)) + "\"")
    }
}
