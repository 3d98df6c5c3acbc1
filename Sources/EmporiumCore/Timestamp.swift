public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one text form of a point in time: RFC 3339 in UTC with millisecond precision,
/// always 24 characters (`2026-11-29T08:15:00.000Z`), so that text order is time order.
/// It is what the API sends and what the database stores.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    public static func string(from date: Date) -> String {
        // Whole milliseconds, formatted from integers so that no floating point rounding
        // can move the text into the neighbouring millisecond or second.
        // Round to the microsecond first: 1767225600.123 is stored as 1767225600.12299990...
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (seconds, microsecond) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        let millisecond = microsecond / 1000 - (microsecond < 0 && microsecond % 1000 != 0 ? 1 : 0)
        let (wholeSeconds, fraction) = millisecond < 0 ? (seconds - 1, millisecond + 1000) : (seconds, millisecond)
        var time = time_t(wholeSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 3))Z"
    }

    /// Parses RFC 3339 text with or without fractional seconds, in UTC or with an offset.
    public static func date(from text: String) -> Date? {
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(text)
    }
}
