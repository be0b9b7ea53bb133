import CLZMA
import Foundation

/// A text data file read whole into memory, transparently decompressed when it is `.xz`.
///
/// Lines are visited as byte buffers without building `String`s, so loaders parse millions of
/// lines quickly; `DelimitedFields` splits a line into fields. Errors name the file (and line).
public struct TextFile: Sendable {
    public let path: String
    public let bytes: [UInt8]

    /// Reads `path`; a file starting with the xz magic bytes is decompressed through liblzma.
    public init(path: String) throws(DataError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(.fileNotFound, "no such file", path: path)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(.unreadable, "cannot read file", path: path)
        }
        let raw = [UInt8](data)
        if raw.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            bytes = try XZ.decompress(raw, path: path)
        } else {
            bytes = raw
        }
    }

    /// Writes `bytes` to `path`, replacing the file, or appending to it when `append` is true and it exists.
    public static func write(_ bytes: some Sequence<UInt8>, to path: String, append: Bool = false) throws(DataError) {
        do {
            if append, let handle = FileHandle(forWritingAtPath: path) {
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(bytes))
                try handle.close()
            } else {
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
        } catch {
            throw DataError(.unreadable, "cannot write: \(error.localizedDescription)", path: path)
        }
    }

    /// Writes `text` as UTF-8 (see `write(_:to:append:)` for bytes).
    public static func write(_ text: String, to path: String, append: Bool = false) throws(DataError) {
        try write(text.utf8, to: path, append: append)
    }

    /// Wraps bytes already in memory (tests, generated data). `path` is used in error messages.
    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    /// Calls `body(lineNumber, line)` for each line (1-based numbers), without the line terminator
    /// (`\n` or `\r\n`). A final line without terminator is visited; a trailing empty line is not.
    public func forEachLine<E: Error>(_ body: (Int, UnsafeBufferPointer<UInt8>) throws(E) -> Void) throws(E) {
        try bytes.withUnsafeBufferPointer { (all) throws(E) in
            guard let base = all.baseAddress else { return }
            var start = 0
            var lineNumber = 0
            let n = all.count
            while start < n {
                var end = start
                if let found = memchr(base + start, 0x0A, n - start) {
                    end = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
                } else {
                    end = n
                }
                lineNumber += 1
                var stop = end
                if stop > start && base[stop - 1] == 0x0D { stop -= 1 }
                try body(lineNumber, UnsafeBufferPointer(start: base + start, count: stop - start))
                start = end + 1
            }
        }
    }

    /// A `DataError.malformedLine` pointing at `line` of this file.
    public func error(line: Int, _ message: String) -> DataError {
        DataError(.malformedLine, message, path: path, line: line)
    }
}

/// xz (LZMA2) decompression through liblzma.
/// xz (LZMA2) through Debian's liblzma.
public enum XZ {
    /// `input` compressed at preset 6 with a CRC64 check, in one call.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: lzma_stream_buffer_bound(input.count))
        var written = 0
        let status = input.withUnsafeBufferPointer { inp in
            output.withUnsafeMutableBufferPointer { out in
                lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nil, inp.baseAddress, inp.count, out.baseAddress, &written, out.count)
            }
        }
        precondition(status == LZMA_OK, "liblzma could not compress into a buffer of its own bound (status \(status.rawValue))")
        return Array(output[..<written])
    }

    public static func decompress(_ input: [UInt8], path: String = "<memory>") throws(DataError) -> [UInt8] {
        var stream = lzma_stream()  // LZMA_STREAM_INIT is all zeros
        // 0x08 = LZMA_CONCATENATED (the macro does not import).
        guard lzma_stream_decoder(&stream, UInt64.max, 0x08) == LZMA_OK else {
            throw DataError(.corrupt, "cannot initialise xz decoder", path: path)
        }
        defer { lzma_end(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(input.count * 6)
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status = LZMA_OK
        input.withUnsafeBufferPointer { inp in
            stream.next_in = inp.baseAddress
            stream.avail_in = inp.count
            buffer.withUnsafeMutableBufferPointer { out in
                repeat {
                    stream.next_out = out.baseAddress
                    stream.avail_out = chunk
                    status = lzma_code(&stream, LZMA_FINISH)
                    output.append(contentsOf: UnsafeBufferPointer(start: out.baseAddress, count: chunk - stream.avail_out))
                } while status == LZMA_OK
            }
        }
        guard status == LZMA_STREAM_END else {
            throw DataError(.corrupt, "corrupt or truncated xz data (liblzma status \(status.rawValue))", path: path)
        }
        return output
    }
}

/// Writes a text file line by line through a 16 MiB buffer (replacing any file at `path`).
public struct LineWriter {
    public let path: String
    public private(set) var lines = 0
    private var buffer = ""
    private var started = false

    public init(path: String) { self.path = path }

    /// Adds `line` and a newline.
    public mutating func write(_ line: String) throws(DataError) {
        buffer += line
        buffer += "\n"
        lines += 1
        if buffer.utf8.count > 1 << 24 { try flush() }
    }

    /// Writes what is buffered; call once at the end (an empty output still creates the file).
    public mutating func flush() throws(DataError) {
        try TextFile.write(buffer, to: path, append: started)
        buffer = ""
        started = true
    }
}

