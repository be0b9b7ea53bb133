/// A problem with input data or files: missing, unreadable, corrupt, or a malformed line.
///
/// `description` is one line a person can act on, with the file and line number when known,
/// e.g. `data/events.csv:17: expected 5 fields, found 3`.
public struct DataError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case fileNotFound, unreadable, malformedLine, corrupt, invalidArgument
    }

    public var code: Code
    public var message: String
    public var path: String?
    public var line: Int?

    public init(_ code: Code, _ message: String, path: String? = nil, line: Int? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.line = line
    }

    public var description: String {
        switch (path, line) {
        case let (path?, line?): return "\(path):\(line): \(message)"
        case let (path?, nil): return "\(path): \(message)"
        default: return message
        }
    }
}
