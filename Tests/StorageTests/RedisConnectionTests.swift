import Foundation
import RummageTestSupport
import Storage
import Testing

/// `RedisConnection` against a real redis-server on loopback (`TestRedis`).
@Suite struct RedisConnectionTests {
    func connection() throws -> RedisConnection { try RedisConnection(port: try TestRedis.port()) }

    @Test func commandsRoundTripBinarySafeValues() throws {
        let redis = try connection()
        let key = "t:" + UUID().uuidString
        #expect(try redis.command(["PING"]) == .status("PONG"))
        let value = "a value with spaces,\nnewlines, \"quotes\", \\ and ünïcödé"
        #expect(try redis.command(["SET", key, value]) == .status("OK"))
        #expect(try redis.command(["GET", key]) == .string(value))
        #expect(try redis.command(["GET", key + ":missing"]) == .null)
        #expect(try redis.command(["RPUSH", key + ":list", "x", "y", "z"]) == .integer(3))
        #expect(try redis.command(["LRANGE", key + ":list", "0", "-1"]) == .array([.string("x"), .string("y"), .string("z")]))
    }

    @Test func aPipelineSendsEveryCommandBeforeReadingAndKeepsOrder() throws {
        let redis = try connection()
        let key = "t:" + UUID().uuidString
        let replies = try redis.pipeline((0..<1_000).map { _ in ["INCR", key] })
        #expect(replies == (1...1_000).map { .integer($0) })
        #expect(try redis.command(["GET", key]).text == "1000")
    }

    @Test func anErrorReplyThrowsAndTheConnectionStaysUsable() throws {
        let redis = try connection()
        let key = "t:" + UUID().uuidString
        try redis.command(["SET", key, "not a number"])
        #expect(throws: StorageError.self) { try redis.pipeline([["INCR", key], ["GET", key]]) }
        #expect(try redis.command(["GET", key]) == .string("not a number"))
        #expect(throws: StorageError.self) { try RedisConnection(port: 1) }
    }
}
