import Foundation

/// A dense tensor as the hand-off files carry it: a shape and row-major values, either float32
/// (weights, embeddings) or int64 (ids and offsets of golden inputs).
public struct Tensor: Sendable, Equatable {
    public enum Values: Sendable, Equatable {
        case float32([Float])
        case int64([Int64])
    }

    public var shape: [Int]
    public var values: Values

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.shape = shape
        values = .float32(floats)
    }

    public init(shape: [Int], integers: [Int64]) {
        precondition(shape.reduce(1, *) == integers.count, "shape \(shape) does not hold \(integers.count) values")
        self.shape = shape
        values = .int64(integers)
    }

    /// The float32 values; nil for an integer tensor.
    public var floats: [Float]? { if case .float32(let v) = values { v } else { nil } }
    /// The integer values; nil for a float tensor.
    public var integers: [Int64]? { if case .int64(let v) = values { v } else { nil } }
    /// `F32` or `I64`, as safetensors names them.
    public var dtypeName: String { if case .float32 = values { "F32" } else { "I64" } }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and byte range, then the raw little-endian bytes. Reads F32, F64 (narrowed
/// to float32), I64 and I32 (widened); writes F32 and I64, tensors in name order, the header padded with
/// spaces to a multiple of 8 bytes as the reference writer does. Errors are `DataError`s naming the file.
public enum Safetensors {
    /// The tensors by name, and the header's `__metadata__` (string → string).
    public static func read(path: String) throws(DataError) -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "no such file", path: path) }
        return try read(bytes: [UInt8](data), path: path)
    }

    public static func read(bytes: [UInt8], path: String) throws(DataError) -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw DataError(.corrupt, "not a safetensors file (shorter than its header length)", path: path) }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(bytes.count - 8), headerLength <= 100_000_000 else {
            throw DataError(.corrupt, "not a safetensors file (header length \(headerLength) exceeds the file)", path: path)
        }
        let bodyStart = 8 + Int(headerLength)
        guard let header = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<bodyStart]))) as? [String: Any] else {
            throw DataError(.corrupt, "not a safetensors file (its header is not a JSON object)", path: path)
        }
        var tensors: [String: Tensor] = [:], metadata: [String: String] = [:]
        let bodyLength = bytes.count - bodyStart
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let object = entry as? [String: String] else { throw DataError(.corrupt, "__metadata__ must map strings to strings", path: path) }
                metadata = object
                continue
            }
            guard let entry = entry as? [String: Any], let dtype = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2, shape.allSatisfy({ $0 >= 0 }) else {
                throw DataError(.corrupt, "tensor '\(name)': header entry needs dtype, shape and data_offsets", path: path)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard 0 <= begin, begin <= end, end <= bodyLength else {
                throw DataError(.corrupt, "tensor '\(name)': bytes \(begin)..<\(end) lie outside the \(bodyLength)-byte body", path: path)
            }
            let count = shape.reduce(1, *)
            let width: Int
            switch dtype {
            case "F32", "I32": width = 4
            case "F64", "I64": width = 8
            default: throw DataError(.corrupt, "tensor '\(name)': dtype \(dtype) is not read (F32, F64, I64, I32)", path: path)
            }
            guard end - begin == count * width else {
                throw DataError(.corrupt, "tensor '\(name)': \(end - begin) bytes for shape \(shape) of \(dtype)", path: path)
            }
            tensors[name] = decode(bytes[(bodyStart + begin)..<(bodyStart + end)], dtype: dtype, shape: shape)
        }
        return (tensors, metadata)
    }

    /// Writes `tensors` (and `metadata`) to `path`.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws(DataError) {
        try TextFile.write(encode(tensors, metadata: metadata), to: path)
    }

    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> [UInt8] {
        var header: [String: Any] = [:]
        var body: [UInt8] = []
        for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) {
            let begin = body.count
            switch tensor.values {
            case .float32(let v): for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            case .int64(let v): for x in v { withUnsafeBytes(of: x.littleEndian) { body.append(contentsOf: $0) } }
            }
            header[name] = ["dtype": tensor.dtypeName, "shape": tensor.shape, "data_offsets": [begin, body.count]] as [String: Any]
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = [UInt8]((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes + json + body
    }

    /// Little-endian `bytes` of `dtype` (one of the read dtypes) as a tensor.
    static func decode(_ bytes: ArraySlice<UInt8>, dtype: String, shape: [Int]) -> Tensor {
        func words<T: FixedWidthInteger>(_: T.Type) -> [T] {
            let size = MemoryLayout<T>.size
            return bytes.withUnsafeBytes { raw in
                (0..<raw.count / size).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
            }
        }
        switch dtype {
        case "F32": return Tensor(shape: shape, floats: words(UInt32.self).map(Float.init(bitPattern:)))
        case "F64": return Tensor(shape: shape, floats: words(UInt64.self).map { Float(Double(bitPattern: $0)) })
        case "I32": return Tensor(shape: shape, integers: words(Int32.self).map(Int64.init))
        default: return Tensor(shape: shape, integers: words(Int64.self))
        }
    }
}

/// NumPy's `.npy` format (versions 1–3): a magic string, a Python-literal header with `descr`,
/// `fortran_order` and `shape`, then the raw values. Reads little-endian `<f4`, `<f8` (narrowed to
/// float32), `<i8` and `<i4` in C order; writes `<f4` and `<i8` (version 1.0).
public enum NumPyArray {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(path: String) throws(DataError) -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(.fileNotFound, "no such file", path: path) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw DataError(.corrupt, "not a .npy file (no \\x93NUMPY magic)", path: path) }
        let major = bytes[6]
        let (lengthBytes, start): (Int, Int) = major == 1 ? (2, 8) : (4, 8)
        guard (1...3).contains(major), bytes.count >= start + lengthBytes else {
            throw DataError(.corrupt, ".npy version \(major) is not read (1, 2, 3)", path: path)
        }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[start + $1]) << (8 * $1) }
        let bodyStart = start + lengthBytes + headerLength
        guard bodyStart <= bytes.count, let header = String(bytes: bytes[(start + lengthBytes)..<bodyStart], encoding: .utf8) else {
            throw DataError(.corrupt, ".npy header is truncated", path: path)
        }
        func field(_ key: String) -> Substring? {
            guard let keyRange = header.range(of: "'\(key)':") else { return nil }
            return header[keyRange.upperBound...].drop(while: { $0 == " " })
        }
        guard let descrText = field("descr"), descrText.first == "'", let close = descrText.dropFirst().firstIndex(of: "'") else {
            throw DataError(.corrupt, ".npy header has no descr", path: path)
        }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<close])
        if let fortran = field("fortran_order"), fortran.hasPrefix("True") {
            throw DataError(.corrupt, ".npy array is in Fortran order; save it C-contiguous (np.ascontiguousarray)", path: path)
        }
        guard let shapeText = field("shape"), shapeText.first == "(", let end = shapeText.firstIndex(of: ")") else {
            throw DataError(.corrupt, ".npy header has no shape", path: path)
        }
        let dimensions = shapeText[shapeText.index(after: shapeText.startIndex)..<end].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = dimensions.compactMap { Int($0.hasSuffix("L") ? String($0.dropLast()) : $0) }
        guard shape.count == dimensions.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw DataError(.corrupt, ".npy shape (\(dimensions.joined(separator: ", "))) is not a tuple of sizes", path: path)
        }
        let dtypes = ["<f4": ("F32", 4), "<f8": ("F64", 8), "<i8": ("I64", 8), "<i4": ("I32", 4)]
        guard let (dtype, width) = dtypes[descr] else {
            throw DataError(.corrupt, ".npy dtype \(descr) is not read (<f4, <f8, <i8, <i4)", path: path)
        }
        let count = shape.reduce(1, *)
        guard bytes.count - bodyStart == count * width else {
            throw DataError(.corrupt, ".npy body has \(bytes.count - bodyStart) bytes for shape \(shape) of \(descr)", path: path)
        }
        return Safetensors.decode(bytes[bodyStart...], dtype: dtype, shape: shape)
    }

    /// Writes `tensor` to `path` as a version 1.0 `.npy` file.
    public static func write(_ tensor: Tensor, to path: String) throws(DataError) {
        let descr = tensor.floats != nil ? "<f4" : "<i8"
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        while (magic.count + 4 + header.count + 1) % 64 != 0 { header.append(UInt8(ascii: " ")) }
        header.append(UInt8(ascii: "\n"))
        var bytes = magic + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)] + header
        switch tensor.values {
        case .float32(let v): for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        case .int64(let v): for x in v { withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        try TextFile.write(bytes, to: path)
    }
}
