import Foundation

/// Pearson's chi-square goodness-of-fit test, for the sample-ratio-mismatch check.
public enum ChiSquare {
    /// The statistic Σ (observed − expected)² / expected, with `expected` = total × share (shares sum to 1).
    public static func statistic(observed: [Int], shares: [Double]) -> Double {
        precondition(observed.count == shares.count)
        let total = Double(observed.reduce(0, +))
        return zip(observed, shares).reduce(0) { sum, pair in
            let expected = total * pair.1
            return expected > 0 ? sum + (Double(pair.0) - expected) * (Double(pair.0) - expected) / expected : sum
        }
    }

    /// P(X ≥ `x`) for X chi-square distributed with `degreesOfFreedom`: the test's p-value, Q(k/2, x/2)
    /// (the regularised upper incomplete gamma function: a series below a + 1, a continued fraction above,
    /// as in Numerical Recipes §6.2).
    public static func survival(_ x: Double, degreesOfFreedom: Int) -> Double {
        precondition(degreesOfFreedom > 0)
        guard x > 0 else { return 1 }
        let a = Double(degreesOfFreedom) / 2, z = x / 2
        let logPrefix = a * log(z) - z - lgamma(a)
        if z < a + 1 {
            // P(a, z) = e^(−z) z^a / Γ(a) Σ zⁿ / (a (a+1) … (a+n))
            var term = 1 / a, sum = term, n = a
            for _ in 0..<10_000 {
                n += 1
                term *= z / n
                sum += term
                if abs(term) < abs(sum) * 1e-15 { break }
            }
            return max(0, 1 - sum * exp(logPrefix))
        }
        // Q(a, z) by Lentz's continued fraction.
        let tiny = 1e-300
        var b = z + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            h *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return min(1, exp(logPrefix) * h)
    }
}
