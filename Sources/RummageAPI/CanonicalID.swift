import Foundation

/// The one rule for every id that crosses a boundary (event, user, seller, item and ranking ids, in bodies
/// and in paths): 1 to 256 bytes of UTF-8, no control characters (U+0000–U+001F, U+007F–U+009F), in
/// Unicode normalisation form C. Where an id enters (a request path, a request body, a JSON line) it is
/// put in NFC (`canonical`); an id with a control character or of another length is refused, never
/// rewritten. So an id has one spelling in memory, SQLite, PostgreSQL and Redis: SQLite and libpq cut
/// strings at NUL, and Swift compares "é" and "e\u{301}" as equal while SQL and Redis do not.
public enum CanonicalID {
    public static let maxBytes = 256

    /// `value` in NFC, or a `PayloadError` naming `field` and why it cannot be an id.
    public static func canonical(_ value: String, field: String) throws(PayloadError) -> String {
        let composed = value.utf8.allSatisfy({ $0 < 0x80 }) ? value : value.precomposedStringWithCanonicalMapping
        if let problem = problem(with: composed) { throw PayloadError(.invalidField, "'\(field)' \(problem)") }
        return composed
    }

    /// Why `value` is not a canonical id, or nil when it is.
    public static func problem(with value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= maxBytes else { return "must be 1 to \(maxBytes) bytes" }
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
