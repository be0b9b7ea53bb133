import Dispatch

/// Monotonic elapsed-time measurement.
public struct Stopwatch: Sendable {
    private let start: UInt64
    public init() { start = DispatchTime.now().uptimeNanoseconds }
    /// Seconds since creation.
    public var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}

/// Seconds with two decimals, e.g. `1.23 s`.
public func formattedSeconds(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) s"
}
