/// The fields of one delimited text line (TSV, CSV, MovieLens `::`), as byte ranges of the line.
///
/// CSV quoting follows RFC 4180: a field that starts with `"` runs to the closing quote, and `""`
/// inside it is a literal quote. Parsing helpers throw `DataError` naming the file and line.
public struct DelimitedFields {
    public let line: UnsafeBufferPointer<UInt8>
    public private(set) var ranges: [Range<Int>] = []
    private var quoted: [Bool] = []

    /// Splits `line` on `delimiter` (one or more bytes, e.g. `[0x3A, 0x3A]` for `::`).
    /// Precondition: `delimiter` is not empty.
    public init(_ line: UnsafeBufferPointer<UInt8>, delimiter: [UInt8], csvQuotes: Bool = false) {
        precondition(!delimiter.isEmpty)
        self.line = line
        let n = line.count, d = delimiter.count, first = delimiter[0]
        var start = 0, i = 0
        while i <= n {
            if csvQuotes && i == start && i < n && line[i] == 0x22 {
                // Quoted field: find the closing quote that is not doubled.
                var j = i + 1
                while j < n {
                    if line[j] == 0x22 {
                        if j + 1 < n && line[j + 1] == 0x22 { j += 2; continue }
                        break
                    }
                    j += 1
                }
                ranges.append(i + 1..<min(j, n)); quoted.append(true)
                i = j + 1
                // Skip to the delimiter after the closing quote.
                while i < n && line[i] != first { i += 1 }
                i += d
                start = i
                if i > n { break }
                if i == n { ranges.append(n..<n); quoted.append(false); break }
                continue
            }
            if i == n || (line[i] == first && i + d <= n && (d == 1 || Self.matches(line, at: i, delimiter))) {
                ranges.append(start..<i); quoted.append(false)
                i += d
                start = i
                if i > n { break }
                continue
            }
            i += 1
        }
    }

    private static func matches(_ line: UnsafeBufferPointer<UInt8>, at i: Int, _ delimiter: [UInt8]) -> Bool {
        for k in 0..<delimiter.count where line[i + k] != delimiter[k] { return false }
        return true
    }

    public var count: Int { ranges.count }

    /// Field `i` as raw bytes.
    public func bytes(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: line[ranges[i]])
    }

    /// Field `i` as a String (UTF-8; invalid bytes are repaired), with CSV quote escapes removed.
    public func string(_ i: Int) -> String {
        let s = String(decoding: bytes(i), as: UTF8.self)
        return quoted[i] ? s.replacingOccurrences(of: "\"\"", with: "\"") : s
    }

    /// Field `i` as a decimal integer, or nil when it is not one.
    public func int(_ i: Int) -> Int? { Self.parseInt(bytes(i)) }

    /// Field `i` as a floating-point number, or nil when it is not one.
    public func double(_ i: Int) -> Double? {
        let b = bytes(i)
        if let n = Self.parseInt(b) { return Double(n) }
        return Double(String(decoding: b, as: UTF8.self))
    }

    /// Parses an optionally signed decimal integer made only of ASCII digits.
    public static func parseInt(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0, negative = false
        if b.count > 0 && (b[0] == 0x2D || b[0] == 0x2B) { negative = b[0] == 0x2D; i = 1 }
        guard i < b.count, b.count - i <= 18 else { return nil }
        var value = 0
        while i < b.count {
            let digit = Int(b[i]) &- 0x30
            guard digit >= 0 && digit <= 9 else { return nil }
            value = value * 10 + digit
            i += 1
        }
        return negative ? -value : value
    }
}

extension TextFile {
    /// Visits each non-empty line split into fields, skipping `headerLines` first lines.
    /// Throws a line-numbered error when a line has fewer than `minimumFields` fields.
    public func forEachRecord(delimiter: [UInt8], csvQuotes: Bool = false, headerLines: Int = 0,
                              minimumFields: Int,
                              _ body: (Int, DelimitedFields) throws(DataError) -> Void) throws(DataError) {
        try forEachLine { (lineNumber, line) throws(DataError) in
            if lineNumber <= headerLines || line.isEmpty { return }
            let fields = DelimitedFields(line, delimiter: delimiter, csvQuotes: csvQuotes)
            guard fields.count >= minimumFields else {
                throw error(line: lineNumber, "expected at least \(minimumFields) fields, found \(fields.count)")
            }
            try body(lineNumber, fields)
        }
    }
}
