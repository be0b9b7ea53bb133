import Foundation

/// The one rule for every id that crosses a boundary (event, user, seller, item and ranking ids, in bodies
/// and in paths): 1 to 128 Unicode scalars, no control characters (U+0000–U+001F, U+007F–U+009F), in
/// Unicode normalisation form C. Where an id enters (a request path, a request body, a JSON line) it is
/// put in NFC (`canonical`); an id with a control character or of another length is refused, never
/// rewritten. So an id has one spelling in memory, SQLite, PostgreSQL and Redis: SQLite and libpq cut
/// strings at NUL, and Swift compares "é" and "e\u{301}" as equal while SQL and Redis do not.
public enum CanonicalID {
    /// The most Unicode scalars (code points, what JSON Schema's maxLength counts) an id may have, as sent.
    public static let maxLength = 128

    /// `value` in NFC, or a `PayloadError` naming `field` and why it cannot be an id. Its length is
    /// checked as sent.
    public static func canonical(_ value: String, field: String) throws(PayloadError) -> String {
        func refuse(_ problem: String) -> PayloadError { PayloadError(.invalidField, "'\(field)' \(problem)") }
        if value.utf8.allSatisfy({ $0 < 0x80 }) {
            if let problem = problem(with: value) { throw refuse(problem) }
            return value
        }
        guard (1...maxLength).contains(value.unicodeScalars.count) else { throw refuse(lengthRule) }
        let composed = value.precomposedStringWithCanonicalMapping
        if let problem = problem(with: composed) { throw refuse(problem) }
        return composed
    }

    static let lengthRule = "must be 1 to \(maxLength) characters"

    /// Why `value` is not a canonical id, or nil when it is.
    public static func problem(with value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= maxLength || value.unicodeScalars.count <= maxLength else { return lengthRule }
        // ASCII (nearly every id) is always in NFC: only control characters can be wrong, and checking
        // the bytes keeps validation off Foundation's normaliser on the ingest path.
        if value.utf8.allSatisfy({ $0 < 0x80 }) {
            return value.utf8.contains { $0 < 0x20 || $0 == 0x7F } ? "must not contain control characters" : nil
        }
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return "must not contain control characters"
        }
        guard value.precomposedStringWithCanonicalMapping.utf8.elementsEqual(value.utf8) else {
            return "must be in Unicode normalisation form C (NFC)"
        }
        return nil
    }
}
