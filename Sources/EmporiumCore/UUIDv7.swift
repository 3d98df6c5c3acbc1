import Foundation

/// Builds RFC 9562 version 7 UUIDs: a 48-bit Unix millisecond timestamp, then random bits.
/// Sorting them as text or bytes sorts them by creation time, which keeps B-tree inserts at
/// the right edge of the index and makes cursors over ids follow insertion order.
enum UUIDv7 {
    /// `counter` fills the 12 `rand_a` bits and the top of `rand_b` so that ids made in the
    /// same millisecond by one generator still increase (RFC 9562 §6.2, method 2).
    static func make(milliseconds: UInt64, counter: UInt64, random: UInt64) -> UUID {
        // Layout: 48 bits time | 4 bits version | 12 bits counter-high | 2 bits variant |
        // 30 bits counter-low | 32 bits random.
        let counterHigh = (counter >> 30) & 0xFFF
        let counterLow = counter & 0x3FFF_FFFF
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: counterHigh >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: counterHigh)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: counterLow >> 24) & 0x3F
        bytes[9] = UInt8(truncatingIfNeeded: counterLow >> 16)
        bytes[10] = UInt8(truncatingIfNeeded: counterLow >> 8)
        bytes[11] = UInt8(truncatingIfNeeded: counterLow)
        for index in 12..<16 { bytes[index] = UInt8(truncatingIfNeeded: random >> (8 * (15 - index))) }
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
    }

    /// The millisecond timestamp a version 7 UUID carries.
    static func milliseconds(of uuid: UUID) -> UInt64 {
        let bytes = uuid.uuid
        return [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
