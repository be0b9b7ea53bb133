/// Dense, zero-based index of a user inside one dataset or model. Never mix with `ItemIndex`:
/// the two are distinct types so that a user index can't be passed where an item index is expected.
public struct UserIndex: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    @inlinable public init(_ rawValue: Int32) { self.rawValue = rawValue }
    @inlinable public init(_ value: Int) { self.rawValue = Int32(value) }
    @inlinable public var int: Int { Int(rawValue) }
    @inlinable public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "u\(rawValue)" }
}

/// Dense, zero-based index of an item (listing) inside one dataset or model.
public struct ItemIndex: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    @inlinable public init(_ rawValue: Int32) { self.rawValue = rawValue }
    @inlinable public init(_ value: Int) { self.rawValue = Int32(value) }
    @inlinable public var int: Int { Int(rawValue) }
    @inlinable public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "i\(rawValue)" }
}

/// External user identifier, as it appears in the marketplace's own data.
public struct UserID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var value: String
    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }
    public var description: String { value }
}

/// External item (listing) identifier, as it appears in the marketplace's own data.
public struct ItemID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var value: String
    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }
    public var description: String { value }
}
