import Foundation

/// Why a request body or an event's JSON was refused: the body is not JSON or not an object
/// (`malformed`), a required field is missing, or a field has the wrong type or value. `message` names
/// the field in one line.
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case malformed, missingField, invalidField }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Decodes one `T` from a JSON body; errors are `PayloadError`s (a type's own or one describing the
    /// decoder's complaint).
    public static func decode<T: Decodable>(_ type: T.Type, from body: some DataProtocol) throws(PayloadError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch let error as PayloadError {
            throw error
        } catch {
            throw described(error)
        }
    }

    /// A decoder's error as a one-line `PayloadError`.
    public static func described(_ error: any Error) -> PayloadError {
        if let error = error as? PayloadError { return error }
        guard let error = error as? DecodingError else { return PayloadError(.malformed, "the body is not valid JSON") }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return PayloadError(.malformed, "not valid JSON")
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return PayloadError(.malformed, "not a JSON object")
        case .keyNotFound(let key, _):
            return PayloadError(.missingField, "missing '\(key.stringValue)'")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return PayloadError(.invalidField, "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        @unknown default:
            return PayloadError(.malformed, "not valid JSON")
        }
    }

    /// The keyed container of a JSON object, or `malformed` ("not a JSON object").
    static func object<Key: CodingKey>(_ decoder: any Decoder, _ keys: Key.Type) throws(PayloadError) -> KeyedDecodingContainer<Key> {
        do { return try decoder.container(keyedBy: Key.self) } catch { throw PayloadError(.malformed, "not a JSON object") }
    }

    /// The value at `key`, nil when absent; null or a value of another type is `invalidField`
    /// ("'key' must be `expected`"). JSON numbers 0 and 1 are numbers here, never booleans.
    static func optional<T: Decodable, Key: CodingKey>(_ type: T.Type, _ c: KeyedDecodingContainer<Key>, _ key: Key,
                                                      _ expected: String, prefix: String = "") throws(PayloadError) -> T? {
        guard c.contains(key) else { return nil }
        // An optional field is left out, never null: the schema (openapi.yaml) has no nullable fields.
        if (try? c.decodeNil(forKey: key)) == true {
            throw PayloadError(.invalidField, "\(prefix)'\(key.stringValue)' must be \(expected) (or left out), not null")
        }
        do { return try c.decode(T.self, forKey: key) } catch {
            throw PayloadError(.invalidField, "\(prefix)'\(key.stringValue)' must be \(expected)")
        }
    }
}

/// A coding key for any field name (used to refuse unknown fields).
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One element of a JSON array decoded on its own: a bad element is kept as its error instead of failing
/// the whole array.
public struct Each<T: Decodable & Sendable>: Decodable, Sendable {
    public let result: Result<T, PayloadError>

    public init(from decoder: any Decoder) throws {
        do { result = .success(try T(from: decoder)) } catch { result = .failure(PayloadError.described(error)) }
    }
}

extension PayloadError {
    /// A body holding one `T` object or an array of them, each element decoded on its own. Throws only
    /// when the body is not JSON at all.
    public static func decodeOneOrMany<T: Decodable & Sendable>(_ type: T.Type, from body: some DataProtocol)
        throws(PayloadError) -> [Result<T, PayloadError>] {
        let data = Data(body)
        let decoder = JSONDecoder()
        if let many = try? decoder.decode([Each<T>].self, from: data) { return many.map(\.result) }
        do {
            return [try decoder.decode(Each<T>.self, from: data).result]
        } catch {
            throw PayloadError(.malformed, "the body is not valid JSON")
        }
    }
}
