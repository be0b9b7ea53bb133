import ArgumentParsing
import Foundation
import HTTPServer
import RummageTestSupport
import Serving
import Testing

/// [14/19]: openapi.yaml is complete enough to adopt from: every operation has an operationId and a tag,
/// every request example is accepted by the running server, every response example carries its schema's
/// required fields, and docs/api.md is rendered from it (`RUMMAGE_UPDATE_DOCS=1 swift test --filter
/// OpenAPIReferenceTests` writes it; otherwise the test checks it is up to date).
@Suite struct OpenAPIReferenceTests {
    static let methods = ["get", "post", "put", "patch", "delete"]

    static func document() throws -> ConfigValue {
        try ConfigValue.parse(try String(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8), source: "openapi.yaml")
    }

    /// Every operation: (path, method, operation).
    static func operations(_ document: ConfigValue) -> [(path: String, method: String, operation: ConfigValue)] {
        (document["paths"]?.entries ?? []).flatMap { path, item in
            (item.entries ?? []).filter { methods.contains($0.key) }.map { (path, $0.key, $0.value) }
        }
    }

    /// A `$ref` followed within the document (`#/components/…`).
    static func resolved(_ value: ConfigValue?, in document: ConfigValue) -> ConfigValue? {
        guard let reference = value?["$ref"]?.text, reference.hasPrefix("#/") else { return value }
        return document.value(at: reference.dropFirst(2).replacingOccurrences(of: "/", with: "."))
    }

    static func json(_ value: ConfigValue) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value.jsonObject, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func everyOperationIsNamedTaggedAndItsExamplesAreComplete() throws {
        let document = try Self.document()
        let operations = Self.operations(document)
        #expect(operations.count == 12)
        let ids = operations.compactMap { $0.operation["operationId"]?.text }
        #expect(ids.count == operations.count && Set(ids).count == ids.count, "\(ids)")
        for (path, method, operation) in operations {
            #expect(operation["tags"].map { if case .list(let tags, _) = $0 { !tags.isEmpty } else { false } } == true, "\(method) \(path)")
            for (status, response) in operation["responses"]?.entries ?? [] {
                guard let content = Self.resolved(response, in: document)?["content"]?["application/json"] else { continue }
                guard let example = content["example"] else {
                    #expect(status != "200", "\(method) \(path) \(status): a JSON answer without an example")
                    continue
                }
                let object = example.jsonObject as? [String: Any] ?? [:]
                if case .list(let required, _)? = Self.resolved(content["schema"], in: document)?["required"] {
                    for field in required.compactMap(\.text) { #expect(object[field] != nil, "\(method) \(path) \(status): the example lacks '\(field)'") }
                }
            }
        }
    }

    /// Each request example, sent to a running server, is accepted (a 2xx).
    @Test func theRunningServerAcceptsEveryRequestExample() throws {
        let document = try Self.document()
        let server = try OpenAPIContractTests.runningServer()
        defer { server.stop() }
        var sent = 0
        // In an order that makes each valid: the listing is created before its state changes.
        for (path, method) in [("/v1/items/{item}", "put"), ("/v1/items/{item}", "patch"), ("/v1/events", "post"), ("/v1/admin/reload", "post")] {
            let operation = try #require(document["paths"]?[path]?[method])
            let example = try #require(operation["requestBody"]?["content"]?["application/json"]?["example"], "\(method) \(path)")
            let body = Self.json(example)
            let concrete = path.replacingOccurrences(of: "{item}", with: "c-new")
            let answer = HTTPClient.send(method.uppercased(), concrete, port: server.port, body: Array(body.utf8), headers: AccessPolicy.testAuthorization)
            #expect((200..<300).contains(answer.status), "\(method) \(path) with its example: \(answer.status) \(answer.body)")
            sent += 1
        }
        let withBodies = Self.operations(document).filter { $0.operation["requestBody"] != nil }
        #expect(sent == withBodies.count, "every operation with a request body has its example sent")
    }

    /// docs/api.md, rendered from openapi.yaml: grouped by tag, each operation with its parameters,
    /// request example, responses and response example.
    static func reference(_ document: ConfigValue) -> String {
        var text = """
            # API reference

            Rendered from [openapi.yaml](../openapi.yaml) by `OpenAPIReferenceTests` (the test fails when this page
            is out of date; `RUMMAGE_UPDATE_DOCS=1 swift test --filter OpenAPIReferenceTests` rewrites it). Every
            request example here is sent to a running server by the tests and accepted; every response example
            has its schema's required fields. Authentication, scopes and errors: [security.md](security.md);
            behaviour: [serving.md](serving.md). Errors are `{"error": "…"}`.

            """
        let operations = operations(document)
        var tags: [String] = []
        for (_, _, operation) in operations {
            if case .list(let list, _)? = operation["tags"], let tag = list.first?.text, !tags.contains(tag) { tags.append(tag) }
        }
        for tag in tags {
            text += "\n## \(tag)\n"
            for (path, method, operation) in operations {
                guard case .list(let list, _)? = operation["tags"], list.first?.text == tag else { continue }
                text += "\n### `\(method.uppercased()) \(path)`\n\n"
                text += "`\(operation["operationId"]?.text ?? "")`: " + (operation["summary"]?.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
                if case .list(let parameters, _)? = operation["parameters"], !parameters.isEmpty {
                    text += "\n| parameter | in | required | type | description |\n|---|---|---|---|---|\n"
                    for parameter in parameters {
                        let schema = parameter["schema"]
                        let type = schema?["type"]?.text ?? (schema?["$ref"]?.text.map { String($0.split(separator: "/").last ?? "") } ?? "")
                        let extra = [schema?["default"]?.text.map { "default \($0)" }, schema?["minimum"]?.text.map { "≥ \($0)" },
                                     schema?["maximum"]?.text.map { "≤ \($0)" }].compactMap { $0 }.joined(separator: ", ")
                        text += "| `\(parameter["name"]?.text ?? "")` | \(parameter["in"]?.text ?? "") | \(parameter["required"]?.text == "true" ? "yes" : "no") | "
                            + "\(type)\(extra.isEmpty ? "" : " (\(extra))") | \((parameter["description"]?.text ?? "").replacingOccurrences(of: "|", with: "\\|")) |\n"
                    }
                }
                if let example = operation["requestBody"]?["content"]?["application/json"]?["example"] {
                    text += "\nRequest body:\n\n```json\n\(json(example))\n```\n"
                }
                text += "\n| status | meaning |\n|---|---|\n"
                var shown: ConfigValue? = nil
                for (status, response) in operation["responses"]?.entries ?? [] {
                    let resolvedResponse = resolved(response, in: document)
                    text += "| \(status) | \((resolvedResponse?["description"]?.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) |\n"
                    if shown == nil, status.hasPrefix("2") { shown = resolvedResponse?["content"]?["application/json"]?["example"] }
                }
                if let shown { text += "\nAnswer:\n\n```json\n\(json(shown))\n```\n" }
            }
        }
        return text
    }

    @Test func theReferenceIsRenderedFromTheSpecification() throws {
        let rendered = Self.reference(try Self.document())
        let path = repositoryRoot.appendingPathComponent("docs/api.md")
        if ProcessInfo.processInfo.environment["RUMMAGE_UPDATE_DOCS"] != nil { try rendered.write(to: path, atomically: true, encoding: .utf8) }
        let current = try String(contentsOf: path, encoding: .utf8)
        #expect(current == rendered, "docs/api.md is out of date: RUMMAGE_UPDATE_DOCS=1 swift test --filter OpenAPIReferenceTests")
    }
}
