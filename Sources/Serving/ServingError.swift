/// An error while loading what the service serves, or in its configuration (an experiment's split).
public struct ServingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
