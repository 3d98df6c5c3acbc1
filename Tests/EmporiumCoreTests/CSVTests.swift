import EmporiumCore
import Testing

@Suite struct CSVTests {
    @Test func readsQuotedFieldsDoubledQuotesAndLineBreaks() throws {
        let text = "handle,title,description\r\nmug,\"Mug, big\",\"Says \"\"hi\"\"\nand more\"\n\ncup,Cup,\n"
        let records = try CSV.parse(text)
        #expect(records.map(\.line) == [1, 2, 5])
        #expect(records[1].fields == ["mug", "Mug, big", "Says \"hi\"\nand more"])
        #expect(records[2].fields == ["cup", "Cup", ""])
    }

    @Test func writesWhatItReads() throws {
        let rows = [["a", "b,c", "d\"e", "line\nbreak", " padded", "", "ünïcödé"], ["1", "2", "3", "4", "5", "6", "7"]]
        let text = rows.map(CSV.format).joined(separator: "\n")
        #expect(try CSV.parse(text).map(\.fields) == rows)
    }

    @Test(arguments: [
        ("a,\"b\nc", 1, "never closed"),
        ("a,b\nc,d\"e\n", 2, "quote inside"),
        ("a,\"b\"c\n", 1, "after a closing quote"),
    ])
    func malformedTextNamesTheLine(text: String, line: Int, reason: String) {
        #expect(throws: CSV.SyntaxError.self) { try CSV.parse(text) }
        do {
            _ = try CSV.parse(text)
        } catch {
            #expect(error.line == line)
            #expect(error.reason.contains(reason))
        }
    }
}
