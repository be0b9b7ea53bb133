import Foundation

/// The schema file:
///
/// ```json
/// {"name": "secondhand-fashion",
///  "listing": [{"name": "category", "type": "categorical", "required": true},
///              {"name": "price_band", "type": "numeric", "from": "price", "buckets": [15, 40, 120]},
///              {"name": "title", "type": "text"}],
///  "user": [{"name": "top_size", "type": "categorical"}],
///  "slices": ["category", "price_band"]}
/// ```
///
/// Strict: an unknown key, an unknown type, a repeated field name, buckets on a non-numeric field or not
/// ascending, a derived field that is not numeric with buckets, or a slice that names no listing field is
/// refused with a one-line reason naming it.
extension CatalogueSchema {
    /// Reads and validates the schema file at `path`.
    public static func load(path: String) throws(SchemaError) -> CatalogueSchema {
        guard let data = FileManager.default.contents(atPath: path) else { throw SchemaError("\(path): no such schema file") }
        do { return try CatalogueSchema(json: data) } catch { throw SchemaError("\(path): \(error.description)") }
    }

    /// Parses and validates a schema's JSON.
    public init(json: Data) throws(SchemaError) {
        let file: SchemaFile
        do {
            file = try JSONDecoder().decode(SchemaFile.self, from: json)
        } catch let error as SchemaError {
            throw error
        } catch {
            throw SchemaError("not a schema: \(Self.describe(error))")
        }
        self.init(name: file.name, listing: file.listing.map(\.field), user: (file.user ?? []).map(\.field), slices: file.slices ?? [])
        try check()
    }

    /// The schema as JSON (the file `load` reads back to an equal schema).
    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let file = SchemaFile(name: name, listing: listing.map(FieldEntry.init), user: user.map(FieldEntry.init), slices: slices)
        return (try? encoder.encode(file)) ?? Data()
    }

    private func check() throws(SchemaError) {
        guard !name.isEmpty else { throw SchemaError("'name' must not be empty") }
        guard !listing.isEmpty else { throw SchemaError("'listing' needs at least one field") }
        for (entity, fields) in [("listing", listing), ("user", user)] {
            var seen = Set<String>()
            for field in fields {
                guard !field.name.isEmpty, field.name != "price" else {
                    throw SchemaError(field: field.name, "is not a usable \(entity) field name ('price' is the event's own field)")
                }
                guard seen.insert(field.name).inserted else { throw SchemaError(field: field.name, "is declared twice among the \(entity) fields") }
                if let buckets = field.buckets {
                    guard field.type == .numeric else { throw SchemaError(field: field.name, "has buckets but is \(field.type.rawValue), not numeric") }
                    guard !buckets.isEmpty, zip(buckets, buckets.dropFirst()).allSatisfy({ $0 < $1 }), buckets.allSatisfy(\.isFinite) else {
                        throw SchemaError(field: field.name, "buckets must be finite and strictly ascending")
                    }
                }
                if let from = field.from {
                    guard field.type == .numeric, field.buckets != nil else {
                        throw SchemaError(field: field.name, "is derived (from \(from)), so it must be numeric with buckets")
                    }
                    guard from == "price" || fields.contains(where: { $0.name == from && $0.from == nil }) else {
                        throw SchemaError(field: field.name, "is derived from '\(from)', which is neither 'price' nor a \(entity) field")
                    }
                }
            }
        }
        for slice in slices where !listing.contains(where: { $0.name == slice && ($0.type == .categorical || $0.buckets != nil) }) {
            throw SchemaError(field: slice, "in 'slices' is not a categorical or bucketed listing field")
        }
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty: return "not valid JSON"
        case .keyNotFound(let key, let context):
            return "missing '\((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        @unknown default: return "\(error)"
        }
    }
}

/// A key named by the file, for refusing unknown keys.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws when the object at `decoder` has a key outside `known`.
private func refuseUnknownKeys(_ decoder: any Decoder, known: [String], in place: String) throws {
    let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
    if let unknown = keys.filter({ !known.contains($0) }).sorted().first {
        throw SchemaError(field: unknown, "is not a key of \(place) (keys: \(known.joined(separator: ", ")))")
    }
}

private struct SchemaFile: Codable {
    var name: String
    var listing: [FieldEntry]
    var user: [FieldEntry]?
    var slices: [String]?

    init(name: String, listing: [FieldEntry], user: [FieldEntry]?, slices: [String]?) {
        self.name = name
        self.listing = listing
        self.user = user
        self.slices = slices
    }

    init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, known: ["name", "listing", "user", "slices"], in: "a schema")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        listing = try c.decode([FieldEntry].self, forKey: .listing)
        user = try c.decodeIfPresent([FieldEntry].self, forKey: .user)
        slices = try c.decodeIfPresent([String].self, forKey: .slices)
    }
}

private struct FieldEntry: Codable {
    var name: String
    var type: String
    var buckets: [Double]?
    var from: String?
    var required: Bool?

    init(_ field: CatalogueSchema.Field) {
        name = field.name
        type = field.type.rawValue
        buckets = field.buckets
        from = field.from
        required = field.required ? true : nil
    }

    init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, known: ["name", "type", "buckets", "from", "required"], in: "a field")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(String.self, forKey: .type)
        buckets = try c.decodeIfPresent([Double].self, forKey: .buckets)
        from = try c.decodeIfPresent(String.self, forKey: .from)
        required = try c.decodeIfPresent(Bool.self, forKey: .required)
        guard CatalogueSchema.FieldType(rawValue: type) != nil else {
            throw SchemaError(field: name, "has unknown type '\(type)' (types: \(CatalogueSchema.FieldType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    var field: CatalogueSchema.Field {
        CatalogueSchema.Field(name: name, type: CatalogueSchema.FieldType(rawValue: type)!, buckets: buckets, from: from,
                              required: required ?? false)
    }
}
