import ArgumentParsing
import Foundation
import HTTPServer
import RummageClient
import RummageTestSupport
import Serving
import Testing

/// [12/19]: who may do what, over real sockets against `rummage serve` processes.
@Suite(.serialized) struct SecurityTests {
    /// A `rummage serve` child process on a free port, ready when /healthz answers.
    final class Server {
        let process = Process()
        let port: UInt16
        let errors: String

        /// `ready`: whether the server on that port answers (default: plain HTTP /healthz on 127.0.0.1).
        /// `standardError`: where its log goes (default: a file in `dir`, quoted when it fails to start).
        init(_ arguments: [String], environment: [String: String] = [:], dir: String, standardError: FileHandle? = nil, pollSeconds: Int = 0,
             ready: (UInt16) -> Bool = { HTTPClient.send("GET", "/healthz", port: $0).status == 200 }) throws {
            port = try HTTPServer.freeLoopbackPort()
            errors = dir + "/serve-\(port).err"
            _ = FileManager.default.createFile(atPath: errors, contents: nil)
            process.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
            process.arguments = ["serve"] + arguments + ["--port", String(port), "--poll", String(pollSeconds)]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardError = standardError ?? FileHandle(forWritingAtPath: errors)
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            let deadline = Date().addingTimeInterval(120)
            while !ready(port) {
                guard process.isRunning, Date() < deadline else {
                    throw TestFailure("serve did not start: \((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")")
                }
                usleep(100_000)
            }
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// One key per scope, named after it: `NAME SCOPE sha256:…` lines and the keys themselves.
    static func keysFile(in dir: String) -> (path: String, keys: [Scope: String]) {
        var keys: [Scope: String] = [:], lines: [String] = []
        for scope in Scope.allCases {
            let key = "key-for-\(scope.rawValue)-0123456789abcdef"
            keys[scope] = key
            lines.append("\(scope.rawValue) \(scope.rawValue) sha256:\(AccessPolicy.digestHex(of: key))")
        }
        lines.append("mallory events sha256:\(AccessPolicy.digestHex(of: Self.malloryKey))")
        return (Fixtures.write(lines.joined(separator: "\n") + "\n", to: "keys", in: dir), keys)
    }

    static let malloryKey = "mallory-also-sends-events-0123"

    /// A small marketplace, its log at `log` and a registered two-tower model `mp`.
    static func deploy(dir: String, log: String) {
        let data = dir + "/data"
        #expect(rummage("generate", "--out", data, "--users", "300", "--items", "800", "--events", "12000", "--seed", "4", "--jsonl",
                        "--quiet").code == 0)
        #expect(rummage("ingest", "--from", data + "/events.jsonl", "--log", log, "--quiet").code == 0)
        let config = Fixtures.write("""
            {"model": "mp", "registry": "\(dir)/registry", "data": {"dataset": "synthetic:\(data)"},
             "train": {"kind": "two-tower", "settings": {"content": "true", "epochs": "1"}, "seed": 1},
             "gate": {"absolute": {}, "relative": {}}}
            """, to: "pipeline.json", in: dir)
        #expect(rummage("pipeline", "run", "--pipeline", config, "--quiet").code == 0)
    }

    /// Every route × {no credential, a key without the route's scope, a key with it}: 401, 403 and the
    /// documented success; refused requests change nothing, and each accepted change is in the audit log.
    static func checkMatrix(port: UInt16, keys: [Scope: String], audit: String) throws {
        let now = Int64(Date().timeIntervalSince1970)
        let item = "matrix-\(UUID().uuidString.prefix(8))"
        // (method, path, body, scope (nil: open), status with the right scope)
        let routes: [(String, String, String, Scope?, Int)] = [
            ("GET", "/healthz", "", nil, 200),
            ("GET", "/readyz", "", nil, 200),
            ("GET", "/v1/users/u1/recommendations?k=5", "", .recommend, 200),
            ("GET", "/v1/items/l1/similar?k=5", "", .recommend, 200),
            ("PUT", "/v1/items/\(item)", #"{"seller":"u9","price":12,"attributes":{"category":"tops"}}"#, .listings, 200),
            ("GET", "/v1/items/\(item)", "", .listings, 200),
            ("PATCH", "/v1/items/\(item)", #"{"state":"reserved","seller":"u9"}"#, .listings, 200),
            ("POST", "/v1/events", #"{"event_id":"view-\#(item)","type":"view","timestamp":\#(now),"user":"u1","item":"\#(item)"}"#, .events, 200),
            ("POST", "/v1/admin/reload", "", .admin, 200),
            ("GET", "/metrics", "", .metrics, 200),
            ("GET", "/", "", .metrics, 200),
        ]
        for (method, path, body, scope, success) in routes {
            let bytes = Array(body.utf8)
            let none = HTTPClient.send(method, path, port: port, body: bytes)
            let bogus = HTTPClient.send(method, path, port: port, body: bytes, headers: ["Authorization": "Bearer not-a-key-0123456789abcdef"])
            guard let scope else {
                #expect(none.status == success && bogus.status == success, "\(method) \(path): \(none.status), \(bogus.status)")
                continue
            }
            #expect(none.status == 401 && none.body.contains("needs an API key"), "\(method) \(path) without a key: \(none)")
            #expect(bogus.status == 401 && bogus.body.contains("not valid"), "\(method) \(path) with an unknown key: \(bogus)")
            let other = Scope.allCases.first { $0 != scope }!
            let wrong = HTTPClient.send(method, path, port: port, body: bytes, headers: ["Authorization": "Bearer \(keys[other]!)"])
            #expect(wrong.status == 403 && wrong.body.contains("lacks the '\(scope.rawValue)' scope"), "\(method) \(path) as \(other): \(wrong)")
            let right = HTTPClient.send(method, path, port: port, body: bytes, headers: ["Authorization": "Bearer \(keys[scope]!)"])
            #expect(right.status == success, "\(method) \(path) as \(scope): \(right)")
        }
        // The refused PATCHes changed nothing: the accepted one moved the new listing from active to reserved.
        let listing = HTTPClient.send("GET", "/v1/items/\(item)", port: port, headers: ["Authorization": "Bearer \(keys[.listings]!)"])
        #expect(listing.body.contains(#""state":"reserved""#), "\(listing)")
        let lines = ((try? String(contentsOfFile: audit, encoding: .utf8)) ?? "").split(separator: "\n")
        let changes = lines.filter { $0.contains(#""msg":"audit""#) && $0.contains(item) }
        #expect(changes.contains { $0.contains(#""principal":"listings""#) && $0.contains(#""action":"listing_create""#) }, "\(changes)")
        #expect(changes.contains { $0.contains(#""principal":"listings""#) && $0.contains(#""before":"active""#)
                && $0.contains(#""after":"reserved""#) }, "\(changes)")
        #expect(changes.count == 3, "create, reserve and the view event: \(changes)")
        #expect(lines.contains { $0.contains(#""principal":"admin""#) && $0.contains(#""action":"reload""#) }, "\(lines)")

        // Event ids are the sending key's: another key cannot pre-claim one (the sale once became a silent
        // duplicate and the listing stayed on sale), a resend is a duplicate, other content is a 409.
        func post(_ key: String, _ type: String, id: String) -> (status: Int, body: String) {
            let extra = type == "view" ? #","surface":"home""# : ""
            let body = #"{"event_id":"\#(id)","type":"\#(type)","timestamp":\#(now),"user":"u2","item":"\#(item)"\#(extra)}"#
            return HTTPClient.send("POST", "/v1/events", port: port, body: Array(body.utf8), headers: ["Authorization": "Bearer \(key)"])
        }
        let order = "order-\(item)"
        #expect(post(Self.malloryKey, "view", id: order).body.contains(#""appended":1"#))
        let sale = post(keys[.events]!, "purchase", id: order)
        #expect(sale.status == 200 && sale.body.contains(#""appended":1"#), "\(sale)")
        let resent = post(keys[.events]!, "purchase", id: order)
        #expect(resent.status == 200 && resent.body.contains(#""duplicates":1"#), "\(resent)")
        let reused = post(keys[.events]!, "view", id: order)
        #expect(reused.status == 409 && reused.body.contains("already sent another event with this id"), "\(reused)")
        let sold = HTTPClient.send("GET", "/v1/items/\(item)", port: port, headers: ["Authorization": "Bearer \(keys[.listings]!)"])
        #expect(sold.body.contains(#""state":"sold""#), "\(sold)")

        // One spelling per id on every backend: NUL ("l9\0evil" was stored as "l9"), control characters and
        // over-long ids are refused, and other normalisation forms are put in NFC (an NFD PATCH changed the
        // NFC listing in memory but not in SQL or Redis), before they reach memory, SQLite, PostgreSQL or Redis.
        let listingsKey = ["Authorization": "Bearer \(keys[.listings]!)"], eventsKey = ["Authorization": "Bearer \(keys[.events]!)"]
        let cafe = "caf\u{E9}-\(item)"  // NFC
        #expect(HTTPClient.send("PUT", "/v1/items/\(RummageClient.percentEncoded(cafe))", port: port,
                                body: Array(#"{"seller":"u4","price":9}"#.utf8), headers: listingsKey).status == 200)
        for bad in ["\(cafe)\u{0}evil", "\(cafe)\u{7}", "\(cafe)\u{85}", String(repeating: "x", count: 129)] {
            let path = "/v1/items/\(RummageClient.percentEncoded(bad))"
            let patch = HTTPClient.send("PATCH", path, port: port, body: Array(#"{"state":"sold"}"#.utf8), headers: listingsKey)
            #expect(patch.status == 400, "PATCH \(bad.debugDescription): \(patch)")
            #expect(HTTPClient.send("GET", path, port: port, headers: listingsKey).status == 400)
            let event: [String: Any] = ["event_id": "sale-\(UUID().uuidString)", "type": "purchase", "timestamp": now, "user": "u3", "item": bad]
            let posted = HTTPClient.send("POST", "/v1/events", port: port, body: Array(try JSONSerialization.data(withJSONObject: event)),
                                         headers: eventsKey)
            #expect(posted.status == 422 && posted.body.contains("refused"), "POST \(bad.debugDescription): \(posted)")
        }
        let untouched = HTTPClient.send("GET", "/v1/items/\(RummageClient.percentEncoded(cafe))", port: port, headers: listingsKey)
        #expect(untouched.body.contains(#""state":"active""#), "\(untouched)")
        let decomposed = "/v1/items/\(RummageClient.percentEncoded("caf\u{65}\u{301}-\(item)"))"
        let reserved = HTTPClient.send("PATCH", decomposed, port: port, body: Array(#"{"state":"reserved"}"#.utf8), headers: listingsKey)
        #expect(reserved.status == 200 && reserved.body.contains(#""item":"\#(cafe)""#), "the NFC listing, by its NFC id: \(reserved)")
        let view: [String: Any] = ["event_id": "nfd-view-\(item)", "type": "view", "timestamp": now, "user": "u3", "item": "caf\u{65}\u{301}-\(item)"]
        let viewed = HTTPClient.send("POST", "/v1/events", port: port, body: Array(try JSONSerialization.data(withJSONObject: view)), headers: eventsKey)
        #expect(viewed.status == 200, "an NFD item id names the NFC listing: \(viewed)")
        let after = HTTPClient.send("GET", "/v1/items/\(RummageClient.percentEncoded(cafe))", port: port, headers: listingsKey)
        #expect(after.body.contains(#""state":"reserved""#), "\(after)")
    }

    @Test func everyRouteNeedsItsScopeOnSQLite() throws {
        let dir = Fixtures.temporaryDirectory("rummage-security-sqlite")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Self.deploy(dir: dir, log: dir + "/events.sqlite")
        let (keysPath, keys) = Self.keysFile(in: dir)
        let server = try Server(["--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite", "--api-keys", keysPath,
                                 "--audit-log", dir + "/audit.log"], dir: dir)
        defer { server.stop() }
        try Self.checkMatrix(port: server.port, keys: keys, audit: dir + "/audit.log")
    }

    @Test func everyRouteNeedsItsScopeOnPostgreSQLAndRedis() throws {
        let dir = Fixtures.temporaryDirectory("rummage-security-pg")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let redis = try TestRedis.Server()
        defer { redis.kill() }
        let log = try TestPostgres.databaseURI()
        Self.deploy(dir: dir, log: log)
        #expect(rummage("online", "rebuild", "--log", log, "--online-store", redis.url).code == 0)
        let (keysPath, keys) = Self.keysFile(in: dir)
        let contents = try String(contentsOfFile: keysPath, encoding: .utf8)
        let server = try Server(["--registry", dir + "/registry", "--model", "mp", "--log", log, "--online-store", redis.url,
                                 "--audit-log", dir + "/audit.log"], environment: ["RUMMAGE_API_KEYS": contents], dir: dir)
        defer { server.stop() }
        try Self.checkMatrix(port: server.port, keys: keys, audit: dir + "/audit.log")
    }

    /// A listing change names (or its key is bound to) the listing's seller; hidden is reversible and not
    /// deleted; a PATCH to the state a listing has answers changed: false; GET tells the state.
    @Test func listingChangesActForTheirSeller() throws {
        let dir = Fixtures.temporaryDirectory("rummage-security-listings")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Self.deploy(dir: dir, log: dir + "/events.sqlite")
        let shopKey = "shop-u9-key-0123456789abcdef", opsKey = "ops-key-0123456789abcdef"
        let keys = Fixtures.write("""
            shop-u9 listings sha256:\(AccessPolicy.digestHex(of: shopKey)) seller=u9
            ops listings,recommend sha256:\(AccessPolicy.digestHex(of: opsKey))
            """, to: "keys", in: dir)
        let server = try Server(["--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite", "--api-keys", keys], dir: dir)
        defer { server.stop() }
        let shop = RummageClient(port: server.port, apiKey: shopKey), ops = RummageClient(port: server.port, apiKey: opsKey)
        func status(_ call: () throws -> Void) -> Int {
            do { try call(); return 200 } catch RummageClientError.http(let status, _) { return status } catch { return -1 }
        }
        #expect(try shop.createListing(item: "shop-1", seller: "u9", price: 30, attributes: ["category": "tops"]).appended == 1)
        #expect(status { _ = try shop.createListing(item: "shop-2", seller: "u8") } == 403)
        #expect(try ops.createListing(item: "other-1", seller: "u8", price: 20, attributes: ["category": "tops"]).appended == 1)
        #expect(try ops.listing(item: "other-1") == .init(item: "other-1", seller: "u8", state: "active"))
        #expect(status { _ = try shop.setState(item: "other-1", .sold) } == 403)
        #expect(status { _ = try ops.setState(item: "other-1", .sold, seller: "u9") } == 403)
        #expect(try ops.listing(item: "other-1").state == "active", "refused changes change nothing")

        func served() throws -> Bool { try ops.similar(item: "other-1", k: 1_000).items.contains { $0.item == "shop-1" } }
        #expect(try served())
        #expect(try shop.setState(item: "shop-1", .hidden) == .init(item: "shop-1", seller: "u9", state: "hidden", changed: true))
        #expect(try shop.setState(item: "shop-1", .hidden).changed == false)
        #expect(try !served())
        #expect(try shop.setState(item: "shop-1", .active, seller: "u9") == .init(item: "shop-1", seller: "u9", state: "active", changed: true))
        #expect(try shop.listing(item: "shop-1").state == "active")
        #expect(try served(), "an unhidden listing is served again")
        #expect(try ops.setState(item: "shop-1", .deleted).changed == true)
        #expect(status { _ = try shop.setState(item: "shop-1", .active) } == 409)
        #expect(try shop.listing(item: "shop-1").state == "deleted")
        #expect(status { _ = try shop.listing(item: "no-such-listing") } == 404)
    }

    /// `serve --host ::1 --tls-cert --tls-key`: HTTPS on IPv6 loopback with a certificate openssl made now,
    /// keys required over it like over plain HTTP.
    @Test func serveAnswersOverHTTPSOnIPv6() throws {
        let dir = Fixtures.temporaryDirectory("rummage-security-tls")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Self.deploy(dir: dir, log: dir + "/events.sqlite")
        let made = Fixtures.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                 "-addext", "subjectAltName=IP:::1,IP:127.0.0.1", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"])
        #expect(made.code == 0, "\(made.output)")
        let (keysPath, keys) = Self.keysFile(in: dir)
        func curl(_ port: UInt16, _ path: String, key: String? = nil) -> (code: Int32, output: String) {
            Fixtures.run("/usr/bin/curl", ["-sS", "--max-time", "5", "--cacert", dir + "/cert.pem"] + (key.map { ["-H", "Authorization: Bearer \($0)"] } ?? [])
                     + ["https://[::1]:\(port)\(path)"])
        }
        let server = try Server(["--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite", "--api-keys", keysPath,
                                 "--host", "::1", "--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"], dir: dir,
                                ready: { curl($0, "/healthz").output.contains("ok") })
        defer { server.stop() }
        #expect(curl(server.port, "/v1/users/u1/recommendations?k=3").output.contains("needs an API key"))
        let answer = curl(server.port, "/v1/users/u1/recommendations?k=3", key: keys[.recommend])
        #expect(answer.code == 0 && answer.output.contains(#""items":["#), "\(answer.output)")
        #expect(HTTPClient.send("GET", "/healthz", port: server.port).status == -1, "nothing listens on 127.0.0.1")
        let mismatched = rummage("serve", "--registry", dir + "/registry", "--model", "mp", "--log", dir + "/events.sqlite",
                                 "--api-keys", keysPath, "--tls-cert", dir + "/cert.pem")
        #expect(mismatched.code == ExitCode.usage && mismatched.err.contains("go together"))
    }

    /// Without keys a server stays on loopback; keys that are empty, short or malformed stop it at start.
    @Test func credentialsAreCheckedAtStart() throws {
        let dir = Fixtures.temporaryDirectory("rummage-security-start")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let serve = ["serve", "--registry", dir + "/registry", "--model", "m", "--log", dir + "/events.sqlite", "--create-log", "--port", "0"]
        for host in ["0.0.0.0", "::"] {
            let open = rummage(serve + ["--host", host])
            #expect(open.code == ExitCode.usage && open.err.contains("needs API keys"), "\(host): \(open.err)")
        }
        for (name, content, says) in [("short", "web recommend too-short\n", "at least 16"),
                                      ("scope", "web recommend,everything sha256:\(String(repeating: "0", count: 64))\n", "unknown scope"),
                                      ("digest", "web recommend sha256:abc\n", "64 hex digits"),
                                      ("twice", "a events key-number-one-0123456789\na events key-number-two-0123456789\n", "used twice")] {
            let result = rummage(serve + ["--api-keys", Fixtures.write(content, to: name, in: dir)])
            #expect(result.code == ExitCode.usage && result.err.contains(says), "\(name): \(result.err)")
        }
        // In a child process: the environment is the process's.
        let child = Process()
        child.executableURL = repositoryRoot.appendingPathComponent(".build/release/rummage")
        child.arguments = serve
        child.environment = ["RUMMAGE_API_KEYS": ""]
        let stderr = Pipe()
        child.standardError = stderr
        try child.run()
        child.waitUntilExit()
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(child.terminationStatus == ExitCode.usage && said.contains("holds no key"), "\(said)")
        let onArgv = rummage(serve + ["--api-key", "a-long-enough-secret-key-0123"])
        #expect(onArgv.code == ExitCode.usage, "keys are never taken from argv: \(onArgv.err)")
    }

    @Test func keysCreatePrintsTheKeyOnceAndStoresOnlyItsDigest() throws {
        let dir = Fixtures.temporaryDirectory("rummage-keys")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/keys"
        let made = rummage("keys", "create", "--name", "shop", "--scopes", "listings", "--seller", "s1", "--append", file)
        #expect(made.code == 0, "\(made.err)")
        let key = made.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.hasPrefix("rmg_") && key.count == 68)
        let stored = try String(contentsOfFile: file, encoding: .utf8)
        #expect(stored == "shop listings sha256:\(AccessPolicy.digestHex(of: key)) seller=s1\n" && !stored.contains(key))
        let policy = try AccessPolicy.parse(stored, source: file)
        #expect(policy.principal(authorization: "Bearer \(key)") == Principal(name: "shop", scopes: [.listings], seller: "s1"))
        #expect(policy.principal(authorization: "Bearer \(key)x") == nil && policy.principal(authorization: key) == nil)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
