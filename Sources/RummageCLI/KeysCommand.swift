import ArgumentParsing
import Foundation
import Serving

/// `rummage keys create`: a new API key for `rummage serve --api-keys`.
struct KeysCreateCommand: Command {
    static let configuration = CommandConfiguration(
        name: "keys create",
        abstract: "Create an API key: print it once, and the line for the keys file (its SHA-256 only).",
        discussion: """
        Generates a key of 32 random bytes (rmg_ and 64 hex digits) from the system's generator. The key
        goes to standard output once, for the client; the keys-file line (NAME SCOPES sha256:DIGEST
        [seller=ID]) is appended to --append (created with mode 0600 if missing) or printed. The server
        keeps only digests, so a leaked keys file does not leak keys. Scopes: recommend, events, listings,
        admin, metrics (docs/security.md). To rotate: create a new key under a new name, give it to the
        client, restart the servers with both lines, then delete the old line and restart again.
        """,
        options: [
            .value("name", "NAME", help: "The key's name (in the audit log and in errors).", required: true),
            .value("scopes", "LIST", help: "Comma-separated scopes: recommend, events, listings, admin, metrics.", required: true),
            .value("seller", "ID", help: "With listings: the only seller this key may act for (default: any)."),
            .value("append", "FILE", help: "Append the keys-file line to FILE instead of printing it."),
            .flag("json", help: "Print {\"name\", \"key\", \"line\"} as one JSON object."),
        ])

    let name: String, scopes: String, seller: String?, append: String?, json: Bool

    init(_ arguments: ParsedArguments) throws {
        name = try arguments.requiredString("name")
        scopes = try arguments.requiredString("scopes")
        seller = arguments.string("seller")
        append = arguments.string("append")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let console = Console(output: output, quiet: false)
        let key = AccessPolicy.generateKey()
        let line = "\(name) \(scopes) sha256:\(AccessPolicy.digestHex(of: key))" + (seller.map { " seller=\($0)" } ?? "")
        do { _ = try AccessPolicy.parse(line, source: "the new key") } catch { throw UsageError(error.message) }
        if let append {
            let existing = FileManager.default.contents(atPath: append)
            if existing == nil && !FileManager.default.createFile(atPath: append, contents: nil, attributes: [.posixPermissions: 0o600]) {
                throw UsageError("--append: cannot create \(append)")
            }
            guard let handle = FileHandle(forWritingAtPath: append) else { throw UsageError("--append: cannot write \(append)") }
            handle.seekToEndOfFile()
            let separator = existing.map { !$0.isEmpty && $0.last != 0x0A } ?? false ? "\n" : ""
            handle.write(Data((separator + line + "\n").utf8))
            handle.closeFile()
        }
        if json {
            console.result(try jsonObjectLine(["name": name, "key": key, "line": line]))
        } else {
            console.result(key)
            if append == nil { console.result(line) } else { console.progress("appended '\(name)' to \(append!)") }
        }
    }
}
