import CCrypto
import Foundation

/// SHA-256 digests through OpenSSL's libcrypto (EVP interface), as lowercase hex: artifact checksums
/// and data fingerprints.
public struct SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress { EVP_DigestUpdate(context, base, bytes.count) }
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Array(bytes).withUnsafeBytes { update($0) }
    }

    public mutating func update(_ text: String) { update(Array(text.utf8)) }

    /// The digest as 64 hex characters; the hasher cannot be used afterwards.
    public consuming func finalize() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        EVP_MD_CTX_free(context)
        return Self.hexString(digest.prefix(Int(length)))
    }

    /// The 32-byte digest of `bytes`, in one call (no context to allocate: request and ingest paths).
    public static func digest(of bytes: some Sequence<UInt8>) -> [UInt8] { digest(of: Array(bytes)) }

    /// The 32-byte digest of `input`.
    public static func digest(of input: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        input.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        return Array(digest.prefix(Int(length)))
    }

    public static func hex(of bytes: some Sequence<UInt8>) -> String { hexString(digest(of: bytes)) }

    /// Lowercase hex, two digits per byte.
    public static func hexString(_ bytes: some Collection<UInt8>) -> String { hexString(Array(bytes)) }

    /// Lowercase hex, two digits per byte.
    public static func hexString(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var i = 0
            for byte in bytes {
                out[i] = hexDigit(byte >> 4)
                out[i + 1] = hexDigit(byte & 0x0F)
                i += 2
            }
            return i
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }

    /// The digest of a file's bytes, read in 1 MiB chunks.
    public static func hex(ofFile path: String) throws(DataError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DataError(.fileNotFound, "cannot read file", path: path) }
        defer { try? handle.close() }
        var h = SHA256Hasher()
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { h.update($0) }
        }
        return h.finalize()
    }
}
