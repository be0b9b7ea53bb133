/// A model's `key=value` settings from the command line, read with typed accessors.
///
/// Every key must be read by the model (`checkAllUsed`), so a typo such as `neighbors=50` for
/// `neighbours` is an error instead of being silently ignored.
public final class HyperParameters: @unchecked Sendable {
    // @unchecked because: used by one thread while a model reads its configuration; never shared.
    private let values: [String: String]
    private var used: Set<String> = []
    /// Every setting a model read, with the value it used (given or default): the full configuration.
    public private(set) var resolved: [String: String] = [:]

    public init(_ pairs: [(key: String, value: String)] = []) {
        var values: [String: String] = [:]
        for (k, v) in pairs { values[k] = v }
        self.values = values
    }

    public func int(_ key: String, default value: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws(TrainingError) -> Int {
        used.insert(key)
        guard let text = values[key] else { return record(key, value) }
        guard let parsed = Int(text), range.contains(parsed) else {
            throw TrainingError(.invalidHyperParameter, "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return record(key, parsed)
    }

    public func double(_ key: String, default value: Double, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws(TrainingError) -> Double {
        used.insert(key)
        guard let text = values[key] else { return record(key, value) }
        guard let parsed = Double(text), parsed.isFinite, range.contains(parsed) else {
            throw TrainingError(.invalidHyperParameter, "\(key) must be a number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return record(key, parsed)
    }

    /// A comma-separated list of integers (empty for none), e.g. `hidden=256,128`.
    public func intList(_ key: String, default value: [Int], in range: ClosedRange<Int>) throws(TrainingError) -> [Int] {
        used.insert(key)
        guard let text = values[key] else { resolved[key] = value.map(String.init).joined(separator: ","); return value }
        if text.isEmpty || text == "none" { resolved[key] = ""; return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.allSatisfy({ $0 != nil && range.contains($0!) }) else {
            throw TrainingError(.invalidHyperParameter, "\(key) must be a comma-separated list of integers in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        resolved[key] = text
        return parts.map { $0! }
    }

    public func string(_ key: String, default value: String, allowed: [String]) throws(TrainingError) -> String {
        used.insert(key)
        guard let text = values[key] else { return record(key, value) }
        guard allowed.contains(text) else {
            throw TrainingError(.invalidHyperParameter, "\(key) must be one of \(allowed.joined(separator: ", ")), got '\(text)'")
        }
        return record(key, text)
    }

    /// A free-form value that must be given (a path, a name).
    public func requiredString(_ key: String, model: String) throws(TrainingError) -> String {
        used.insert(key)
        guard let text = values[key], !text.isEmpty else {
            throw TrainingError(.invalidHyperParameter, "model '\(model)' needs --set \(key)=VALUE")
        }
        return record(key, text)
    }

    private func record<T>(_ key: String, _ value: T) -> T {
        resolved[key] = "\(value)"
        return value
    }

    /// Throws naming the first key (alphabetically) that no accessor asked for.
    public func checkAllUsed(model: String) throws(TrainingError) {
        if let unknown = values.keys.filter({ !used.contains($0) }).sorted().first {
            let known = used.sorted().joined(separator: ", ")
            throw TrainingError(.invalidHyperParameter, "model '\(model)' has no setting '\(unknown)'" + (known.isEmpty ? "" : " (settings: \(known))"))
        }
    }
}

/// An error from configuring or training a model.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable { case invalidHyperParameter, unknownModel, invalidData }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
