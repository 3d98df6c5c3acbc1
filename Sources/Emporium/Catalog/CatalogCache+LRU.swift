extension CatalogCache {
    /// Least-recently-used entries in segments, each a doubly linked list threaded through one
    /// array of slots, with a dictionary from key to slot and from dependency to the slots that
    /// depend on it. Not thread-safe: `CatalogCache` holds it under its lock.
    struct LRU {
        private struct Slot {
            let key: Key
            let entry: Entry
            let dependencies: Set<Dependency>
            var previous: Int
            var next: Int
        }

        private var slots: [Slot?] = []
        private var free: [Int] = []
        private(set) var index: [Key: Int] = [:]
        private var dependents: [Dependency: Set<Int>] = [:]
        /// Most recently used first, per segment; -1 for none.
        private var heads: [Int]
        private var tails: [Int]
        private(set) var counts: [Int]
        let capacities: [Int]

        init(capacities: [Int]) {
            self.capacities = capacities
            heads = Array(repeating: -1, count: capacities.count)
            tails = heads
            counts = Array(repeating: 0, count: capacities.count)
        }

        /// The entry for `key`, which becomes its segment's most recently used.
        mutating func get(_ key: Key) -> Entry? {
            guard let slot = index[key] else { return nil }
            unlink(slot)
            linkFirst(slot)
            return slots[slot]?.entry
        }

        /// Stores `entry`, evicting the segment's least recently used entries to make room.
        /// Returns how many were evicted.
        mutating func insert(_ key: Key, _ entry: Entry, dependencies: Set<Dependency>) -> Int {
            if let existing = index[key] { remove(existing) }
            let segment = key.segment.rawValue
            var evicted = 0
            while counts[segment] >= capacities[segment], tails[segment] >= 0 {
                remove(tails[segment])
                evicted += 1
            }
            let slot: Int
            if let reused = free.popLast() {
                slot = reused
            } else {
                slot = slots.count
                slots.append(nil)
            }
            slots[slot] = Slot(key: key, entry: entry, dependencies: dependencies, previous: -1, next: -1)
            linkFirst(slot)
            index[key] = slot
            for dependency in dependencies { dependents[dependency, default: []].insert(slot) }
            return evicted
        }

        mutating func removeDependents(of dependency: Dependency) {
            guard let affected = dependents[dependency] else { return }
            for slot in affected { remove(slot) }
        }

        mutating func removeAll() {
            slots.removeAll(keepingCapacity: true)
            free.removeAll(keepingCapacity: true)
            index.removeAll(keepingCapacity: true)
            dependents.removeAll(keepingCapacity: true)
            for segment in heads.indices {
                heads[segment] = -1
                tails[segment] = -1
                counts[segment] = 0
            }
        }

        private mutating func remove(_ slot: Int) {
            guard let removed = slots[slot] else { return }
            unlink(slot)
            index[removed.key] = nil
            for dependency in removed.dependencies {
                dependents[dependency]?.remove(slot)
                if dependents[dependency]?.isEmpty == true { dependents[dependency] = nil }
            }
            slots[slot] = nil
            free.append(slot)
        }

        private mutating func linkFirst(_ slot: Int) {
            guard let segment = slots[slot]?.key.segment.rawValue else { return }
            slots[slot]?.previous = -1
            slots[slot]?.next = heads[segment]
            if heads[segment] >= 0 { slots[heads[segment]]?.previous = slot }
            heads[segment] = slot
            if tails[segment] < 0 { tails[segment] = slot }
            counts[segment] += 1
        }

        private mutating func unlink(_ slot: Int) {
            guard let node = slots[slot] else { return }
            let segment = node.key.segment.rawValue
            if node.previous >= 0 { slots[node.previous]?.next = node.next } else { heads[segment] = node.next }
            if node.next >= 0 { slots[node.next]?.previous = node.previous } else { tails[segment] = node.previous }
            slots[slot]?.previous = -1
            slots[slot]?.next = -1
            counts[segment] -= 1
        }
    }
}
