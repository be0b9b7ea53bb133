import Foundation
import RummageAPI
import RummageCore

/// What a credential allows (docs/security.md).
public enum Scope: String, CaseIterable, Sendable, Comparable {
    /// `GET …/recommendations` and `GET …/similar`.
    case recommend
    /// `POST /v1/events`.
    case events
    /// `PUT`, `PATCH` and `GET /v1/items/{item}`.
    case listings
    /// `POST /v1/admin/…`.
    case admin
    /// `GET /metrics` and the dashboard (`GET /`).
    case metrics

    public static func < (a: Scope, b: Scope) -> Bool { a.rawValue < b.rawValue }
}

/// Who made a request: the name of the key it carried, what that key allows and, for a `listings` key
/// bound to one seller, that seller. Without credentials configured every caller is `Principal.local`.
public struct Principal: Sendable, Equatable {
    public let name: String
    public let scopes: Set<Scope>
    /// The only seller a `listings` key may act for; nil: any seller (documented in docs/security.md).
    public let seller: String?

    /// The caller of a server that has no credentials configured (it listens on loopback only).
    public static let local = Principal(name: "local", scopes: Set(Scope.allCases).subtracting([.admin]), seller: nil)

    public init(name: String, scopes: Set<Scope>, seller: String?) {
        self.name = name
        self.scopes = scopes
        self.seller = seller
    }

    /// The namespace of the event ids it sends (`EventIngestor`): its name, or "" for `local` (ids of a
    /// keyless server are global, as they were before keys).
    public var producer: String { self == .local ? "" : name }

    /// Whether it may act for `seller` (change or create that seller's listings).
    public func mayActFor(seller: String) -> Bool { self.seller == nil || self.seller == seller }
}

/// A problem with the configured credentials, found at start.
public struct AccessError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The API keys a server accepts. Keys are kept as SHA-256 digests only; a presented bearer key is
/// hashed and compared with every configured digest in constant time. With no keys, the server is
/// open to `Principal.local` and may only listen on loopback (`ServerApplication` refuses otherwise).
///
/// The key file (or `$RUMMAGE_API_KEYS`) has one key per line: `NAME SCOPES SECRET [seller=ID]`, where
/// SCOPES is a comma-separated list of `Scope`s and SECRET is `sha256:` and the key's 64-hex-digit
/// digest (what `rummage keys create` prints), or the key itself (at least `minimumKeyBytes` bytes);
/// `#` starts a comment.
public struct AccessPolicy: Sendable {
    public struct Key: Sendable {
        public let principal: Principal
        let digest: [UInt8]
    }

    /// The shortest plain key accepted: shorter ones are refused at start.
    public static let minimumKeyBytes = 16
    public static let open = AccessPolicy(keys: [])

    public let keys: [Key]

    /// No keys configured: every caller is `Principal.local`.
    public var isOpen: Bool { keys.isEmpty }

    public init(keys: [Key]) { self.keys = keys }

    /// A key held as its digest; `key` is hashed here and not kept.
    public static func key(name: String, scopes: Set<Scope>, key: String, seller: String? = nil) throws(AccessError) -> Key {
        guard key.utf8.count >= minimumKeyBytes else {
            throw AccessError("key '\(name)' is \(key.utf8.count) bytes; a key must have at least \(minimumKeyBytes) (empty or short keys are refused)")
        }
        return Key(principal: Principal(name: name, scopes: scopes, seller: seller), digest: digest(of: key))
    }

    /// Parses key lines (`source` names them in errors).
    public static func parse(_ text: String, source: String) throws(AccessError) -> AccessPolicy {
        var keys: [Key] = [], names: Set<String> = []
        for (number, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == ";" }).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard !fields.isEmpty else { continue }
            let at = "\(source) entry \(number + 1)"
            guard (3...4).contains(fields.count) else { throw AccessError("\(at): expected NAME SCOPES SECRET [seller=ID], found \(fields.count) fields") }
            let name = fields[0]
            if let problem = CanonicalID.problem(with: name) { throw AccessError("\(at): the name \(problem)") }
            guard names.insert(name).inserted else { throw AccessError("\(at): the name '\(name)' is used twice") }
            var scopes: Set<Scope> = []
            for text in fields[1].split(separator: ",") {
                guard let scope = Scope(rawValue: String(text)) else {
                    throw AccessError("\(at): unknown scope '\(text)' (scopes: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                scopes.insert(scope)
            }
            guard !scopes.isEmpty else { throw AccessError("\(at): no scopes") }
            var seller: String?
            if fields.count == 4 {
                guard fields[3].hasPrefix("seller="), CanonicalID.problem(with: String(fields[3].dropFirst(7))) == nil else {
                    throw AccessError("\(at): the fourth field must be seller=ID")
                }
                seller = String(fields[3].dropFirst(7))
            }
            let secret = fields[2]
            if secret.hasPrefix("sha256:") {
                let hex = Array(secret.utf8.dropFirst(7))
                guard hex.count == 64, let digest = Self.bytes(hex: hex) else { throw AccessError("\(at): sha256: must be followed by 64 hex digits") }
                keys.append(Key(principal: Principal(name: name, scopes: scopes, seller: seller), digest: digest))
            } else {
                do { keys.append(try key(name: name, scopes: scopes, key: secret, seller: seller)) } catch { throw AccessError("\(at): \(error.message)") }
            }
        }
        return AccessPolicy(keys: keys)
    }

    /// The principal an `Authorization: Bearer KEY` header identifies; nil when the header is missing,
    /// malformed or names no configured key. Every digest is compared, whether or not one matched.
    public func principal(authorization: String?) -> Principal? {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let presented = Self.digest(of: String(authorization.dropFirst(7)))
        var found: Principal?
        for key in keys where Self.constantTimeEqual(key.digest, presented) { found = key.principal }
        return found
    }

    /// The SHA-256 digest of a key.
    public static func digest(of key: String) -> [UInt8] { SHA256Hasher.digest(of: key.utf8) }

    /// The SHA-256 digest of a key as 64 hex digits (what a keys file holds after `sha256:`).
    public static func digestHex(of key: String) -> String { SHA256Hasher.hexString(digest(of: key)) }

    /// A new random key (32 bytes from the system's generator, as 64 hex digits, prefixed `rmg_`).
    public static func generateKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return "rmg_" + SHA256Hasher.hexString((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Whether `a` and `b` hold the same bytes, in a time that depends only on their lengths (never on
    /// where they first differ), so a secret cannot be guessed byte by byte from response times.
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        let x = Array(a), y = Array(b)
        var difference: UInt8 = x.count == y.count ? 0 : 1
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }

    private static func bytes(hex: [UInt8]) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        for i in stride(from: 0, to: hex.count, by: 2) {
            guard let high = nibble(hex[i]), let low = nibble(hex[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}
