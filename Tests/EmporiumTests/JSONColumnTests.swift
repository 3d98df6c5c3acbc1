import Foundation
import Testing

@testable import Emporium

/// `JSONColumn` reads what `JSONDecoder` reads, and refuses what it refuses, for the shapes the
/// stores keep in text columns.
@Suite struct JSONColumnTests {
    static let awkward = [
        "", "plain", "quote \" and backslash \\ and slash /", "tab\tline\nreturn\rfeed\u{0C}back\u{08}",
        "control \u{01}\u{1F}", "é ü ß 中文", "emoji 🛒 and 👩🏽‍💻", "\u{FFFF}", "nul \u{0}",
    ]

    @Test func readsWhatTheEncoderWrites() throws {
        let encoder = JSONEncoder()
        for format in [JSONEncoder.OutputFormatting(), [.sortedKeys, .withoutEscapingSlashes], [.prettyPrinted]] {
            encoder.outputFormatting = format
            let list = String(decoding: try encoder.encode(Self.awkward), as: UTF8.self)
            #expect(JSONColumn.strings(list) == Self.awkward, "\(list)")
            let map = Dictionary(uniqueKeysWithValues: Self.awkward.map { ("key " + $0, $0) })
            let mapText = String(decoding: try encoder.encode(map), as: UTF8.self)
            #expect(JSONColumn.stringMap(mapText) == map, "\(mapText)")
            let objects = String(decoding: try encoder.encode([map, [:]]), as: UTF8.self)
            #expect(JSONColumn.stringObjects(objects) == [map, [:]])
        }
    }

    @Test func readsEscapesTheEncoderDoesNotWrite() {
        #expect(JSONColumn.strings(#" [ "\u00e9\u4E2D\ud83d\uDED2" , "\/" ] "#) == ["é中🛒", "/"])
        #expect(JSONColumn.strings("[]") == [])
        let twice = #"{"a":"1","a":"2"}"#
        #expect(JSONColumn.stringMap(twice) == (try? JSONDecoder().decode([String: String].self, from: Data(twice.utf8))))
        #expect(JSONColumn.stringMap("\n{ }\t") == [:])
    }

    @Test func refusesWhatIsNotJSONOfItsShape() throws {
        let bad = [
            "", "[", "]", "[,]", #"["a",]"#, #"["a" "b"]"#, #"["a"] x"#, #"["a"]]"#, "null", #""a""#, "[1]", "[null]",
            #"["\x"]"#, #"["\u12"]"#, #"["\u12G4"]"#, #"["\ud83d"]"#, #"["\ud83dx"]"#, #"["\udc00"]"#, #"["\ud83d\u0041"]"#,
            "[\"tab\there\"]", "[\"unterminated]", #"{"a":1}"#, #"{"a"}"#, #"{"a":"b",}"#, #"{a:"b"}"#, #"[{"a":"b"},]"#,
        ]
        for text in bad {
            #expect(JSONColumn.strings(text) == nil, "\(text)")
            #expect(JSONColumn.stringMap(text) == nil, "\(text)")
            #expect(JSONColumn.stringObjects(text) == nil, "\(text)")
        }
        // Foundation refuses them too, as each shape, except a trailing comma, which it
        // forgives (no encoder writes one).
        let decoder = JSONDecoder()
        for text in bad where !text.contains(",]") && !text.contains(",}") {
            let data = Data(text.utf8)
            #expect((try? decoder.decode([String].self, from: data)) == nil, "\(text)")
            #expect((try? decoder.decode([String: String].self, from: data)) == nil, "\(text)")
            #expect((try? decoder.decode([[String: String]].self, from: data)) == nil, "\(text)")
        }
    }
}
