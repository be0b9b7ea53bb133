import RummageCore
import Testing

@Suite struct RatioEstimateTests {
    /// Three users who saw 10 listings each and viewed 1, 2 and 3: a rate of 0.2, residuals −1, 0, 1, so a
    /// variance of 1 and a standard error of √(1/3)/10.
    @Test func theRateAndItsStandardErrorByTheDeltaMethod() {
        let rate = RatioEstimate(units: [(1, 10), (2, 10), (3, 10)])
        #expect(rate.units == 3 && rate.numerator == 6 && rate.denominator == 30 && abs(rate.value - 0.2) < 1e-12)
        #expect(abs(rate.standardError - (1.0 / 3).squareRoot() / 10) < 1e-12)
        #expect(abs(rate.interval95.low - (0.2 - 1.96 * rate.standardError)) < 1e-12)
        #expect(RatioEstimate(units: [(1, 10)]).standardError == .infinity, "one unit: no spread to measure")
        #expect(RatioEstimate(mean: [0.5, 1.5]).value == 1)
    }

    /// The difference of two independent rates: its interval adds the variances; significant when it excludes 0.
    @Test func aDifferenceAndItsInterval() {
        let control = RatioEstimate(units: [(1, 10), (2, 10), (3, 10)]), treatment = RatioEstimate(units: [(4, 10), (5, 10), (6, 10)])
        let d = treatment.difference(from: control)
        let error = (2 * control.standardError * control.standardError).squareRoot()
        #expect(abs(d.absolute - 0.3) < 1e-12 && abs(d.low - (0.3 - 1.96 * error)) < 1e-12 && abs(d.high - (0.3 + 1.96 * error)) < 1e-12)
        #expect(abs(d.relative! - 1.5) < 1e-12 && d.isSignificant)
        #expect(!control.difference(from: control).isSignificant && !RatioEstimate(units: []).difference(from: control).isSignificant)
    }
}
