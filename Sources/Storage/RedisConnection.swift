import CRedis
#if canImport(Glibc)
import Glibc
#endif

/// A reply from Redis.
public enum RedisReply: Sendable, Equatable {
    case string(String)
    case status(String)
    case integer(Int)
    case array([RedisReply])
    case null

    /// The text of a string or status reply.
    public var text: String? {
        switch self {
        case .string(let s), .status(let s): s
        default: nil
        }
    }
}

/// One Redis connection (Debian's hiredis), for the scale-out stores. Not safe to use from two threads
/// at once: owners serialise access. Commands travel as argument vectors (binary-safe); `pipeline`
/// sends many commands before reading any reply, one round trip for all.
public final class RedisConnection: @unchecked Sendable {
    // @unchecked because: the context pointer is only used under the owner's lock.
    private let context: UnsafeMutablePointer<redisContext>
    public let endpoint: String

    /// `timeoutMilliseconds` bounds the connect and each later read or write (`setTimeout` changes it).
    /// A server that does not answer in time throws `StorageError.unreachable`.
    public init(host: String = "127.0.0.1", port: Int, timeoutMilliseconds: Int = 2_000) throws(StorageError) {
        endpoint = "\(host):\(port)"
        let timeout = Self.timeval(milliseconds: timeoutMilliseconds)
        guard let context = redisConnectWithTimeout(host, Int32(port), timeout) else {
            throw StorageError(code: -1, "redis \(endpoint): out of memory")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw StorageError(code: StorageError.unreachable, "redis \(endpoint): \(message)")
        }
        redisSetTimeout(context, timeout)
        self.context = context
    }

    /// Bounds each later read and write.
    public func setTimeout(milliseconds: Int) { redisSetTimeout(context, Self.timeval(milliseconds: milliseconds)) }

    private static func timeval(milliseconds: Int) -> Glibc.timeval {
        Glibc.timeval(tv_sec: milliseconds / 1_000, tv_usec: (milliseconds % 1_000) * 1_000)
    }

    deinit { redisFree(context) }

    /// Sends one command and returns its reply; an error reply throws.
    @discardableResult
    public func command(_ arguments: [String]) throws(StorageError) -> RedisReply {
        try pipeline([arguments])[0]
    }

    /// Sends every command, then reads every reply, in order. The first error reply throws (after all
    /// replies were read, so the connection stays usable).
    public func pipeline(_ commands: [[String]]) throws(StorageError) -> [RedisReply] {
        for arguments in commands {
            let appended = Self.withArgv(arguments) { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
            guard appended == REDIS_OK else { throw StorageError(code: StorageError.unreachable, "redis \(endpoint): \(Self.errorText(context))") }
        }
        var replies: [RedisReply] = [], failure: StorageError? = nil
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer? = nil
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw StorageError(code: StorageError.unreachable, "redis \(endpoint): \(Self.errorText(context))")
            }
            defer { freeReplyObject(raw) }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            if reply.pointee.type == REDIS_REPLY_ERROR {
                if failure == nil { failure = StorageError(code: -1, "redis \(endpoint): \(Self.string(reply))") }
                replies.append(.null)
            } else {
                replies.append(Self.convert(reply))
            }
        }
        if let failure { throw failure }
        return replies
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        switch reply.pointee.type {
        case REDIS_REPLY_STRING: .string(string(reply))
        case REDIS_REPLY_STATUS: .status(string(reply))
        case REDIS_REPLY_INTEGER: .integer(Int(reply.pointee.integer))
        case REDIS_REPLY_ARRAY:
            .array((0..<Int(reply.pointee.elements)).map { convert(reply.pointee.element[$0]!) })
        default: .null
        }
    }

    private static func string(_ reply: UnsafeMutablePointer<redisReply>) -> String {
        guard let bytes = reply.pointee.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(reply.pointee.len)), as: UTF8.self)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// argc, argv and argument lengths for hiredis's *Argv calls, valid during `body`.
    private static func withArgv<R>(_ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        let lengths = arguments.map { $0.utf8.count }
        let copies: [UnsafeMutablePointer<CChar>] = arguments.map { argument in
            let bytes = Array(argument.utf8CString)
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            p.initialize(from: bytes, count: bytes.count)
            return p
        }
        defer { copies.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        return argv.withUnsafeMutableBufferPointer { a in
            lengths.withUnsafeBufferPointer { l in body(Int32(arguments.count), a.baseAddress!, l.baseAddress!) }
        }
    }
}
