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
        if let canonical = canonicalDate(text) { return canonical }
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(text)
    }

    /// The text this type writes, read without a formatter: every timestamp read from the
    /// database is in this form, and a formatter costs several microseconds per value.
    /// `nil` when the text is not in that form; `.some(nil)` when it is but names no day
    /// (31 April), which the formatter would quietly move into the next month.
    private static func canonicalDate(_ text: String) -> Date?? {
        var text = text
        return text.withUTF8 { bytes -> Date?? in
            guard bytes.count == 24, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54, bytes[13] == 0x3A,
                bytes[16] == 0x3A, bytes[19] == 0x2E, bytes[23] == 0x5A
            else { return nil }
            func number(_ start: Int, _ count: Int) -> Int? {
                var value = 0
                for index in start..<(start + count) {
                    let digit = Int(bytes[index]) - 0x30
                    guard (0...9).contains(digit) else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2), let millisecond = number(20, 3),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return .some(nil) }
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            parts.tm_mon = Int32(month - 1)
            parts.tm_mday = Int32(day)
            parts.tm_hour = Int32(hour)
            parts.tm_min = Int32(minute)
            parts.tm_sec = Int32(second)
            let seconds = timegm(&parts)
            // timegm normalises out-of-range days (31 February); such text is not a date.
            guard parts.tm_mday == Int32(day), parts.tm_mon == Int32(month - 1) else { return .some(nil) }
            return Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(millisecond) / 1000)
        }
    }
}
