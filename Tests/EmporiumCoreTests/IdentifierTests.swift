import EmporiumCore
import Foundation
import Testing

private enum Order {}
private enum Cart {}

@Suite struct IdentifierTests {
    @Test func generatedIDsAreVersion7WithTheRFCVariant() {
        let uuid = TimeOrderedIDGenerator().makeUUID().uuid
        #expect(uuid.6 >> 4 == 7)
        #expect(uuid.8 >> 6 == 0b10)
    }

    @Test func carryTheClockTimeInMilliseconds() {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_767_225_600.125))
        let text = TimeOrderedIDGenerator(clock: clock).makeUUID().uuidString.lowercased()
        // 1767225600125 ms = 0x019b76daa87d
        #expect(text.hasPrefix("019b76da-a87d-7"))
    }

    @Test func strictlyIncreaseWithinOneMillisecondAndAcrossTime() {
        let clock = ManualClock()
        let generator = TimeOrderedIDGenerator(clock: clock)
        var previous = generator.make(Order.self)
        for step in 0..<5_000 {
            if step % 1_000 == 0 { clock.advance(by: 0.001) }
            let next = generator.make(Order.self)
            #expect(previous < next)
            #expect(previous.description < next.description, "text order must be creation order")
            previous = next
        }
    }

    @Test func stayIncreasingWhenTheClockStepsBack() {
        let clock = ManualClock()
        let generator = TimeOrderedIDGenerator(clock: clock)
        let before = generator.make(Order.self)
        clock.advance(by: -5)
        #expect(before < generator.make(Order.self))
    }

    @Test func areUniqueAcrossThreads() async {
        let generator = TimeOrderedIDGenerator()
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2_000).map { _ in generator.makeUUID() } } }
            return await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(Set(ids).count == 16_000)
    }

    @Test func typedIDsParseTheirTextAndRejectOtherText() throws {
        let id = TimeOrderedIDGenerator().make(Cart.self)
        #expect(ID<Cart>(id.description) == id)
        #expect(ID<Cart>(id.description.uppercased()) == id)
        for text in ["", "not-a-uuid", "{" + id.description + "}", id.description + " ", String(id.description.dropLast())] {
            #expect(ID<Cart>(text) == nil)
        }
    }

    @Test func typedIDsAreLowerCaseTextInJSON() throws {
        let id = ID<Order>(UUID(uuidString: "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B")!)
        #expect(String(decoding: try JSONEncoder().encode([id]), as: UTF8.self) == #"["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]"#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ID<Order>].self, from: Data(#"["nope"]"#.utf8)) }
    }

    @Test func sequentialGeneratorIsPredictable() {
        let first = SequentialIDGenerator()
        let second = SequentialIDGenerator()
        #expect((0..<3).map { _ in first.makeUUID() } == (0..<3).map { _ in second.makeUUID() })
    }
}

@Suite struct TimestampTests {
    @Test func isFixedWidthUTCWithMilliseconds() {
        #expect(Timestamp.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.string(from: Date(timeIntervalSince1970: 1_767_225_600.9999)) == "2026-01-01T00:00:00.999Z")
    }

    @Test func parsesWhatItWritesAndCommonRFC3339() throws {
        let date = Date(timeIntervalSince1970: 1_767_225_600.125)
        #expect(Timestamp.date(from: Timestamp.string(from: date)) == date)
        #expect(Timestamp.string(from: Date(timeIntervalSince1970: 1_767_225_600.123)) == "2026-01-01T00:00:00.123Z")
        #expect(Timestamp.string(from: Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
        #expect(Timestamp.date(from: "2026-01-01T00:00:00Z") == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(Timestamp.date(from: "2026-01-01T01:00:00+01:00") == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(Timestamp.date(from: "yesterday") == nil)
    }

    @Test func manualClockMovesOnlyWhenTold() {
        let clock = ManualClock(Date(timeIntervalSince1970: 100))
        #expect(clock.now() == Date(timeIntervalSince1970: 100))
        clock.advance(by: 5)
        #expect(clock.now() == Date(timeIntervalSince1970: 105))
    }
}
