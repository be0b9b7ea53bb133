import Foundation

// Binary model artifacts (like hnswlib's saveIndex): a fixed header, typed fields, and a checksum.
//
//   magic          8 bytes  "RUMMAGE\0"
//   format version UInt32   ArtifactWriter.formatVersion
//   kind           string   e.g. "ials", "bpr", "itemknn" (what wrote it)
//   fields         …        written and read in the same order by the model's own code
//   checksum       UInt64   FNV-1a of every byte before it
//
// Integers are little-endian. A string is a UInt32 byte count then UTF-8. A float array is a dtype tag
// (1 = float32), a rank byte, one UInt64 per dimension, then the elements row-major.

/// Builds an artifact in memory; `write(to:)` stores it atomically (write, then rename).
public struct ArtifactWriter {
    public static let magic: [UInt8] = Array("RUMMAGE\0".utf8)
    public static let formatVersion: UInt32 = 1
    static let float32Tag: UInt8 = 1

    public private(set) var bytes: [UInt8] = []

    public init(kind: String) {
        bytes.append(contentsOf: Self.magic)
        append(Self.formatVersion)
        append(kind)
    }

    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func append(_ value: Double) { append(value.bitPattern) }

    public mutating func append(_ value: String) {
        let utf8 = Array(value.utf8)
        append(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// A byte array: a UInt64 count, then the bytes.
    public mutating func append(byteArray values: [UInt8]) {
        append(UInt64(values.count))
        bytes.append(contentsOf: values)
    }

    /// A float32 array with its shape. Precondition: the shape's product is `values.count`.
    public mutating func append(floats values: [Float], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        bytes.append(Self.float32Tag)
        bytes.append(UInt8(shape.count))
        for d in shape { append(UInt64(d)) }
        values.withUnsafeBytes { raw in
            // Float32 little-endian is the in-memory layout on every platform Rummage builds for.
            bytes.append(contentsOf: raw)
        }
    }

    /// The finished artifact: everything appended, then the checksum.
    public var finished: [UInt8] {
        var copy = self
        copy.append(fnv1a(bytes))
        return copy.bytes
    }

    /// Writes the finished artifact to `path` atomically.
    public func write(to path: String) throws(DataError) {
        do {
            try Data(finished).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DataError(.unreadable, "cannot write artifact: \(error.localizedDescription)", path: path)
        }
    }
}

/// Reads an artifact written by `ArtifactWriter`, checking magic, version, kind and checksum first,
/// then every read against the remaining length. All failures are `DataError.corrupt` naming the file.
public struct ArtifactReader {
    public let path: String
    public private(set) var kind = ""
    public private(set) var formatVersion: UInt32 = 0
    private let bytes: [UInt8]
    private var offset: Int
    /// End of the field area (the checksum follows).
    private let end: Int

    /// Opens `path` and verifies its header and checksum. `expectedKind`, when given, must match.
    public init(path: String, expectedKind: String? = nil) throws(DataError) {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError(.fileNotFound, "no such file", path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(.unreadable, "cannot read artifact", path: path)
        }
        try self.init(bytes: [UInt8](data), path: path, expectedKind: expectedKind)
    }

    public init(bytes: [UInt8], path: String, expectedKind: String? = nil) throws(DataError) {
        self.path = path
        self.bytes = bytes
        offset = ArtifactWriter.magic.count
        end = bytes.count - 8
        guard bytes.count >= ArtifactWriter.magic.count + 4 + 4 + 8,
              Array(bytes.prefix(ArtifactWriter.magic.count)) == ArtifactWriter.magic else {
            throw DataError(.corrupt, "not a Rummage artifact (bad magic bytes)", path: path)
        }
        let stored = UInt64(littleEndian: bytes[end...].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        guard stored == fnv1a(bytes[..<end]) else {
            throw DataError(.corrupt, "checksum mismatch (file truncated or modified)", path: path)
        }
        formatVersion = try integer(UInt32.self)
        guard formatVersion <= ArtifactWriter.formatVersion else {
            throw DataError(.corrupt, "artifact format version \(formatVersion) is newer than this build reads (\(ArtifactWriter.formatVersion))", path: path)
        }
        kind = try string()
        if let expectedKind, kind != expectedKind {
            throw DataError(.corrupt, "artifact holds a '\(kind)' model, expected '\(expectedKind)'", path: path)
        }
    }

    private mutating func take(_ count: Int, for what: String) throws(DataError) -> Range<Int> {
        guard count >= 0, count <= end - offset else {
            throw DataError(.corrupt, "truncated: \(what) needs \(count) bytes at offset \(offset), \(end - offset) left", path: path)
        }
        defer { offset += count }
        return offset..<offset + count
    }

    public mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws(DataError) -> T {
        let range = try take(MemoryLayout<T>.size, for: "\(T.self)")
        return T(littleEndian: bytes[range].withUnsafeBytes { $0.loadUnaligned(as: T.self) })
    }

    /// A stored element count, refused unless the bytes left could hold that many elements of at least
    /// `minimumBytes` each: a hostile or corrupt count (2^63 nodes) is an error, never an allocation.
    public mutating func count(ofElementsOfAtLeast minimumBytes: Int, what: String) throws(DataError) -> Int {
        let n = try integer(UInt64.self)
        guard n <= UInt64((end - offset) / max(1, minimumBytes)) else {
            throw DataError(.corrupt, "implausible count of \(n) \(what) (\(end - offset) bytes left)", path: path)
        }
        return Int(n)
    }

    public mutating func double() throws(DataError) -> Double { Double(bitPattern: try integer(UInt64.self)) }

    public mutating func string() throws(DataError) -> String {
        let count = Int(try integer(UInt32.self))
        let range = try take(count, for: "string")
        guard let s = String(validating: bytes[range], as: UTF8.self) else {
            throw DataError(.corrupt, "invalid UTF-8 string at offset \(range.lowerBound)", path: path)
        }
        return s
    }

    /// A byte array written by `append(byteArray:)`.
    public mutating func byteArray() throws(DataError) -> [UInt8] {
        let count = try count(ofElementsOfAtLeast: 1, what: "bytes")
        return Array(bytes[try take(count, for: "byte array")])
    }

    /// A float32 array; its rank must be `rank`. Returns the shape and the values.
    public mutating func floats(rank: Int) throws(DataError) -> (shape: [Int], values: [Float]) {
        let tag = try integer(UInt8.self)
        guard tag == ArtifactWriter.float32Tag else {
            throw DataError(.corrupt, "unknown array dtype tag \(tag) at offset \(offset - 1)", path: path)
        }
        let storedRank = Int(try integer(UInt8.self))
        guard storedRank == rank else {
            throw DataError(.corrupt, "array of rank \(storedRank) where rank \(rank) was expected", path: path)
        }
        var shape: [Int] = []
        var count = 1
        for _ in 0..<rank {
            let d = try integer(UInt64.self)
            guard d <= UInt64(Int32.max) else { throw DataError(.corrupt, "implausible array dimension \(d)", path: path) }
            shape.append(Int(d))
            count *= Int(d)  // at most rank × 31 bits: checked against the remaining bytes next
            guard count <= end else { throw DataError(.corrupt, "array shape \(shape) exceeds the file", path: path) }
        }
        let range = try take(count * 4, for: "float array \(shape)")
        let values = bytes[range].withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 { memcpy(buffer.baseAddress!, raw.baseAddress!, count * 4) }
                initialized = count
            }
        }
        return (shape, values)
    }

    /// Whether every field has been read: how a reader tells an older artifact, which lacks a section
    /// added at the end later, from a newer one.
    public var isAtEnd: Bool { offset == end }

    /// Throws unless every field was read (a reader and writer out of step).
    public func finish() throws(DataError) {
        guard offset == end else {
            throw DataError(.corrupt, "\(end - offset) unread bytes after the last field", path: path)
        }
    }
}

/// 64-bit FNV-1a: a fast checksum for detecting truncation and corruption (not tampering).
func fnv1a(_ bytes: some Collection<UInt8>) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes {
        hash ^= UInt64(b)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}
