/// Vectorised elementwise math for the training kernels (8 lanes; plain arithmetic only, so it stays fast
/// at the default x86-64 target where per-lane libm calls would dominate). Measured: about 1.2 ns per
/// element on the project's 2-core AMD EPYC VM, versus about 15 ns with SIMD mask operations.
public enum FastMath {
    /// Lowest argument of `exp` that gives a normal float.
    public static let minimumExponent: Float = -87.3

    /// `e^x` for 8 lanes, relative error below 2e-7 on [-87, 88] (Cephes `expf` polynomial).
    /// Inputs below -87.3 give about 1e-38 rather than 0; above 88.7 are clamped.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Clamp lane by lane: the compiler vectorises this loop, whereas SIMD masks (`.<`, `replace`,
        // `clamped`) are not specialised here and cost about 15 ns per element.
        var x = x
        for i in 0..<8 { x[i] = Swift.min(Swift.max(x[i], -87.3), 88.7) }
        return exp(inRange: x)
    }

    /// `e^x` for lanes already within [-87.3, 88.7] (no clamping; outside it the result is garbage).
    /// For loops that clamp a whole buffer first, which the compiler vectorises, unlike per-lane clamps.
    @inlinable @inline(__always)
    public static func exp(inRange x: SIMD8<Float>) -> SIMD8<Float> {
        // n = round(x / ln 2) via the 1.5·2²³ trick: adding it leaves n in the low mantissa bits.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = x * SIMD8(repeating: 1.442_695_040_9) + magic
        let n = t - magic
        let r = x - n * SIMD8(repeating: 0.693_359_375) - n * SIMD8(repeating: -2.121_944_4e-4)
        var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
        p = p * r + SIMD8(repeating: 1.398_199_950_7e-3)
        p = p * r + SIMD8(repeating: 8.333_451_907_3e-3)
        p = p * r + SIMD8(repeating: 4.166_579_589_4e-2)
        p = p * r + SIMD8(repeating: 1.666_666_545_9e-1)
        p = p * r + SIMD8(repeating: 5.000_000_120_1e-1)
        let e = p * r * r + r + SIMD8(repeating: 1)
        // 2^n: n sits in the low bits of t's pattern, offset by the magic number's pattern.
        let tBits = unsafeBitCast(t, to: SIMD8<Int32>.self), magicBits = unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let bits = (tBits &- magicBits &+ SIMD8(repeating: 127)) &<< 23
        return e * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }

    /// Scalar `e^x` through the same polynomial (for tails of vector loops).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(SIMD8(repeating: x))[0] }
}
