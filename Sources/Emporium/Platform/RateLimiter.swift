import Foundation
import Synchronization

/// Token buckets per client key: each key may spend `burst` requests at once and earns
/// `requestsPerSecond` back. The map is split into shards, each behind its own lock, so
/// that concurrent requests rarely wait for each other; idle keys are dropped as a shard
/// grows so an address scan cannot grow memory without bound.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private static let shardCount = 16
    private static let pruneThreshold = 10_000

    private let rate: Double
    private let burst: Double
    private final class Shard: Sendable {
        let buckets = Mutex<[String: Bucket]>([:])
    }

    private let shards: [Shard]

    init(requestsPerSecond: Double, burst: Double) {
        self.rate = max(requestsPerSecond, 0.001)
        self.burst = max(burst, 1)
        self.shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    /// Takes one token for `key` at time `now` (seconds on a monotonic clock). Returns `nil`
    /// when allowed, or how many seconds to wait when not.
    func acquire(key: String, now: Double) -> Double? {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(Self.shardCount))]
        return shard.buckets.withLock { buckets -> Double? in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            let wait: Double?
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                wait = nil
            } else {
                wait = (1 - bucket.tokens) / rate
            }
            buckets[key] = bucket
            if buckets.count > Self.pruneThreshold {
                // A bucket that has refilled completely is the same as no bucket.
                buckets = buckets.filter { _, bucket in bucket.tokens + (now - bucket.updated) * rate < burst }
            }
            return wait
        }
    }
}
