@testable import Emporium
import Testing

@Suite struct SalesReportBucketTests {
    @Test(arguments: [
        ("2026-11-29", SalesReportRoutes.Interval.day, "2026-11-29"),
        // A Sunday belongs to the week that began on Monday the 23rd.
        ("2026-11-29", .week, "2026-11-23"),
        ("2026-11-23", .week, "2026-11-23"),
        // Weeks cross months and years.
        ("2027-01-01", .week, "2026-12-28"),
        ("2026-11-29", .month, "2026-11-01"),
    ])
    func daysFoldIntoTheirBucket(day: String, interval: SalesReportRoutes.Interval, start: String) {
        #expect(SalesReportRoutes.bucketStart(day: day, interval: interval) == start)
    }
}
