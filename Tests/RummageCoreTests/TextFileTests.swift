import Foundation
import RummageCore
import RummageTestSupport
import Testing

@Suite struct TextFileTests {
    @Test func visitsLinesWithoutTerminators() {
        let file = TextFile(path: "mem", bytes: Array("a\tb\r\n\nlast".utf8))
        var lines: [(Int, String)] = []
        file.forEachLine { n, line in lines.append((n, String(decoding: line, as: UTF8.self))) }
        #expect(lines.map(\.0) == [1, 2, 3])
        #expect(lines.map(\.1) == ["a\tb", "", "last"])
    }

    @Test func decompressesXZ() throws {
        // xz-compressed "0\t1\t5\n1\t2\t3\n" (Python lzma.compress).
        let xz = Data(base64Encoded: "/Td6WFoAAATm1rRGAgAhARYAAAB0L+WjAQALMAkxCTUKMQkyCTMKAMTM60ZBJwMTAAEkDKYY2NgftvN9AQAAAAAEWVo=")!
        let dir = Fixtures.temporaryDirectory()
        let path = dir + "/x.xz"
        try xz.write(to: URL(fileURLWithPath: path))
        let file = try TextFile(path: path)
        #expect(String(decoding: file.bytes, as: UTF8.self) == "0\t1\t5\n1\t2\t3\n")
    }

    @Test func rejectsCorruptXZAndMissingFiles() throws {
        var corrupt = Array(Data(base64Encoded: "/Td6WFoAAATm1rRGAgAhARYAAAB0L+WjAQALMAkxCTUKMQkyCTMKAMTM60ZBJwMTAAEkDKYY2NgftvN9AQAAAAAEWVo=")!)
        corrupt[30] ^= 0xFF
        let dir = Fixtures.temporaryDirectory()
        try Data(corrupt).write(to: URL(fileURLWithPath: dir + "/bad.xz"))
        let corruptError = #expect(throws: DataError.self) { try TextFile(path: dir + "/bad.xz") }
        #expect(corruptError?.code == .corrupt)
        #expect(corruptError?.description.hasPrefix(dir + "/bad.xz: ") == true)
        let missing = #expect(throws: DataError.self) { try TextFile(path: dir + "/nope.txt") }
        #expect(missing?.code == .fileNotFound)
    }

    @Test func recordsReportShortLinesWithLineNumbers() {
        let file = TextFile(path: "data.tsv", bytes: Array("1\t2\t3\n4\t5\n".utf8))
        let error = #expect(throws: DataError.self) {
            try file.forEachRecord(delimiter: [0x09], minimumFields: 3) { _, _ in }
        }
        #expect(error?.description == "data.tsv:2: expected at least 3 fields, found 2")
    }
}

@Suite struct DelimitedFieldsTests {
    func split(_ text: String, _ delimiter: String, csv: Bool = false) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            let fields = DelimitedFields(buffer, delimiter: Array(delimiter.utf8), csvQuotes: csv)
            return (0..<fields.count).map { fields.string($0) }
        }
    }

    @Test func splitsOnSingleAndMultiByteDelimiters() {
        #expect(split("a,b,,c", ",") == ["a", "b", "", "c"])
        #expect(split("a,", ",") == ["a", ""])
        #expect(split("1::Toy Story (1995)::Animation|Comedy", "::") == ["1", "Toy Story (1995)", "Animation|Comedy"])
        #expect(split("", ",") == [""])
    }

    @Test func handlesCSVQuotes() {
        #expect(split(#"l1,"red, white","say ""hi""",9"#, ",", csv: true) == ["l1", "red, white", #"say "hi""#, "9"])
        #expect(split(#""a","#, ",", csv: true) == ["a", ""])
    }

    @Test func parsesIntegersStrictly() {
        func parse(_ s: String) -> Int? { Array(s.utf8).withUnsafeBufferPointer { DelimitedFields.parseInt($0) } }
        #expect(parse("0") == 0)
        #expect(parse("-42") == -42)
        #expect(parse("+7") == 7)
        #expect(parse("") == nil)
        #expect(parse("-") == nil)
        #expect(parse("1.5") == nil)
        #expect(parse("12a") == nil)
        #expect(parse("1234567890123456789") == nil)  // would overflow: rejected
    }
}
