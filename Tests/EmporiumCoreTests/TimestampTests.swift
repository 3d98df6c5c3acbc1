import EmporiumCore
import Foundation
import Testing

@Suite struct TimestampParsingTests {
    @Test func canonicalTextRoundTrips() throws {
        for seconds in [0.0, 1_767_225_600.123, 951_782_400.999, 4_102_444_799.5, -86_400.001] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = Timestamp.string(from: date)
            let parsed = try #require(Timestamp.date(from: text))
            #expect(Timestamp.string(from: parsed) == text)
            #expect(abs(parsed.timeIntervalSince1970 - seconds) < 0.001)
        }
    }

    @Test func leapDaysAndImpossibleDays() {
        #expect(Timestamp.date(from: "2028-02-29T12:00:00.000Z") != nil)
        #expect(Timestamp.date(from: "2027-02-29T12:00:00.000Z") == nil)
        #expect(Timestamp.date(from: "2026-04-31T00:00:00.000Z") == nil)
        #expect(Timestamp.date(from: "2026-13-01T00:00:00.000Z") == nil)
        #expect(Timestamp.date(from: "2026-1x-01T00:00:00.000Z") == nil)
    }

    @Test func otherRFC3339FormsStillParse() throws {
        let offset = try #require(Timestamp.date(from: "2026-11-30T19:00:00+01:00"))
        #expect(Timestamp.string(from: offset) == "2026-11-30T18:00:00.000Z")
        let whole = try #require(Timestamp.date(from: "2026-11-30T18:00:00Z"))
        #expect(Timestamp.string(from: whole) == "2026-11-30T18:00:00.000Z")
    }
}
