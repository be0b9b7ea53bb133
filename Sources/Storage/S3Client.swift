import CCrypto
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A client of the S3 API (AWS S3, MinIO, Ceph, moto…): objects put and got whole, listed by prefix, and
/// written conditionally (`If-None-Match: *` creates only; `If-Match: ETAG` replaces only what was read), with
/// requests signed by AWS Signature Version 4 and path-style addressing (`ENDPOINT/BUCKET/KEY`).
///
/// Credentials come from the environment only: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
/// `AWS_SESSION_TOKEN`; the region from `AWS_REGION` (default `us-east-1`); the endpoint from the location's
/// `endpoint` parameter or `AWS_ENDPOINT_URL` (default `https://s3.REGION.amazonaws.com`).
public final class S3Client: Sendable {
    public let endpoint: URL
    public let bucket: String
    public let region: String
    private let accessKey: String
    private let secretKey: String
    private let sessionToken: String?
    public let timeoutSeconds: Double

    public init(endpoint: URL, bucket: String, region: String, accessKey: String, secretKey: String, sessionToken: String? = nil,
                timeoutSeconds: Double = 30) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
        self.timeoutSeconds = timeoutSeconds
    }

    /// `s3://BUCKET/PREFIX[?endpoint=URL]` → the client and the key prefix (no trailing slash), with
    /// credentials from `environment`.
    public static func location(_ url: String, environment: [String: String]) throws(StorageError) -> (client: S3Client, prefix: String) {
        guard url.hasPrefix("s3://"), let components = URLComponents(string: url), let bucket = components.host, !bucket.isEmpty else {
            throw StorageError(code: -1, "'\(url)' is not an s3://BUCKET/PREFIX location")
        }
        var endpointText = environment["AWS_ENDPOINT_URL"]
        for item in components.queryItems ?? [] {
            guard item.name == "endpoint", let value = item.value else {
                throw StorageError(code: -1, "'\(url)': the only parameter is endpoint=URL, got '\(item.name)'")
            }
            endpointText = value
        }
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        guard let endpoint = URL(string: endpointText ?? "https://s3.\(region).amazonaws.com"), endpoint.host != nil else {
            throw StorageError(code: -1, "'\(url)': the endpoint '\(endpointText ?? "")' is not a URL")
        }
        guard let access = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw StorageError(code: -1, "\(url): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
        }
        let prefix = components.path.split(separator: "/").joined(separator: "/")
        return (S3Client(endpoint: endpoint, bucket: bucket, region: region, accessKey: access, secretKey: secret,
                         sessionToken: environment["AWS_SESSION_TOKEN"]), prefix)
    }

    // MARK: Objects

    /// The object's bytes and ETag; nil when there is no such key.
    public func get(_ key: String) throws(StorageError) -> (bytes: [UInt8], etag: String)? {
        let reply = try send("GET", key: key)
        if reply.status == 404 { return nil }
        try check(reply, "GET \(key)")
        return (reply.body, reply.etag)
    }

    public enum Condition: Sendable, Equatable {
        /// Write whatever is there.
        case none
        /// Create only: refused if the key exists.
        case absent
        /// Replace only the version read (its ETag).
        case matches(String)
    }

    /// Puts the object; returns its ETag, or nil when `condition` did not hold (HTTP 412 or 409).
    public func put(_ key: String, _ bytes: [UInt8], condition: Condition = .none) throws(StorageError) -> String? {
        var headers: [String: String] = [:]
        switch condition {
        case .none: break
        case .absent: headers["If-None-Match"] = "*"
        case .matches(let etag): headers["If-Match"] = etag
        }
        let reply = try send("PUT", key: key, body: bytes, headers: headers)
        if reply.status == 412 || reply.status == 409 { return nil }
        try check(reply, "PUT \(key)")
        return reply.etag
    }

    /// Every key under `prefix` (ListObjectsV2, following continuation tokens), sorted.
    public func list(prefix: String) throws(StorageError) -> [String] {
        var keys: [String] = [], token: String? = nil
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let reply = try send("GET", key: "", query: query)
            try check(reply, "LIST \(prefix)")
            let text = String(decoding: reply.body, as: UTF8.self)
            keys += Self.elements("Key", in: text).map(Self.unescapeXML)
            token = Self.elements("IsTruncated", in: text).first == "true" ? Self.elements("NextContinuationToken", in: text).first : nil
        } while token != nil
        return keys.sorted()
    }

    /// Creates the bucket (for tests and first set-up); an existing one of ours is fine.
    public func createBucket() throws(StorageError) {
        let reply = try send("PUT", key: "")
        guard (200..<300).contains(reply.status) || reply.code == "BucketAlreadyOwnedByYou" else { try check(reply, "create bucket"); return }
    }

    // MARK: HTTP and signing

    private struct Reply {
        var status: Int
        var body: [UInt8]
        var etag: String
        var code: String { S3Client.elements("Code", in: String(decoding: body, as: UTF8.self)).first ?? "" }
    }

    private func check(_ reply: Reply, _ what: String) throws(StorageError) {
        guard !(200..<300).contains(reply.status) else { return }
        let message = S3Client.elements("Message", in: String(decoding: reply.body, as: UTF8.self)).first ?? ""
        throw StorageError(code: reply.status >= 500 ? StorageError.unreachable : -1,
                           "s3://\(bucket): \(what): HTTP \(reply.status) \(reply.code) \(message)".trimmingCharacters(in: .whitespaces))
    }

    private func send(_ method: String, key: String, query: [(String, String)] = [], body: [UInt8] = [],
                      headers extra: [String: String] = [:]) throws(StorageError) -> Reply {
        let path = "/" + ([bucket] + (key.isEmpty ? [] : [key])).joined(separator: "/")
        let canonicalPath = path.split(separator: "/", omittingEmptySubsequences: false).map { Self.encode(String($0)) }.joined(separator: "/")
        let canonicalQuery = query.map { (Self.encode($0.0), Self.encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
        guard let url = URL(string: endpoint.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + canonicalPath
                                    + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery)) else {
            throw StorageError(code: -1, "s3: cannot form a URL for '\(key)'")
        }
        let now = Date()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: now), day = String(amzDate.prefix(8))
        let payloadHash = Self.hex(Self.sha256(body))
        var headers = extra
        headers["host"] = endpoint.host! + (endpoint.port.map { ":\($0)" } ?? "")
        headers["x-amz-date"] = amzDate
        headers["x-amz-content-sha256"] = payloadHash
        if let sessionToken { headers["x-amz-security-token"] = sessionToken }
        let signed = headers.keys.map { $0.lowercased() }.sorted()
        let lowered = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value.trimmingCharacters(in: .whitespaces)) })
        let canonicalRequest = [method, canonicalPath, canonicalQuery, signed.map { "\($0):\(lowered[$0]!)\n" }.joined(),
                                signed.joined(separator: ";"), payloadHash].joined(separator: "\n")
        let scope = "\(day)/\(region)/s3/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(Self.sha256(Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = Self.hmac(Array("AWS4\(secretKey)".utf8), Array(day.utf8))
        for part in [region, "s3", "aws4_request"] { key = Self.hmac(key, Array(part.utf8)) }
        let signature = Self.hex(Self.hmac(key, Array(toSign.utf8)))
        var request = URLRequest(url: url, timeoutInterval: timeoutSeconds)
        request.httpMethod = method
        for (name, value) in headers where name != "host" { request.setValue(value, forHTTPHeaderField: name) }
        request.setValue("AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)",
                         forHTTPHeaderField: "Authorization")
        if method == "PUT" { request.httpBody = Data(body) }
        return try Self.perform(request, what: "\(method) s3://\(bucket)/\(key)")
    }

    /// Runs a request synchronously (URLSession through libcurl).
    private static func perform(_ request: URLRequest, what: String) throws(StorageError) -> Reply {
        final class Box: @unchecked Sendable { var result: (Data?, URLResponse?, (any Error)?) = (nil, nil, nil) }
        let box = Box(), done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.result = (data, response, error)
            done.signal()
        }.resume()
        done.wait()
        guard let response = box.result.1 as? HTTPURLResponse else {
            throw StorageError(code: StorageError.unreachable, "\(what): no answer (\(box.result.2.map { "\($0)" } ?? "no response"))")
        }
        let etag = (response.value(forHTTPHeaderField: "ETag") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return Reply(status: response.statusCode, body: Array(box.result.0 ?? Data()), etag: etag)
    }

    /// URI-encodes everything but unreserved characters (RFC 3986), as SigV4 wants.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// The texts of `<name>…</name>` in an XML reply.
    static func elements(_ name: String, in xml: String) -> [String] {
        var found: [String] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(name)>"), let close = rest[open.upperBound...].range(of: "</\(name)>") {
            found.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func unescapeXML(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        bytes.withUnsafeBytes { _ = EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        return Array(digest.prefix(Int(length)))
    }

    static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBytes { k in message.withUnsafeBytes { m in _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length) } }
        return Array(out.prefix(Int(length)))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
