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

    /// The hand-written text form agrees with Foundation's on every byte value in every place.
    @Test func uuidTextAgreesWithFoundation() {
        for _ in 0..<2_000 {
            let uuid = UUID()
            #expect(uuid.lowercasedString == uuid.uuidString.lowercased())
            #expect(UUID(canonical: uuid.uuidString) == uuid)
            #expect(UUID(canonical: uuid.lowercasedString) == uuid)
            #expect(UUID(canonical: Substring(uuid.uuidString)) == uuid)
        }
        let all = UUID(uuid: (0x00, 0x1F, 0x2E, 0x3D, 0x4C, 0x5B, 0x6A, 0x79, 0x88, 0x97, 0xA6, 0xB5, 0xC4, 0xD3, 0xE2, 0xFF))
        #expect(all.lowercasedString == "001f2e3d-4c5b-6a79-8897-a6b5c4d3e2ff")
        let text = all.lowercasedString
        // A hyphen out of place, a digit that is not hexadecimal, or a character too many or few.
        for bad in [
            "001f2e3d4-c5b-6a79-8897-a6b5c4d3e2ff", "001f2e3d-4c5b-6a79-8897-a6b5c4d3e2fg", "001f2e3d-4c5b-6a79-8897-a6b5c4d3e2f",
            "001f2e3d-4c5b-6a79-8897-a6b5c4d3e2ff0", "001f2e3d 4c5b-6a79-8897-a6b5c4d3e2ff", "001f2e3d-4c5b-6a79-8897-a6b5c4d3e2f\u{e9}",
            "+01f2e3d-4c5b-6a79-8897-a6b5c4d3e2ff", String(repeating: "-", count: 36), "001f2e3d-4c5b-6a79-8897-a6b5c4d3e\u{e9}",
        ] {
            #expect(UUID(canonical: bad) == nil, "\(bad)")
            // Foundation reads each pair with `sscanf`, which takes a sign for a digit.
            if !bad.hasPrefix("+") { #expect(UUID(uuidString: bad) == nil, "Foundation disagrees on \(bad)") }
        }
        #expect(UUID(canonical: text) == all)
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
