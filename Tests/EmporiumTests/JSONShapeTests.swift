@testable import Emporium
import Foundation
import Testing

/// The hand-written shape reader against `JSONDecoder`'s, which it stands in front of: the same
/// shape for every body the decoder reads, and none for a body it refuses.
@Suite struct JSONShapeTests {
    /// Strict JSON with plain member names: read by hand.
    static let readable = [
        #"{}"#, #"[]"#, #"null"#, #"1"#, #""text""#, #"true"#, #" false "#,
        #"{"a":1,"b":"two","c":null,"d":true,"e":false,"f":[1,{"g":null}],"h":{}}"#,
        "{\n\t\"spaced\" :\r\n [ 1 , 2 ] ,\"x\" : { \"y\" : -0.5e+10 } }",
        #"{"big":1e400,"long":123456789012345678901234567890123456789012345678901234567890}"#,
        #"{"value":"with \"escapes\" \\ \/ \b\f\n\r\t \u2603 \ud83d\ude00"}"#,
        #"{"é":"ß","東京":"🛒"}"#,
        #"{"twice":1,"twice":{"inner":null}}"#, #"{"v":"\u00e9\"\\"}"#,
        #"[[[[[[[[[[{"deep":[null]}]]]]]]]]]]"#,
    ]

    /// What the hand reader leaves to the decoder: escaped member names, and what Foundation
    /// reads beyond strict JSON.
    static let lenient = [
        #"{"esc\"aped":1,"back\\slash":2,"sl\/ash":3,"tab\t":4,"\u00e9t\u00E9":5,"\ud83d\uded2":6,"\u0000":7}"#,
        "[1,]", "{\"a\":1,}", "{\"a\":\"line\nbreak\"}", #"{"\x":1}"#, #"{"\ud83d":1}"#, #"{"\ud83d\u0041":1}"#,
    ]

    static let unreadable = [
        "", " ", "{", "}", "[", "{\"a\" 1}", "{a:1}", "{\"a\":1}}", "nul", "tru", "[1 2]", "\"open", #"{"\u12":1}"#,
        "{\"a\":1} x",
    ]

    @Test func everyBodyTheDecoderReadsHasTheDecodersShape() throws {
        for text in Self.readable + Self.lenient {
            let data = Data(text.utf8)
            let decoded = try JSONDecoder().decode(JSONShape.self, from: data)
            #expect(JSONShape.read(data) == decoded, "\(text)")
        }
    }

    @Test func strictJSONIsReadByHandAndTheRestLeftToTheDecoder() {
        for text in Self.readable { #expect(JSONShape.readStrict(Data(text.utf8)) != nil, "\(text)") }
        for text in Self.lenient { #expect(JSONShape.readStrict(Data(text.utf8)) == nil, "\(text)") }
    }

    @Test func aBodyThatIsNotJSONHasNoShape() {
        for text in Self.unreadable {
            let data = Data(text.utf8)
            #expect((try? JSONDecoder().decode(JSONShape.self, from: data)) == nil, "the decoder reads \(text)")
            #expect(JSONShape.read(data) == nil, "\(text)")
        }
    }

    /// Foundation's decoder cannot make a container of an object with such a name, so its shape
    /// of this body is a scalar; the hand reader leaves the body to it.
    @Test func aMemberNameThatIsNotUTF8IsLeftToTheDecoder() {
        let data = Data(#"{"a":{"#.utf8) + Data([0xFF]) + Data(#"":1}}"#.utf8)
        #expect(JSONShape.readStrict(data) == nil)
        #expect(JSONShape.read(data) == (try? JSONDecoder().decode(JSONShape.self, from: data)))
    }

    @Test func escapedMemberNamesAreReadAsTheirText() throws {
        let shape = try #require(JSONShape.read(Data(#"{"a\"b":1,"\u00e9":null,"\ud83d\uded2":[],"v":"\"\u2603"}"#.utf8)))
        #expect(shape == .object(["a\"b": .scalar, "é": .null, "🛒": .array([]), "v": .scalar]))
    }

    @Test func nestingDeeperThanTheLimitHasNoShapeAndKeepsTheStack() {
        let limit = JSONShape.maximumDepth
        let within = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(JSONShape.readStrict(Data(within.utf8)) != nil)
        let beyond = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(JSONShape.readStrict(Data(beyond.utf8)) == nil)
        #expect(JSONShape.read(Data(String(repeating: "[", count: 1_000_000).utf8)) == nil)
    }
}
