import Foundation

/// A rate measured over independent units (users): Σ numerator / Σ denominator, e.g. views per listing
/// shown, with its standard error by the delta method clustered by unit. A user's actions are correlated
/// (one user sees many listings), so the unit of independence is the user, not the listing shown.
public struct RatioEstimate: Sendable, Equatable {
    public var units: Int
    public var numerator: Double
    public var denominator: Double
    /// Σ numerator / Σ denominator (0 without any denominator).
    public var value: Double
    /// The standard error of `value` (delta method: Var ≈ Var(xᵢ − R·nᵢ) / (N·n̄²)).
    public var standardError: Double

    /// `units`: each unit's (numerator, denominator), e.g. one user's (views, listings shown).
    public init(units: [(numerator: Double, denominator: Double)]) {
        self.units = units.count
        numerator = units.reduce(0) { $0 + $1.numerator }
        denominator = units.reduce(0) { $0 + $1.denominator }
        value = denominator > 0 ? numerator / denominator : 0
        guard units.count > 1, denominator > 0 else {
            standardError = .infinity
            return
        }
        let n = Double(units.count), meanDenominator = denominator / n, ratio = value
        let residuals = units.map { $0.numerator - ratio * $0.denominator }
        let variance = residuals.reduce(0) { $0 + $1 * $1 } / (n - 1)
        standardError = (variance / n).squareRoot() / meanDenominator
    }

    /// The 95 % confidence interval of `value` (normal approximation).
    public var interval95: (low: Double, high: Double) { (value - 1.96 * standardError, value + 1.96 * standardError) }

    /// The mean of per-unit `values` (each unit's value over a denominator of 1), e.g. paired differences.
    public init(mean values: [Double]) { self.init(units: values.map { ($0, 1) }) }

    /// The difference `self − control` between two independent groups, with its 95 % confidence interval
    /// (normal approximation) and the relative change.
    public func difference(from control: RatioEstimate) -> Difference {
        let delta = value - control.value
        let error = (standardError * standardError + control.standardError * control.standardError).squareRoot()
        return Difference(absolute: delta, low: delta - 1.96 * error, high: delta + 1.96 * error,
                          relative: control.value > 0 ? delta / control.value : nil)
    }

    /// A change between two rates: `absolute` with its 95 % interval [`low`, `high`]; `relative` to the
    /// control's rate (nil when the control's is 0).
    public struct Difference: Sendable, Equatable {
        public var absolute: Double
        public var low: Double
        public var high: Double
        public var relative: Double?

        /// Whether the interval excludes 0.
        public var isSignificant: Bool { low > 0 || high < 0 }
    }
}
