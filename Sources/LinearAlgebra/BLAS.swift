import CBLAS

// Every call into OpenBLAS lives in this file (like swift-system's Syscalls.swift), so the C surface
// stays small and auditable. Shapes are checked with preconditions before each call.

/// Thin, shape-checked wrappers over OpenBLAS.
///
/// OpenBLAS runs single-threaded for the whole process, set once before the first call: Rummage
/// parallelises at its own level (`Parallel`), and OpenBLAS's results depend on how it splits a call
/// between threads, so a process-wide setting that one model changed while another trained would make
/// results depend on timing (models trained side by side in tests did differ in their last bits).
public enum BLAS {
    private static let pinnedToOneThread: Void = openblas_set_num_threads(1)

    @inline(__always) static func pin() { _ = pinnedToOneThread }

    /// The number of threads OpenBLAS uses for one call (always 1, see above).
    public static var threadCount: Int {
        pin()
        return Int(openblas_get_num_threads())
    }

    /// `C = alpha * op(A) * op(B) + beta * C`, where op transposes when asked.
    public static func gemm(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0, into c: inout Matrix) {
        pin()
        let m = transposeA ? a.columns : a.rows
        let k = transposeA ? a.rows : a.columns
        let kb = transposeB ? b.columns : b.rows
        let n = transposeB ? b.rows : b.columns
        precondition(k == kb, "gemm: inner dimensions differ (\(k) vs \(kb))")
        precondition(c.rows == m && c.columns == n, "gemm: output is \(c.rows)x\(c.columns), expected \(m)x\(n)")
        guard m > 0 && n > 0 else { return }
        if k == 0 { for i in c.storage.indices { c.storage[i] *= beta }; return }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a.storage, Int32(a.columns), b.storage, Int32(b.columns),
                    beta, &c.storage, Int32(n))
    }

    /// `op(A) * op(B)` as a new matrix.
    public static func multiply(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false) -> Matrix {
        pin()
        var c = Matrix(rows: transposeA ? a.columns : a.rows, columns: transposeB ? b.rows : b.columns)
        gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: &c)
        return c
    }

    /// `y = A * x` for a row-major `A` given as a buffer of `rows * columns` floats.
    public static func gemv(rows: Int, columns: Int, _ a: UnsafeBufferPointer<Float>,
                            _ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        pin()
        precondition(a.count >= rows * columns && x.count == columns && y.count == rows, "gemv: shape mismatch")
        guard rows > 0 else { return }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(columns), 1, a.baseAddress, Int32(columns),
                    x.baseAddress, 1, 0, y.baseAddress, 1)
    }

    /// Dot product of two equal-length vectors.
    public static func dot(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) -> Float {
        pin()
        precondition(x.count == y.count, "dot: lengths differ")
        return cblas_sdot(Int32(x.count), x.baseAddress, 1, y.baseAddress, 1)
    }

    // MARK: Pointer forms for kernels that manage their own buffers (all row-major).

    /// `y = alpha * op(A) * x + beta * y` with `A` of `rows × columns` at `a` (leading dimension `columns`).
    /// `x` has `transpose ? rows : columns` elements and `y` the other count.
    public static func gemv(transpose: Bool = false, rows: Int, columns: Int, alpha: Float = 1,
                            _ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, beta: Float = 0,
                            _ y: UnsafeMutablePointer<Float>) {
        pin()
        guard rows > 0 && columns > 0 else {
            let n = transpose ? columns : rows
            for i in 0..<n { y[i] *= beta }
            return
        }
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), alpha,
                    a, Int32(columns), x, 1, beta, y, 1)
    }

    /// `C += alpha * Aᵀ A` (upper triangle) for `A` of `rows × columns`; `C` is `columns × columns`.
    public static func syrkTransposedUpper(rows: Int, columns: Int, alpha: Float = 1, _ a: UnsafePointer<Float>,
                                           _ c: UnsafeMutablePointer<Float>) {
        pin()
        guard rows > 0 else { return }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(columns), Int32(rows), alpha, a, Int32(columns),
                    1, c, Int32(columns))
    }

    /// Solves `A x = b` for symmetric positive-definite `A` (`n × n`, upper triangle used) by Cholesky
    /// (LAPACKE_sposv). `A` is overwritten by its factor and `b` by `x`. Returns false when `A` is not
    /// positive definite.
    public static func solvePositiveDefinite(n: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>) -> Bool {
        pin()
        return LAPACKE_sposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), 1, a, Int32(n), b, 1) == 0
    }

    /// The size from which `invertPositiveDefinite` lets OpenBLAS use several threads.
    public static let threadedInversionSize = 4_096

    /// Inverts symmetric positive-definite `A` (`n × n`, both triangles filled) in place by Cholesky
    /// (LAPACKE_spotrf, then LAPACKE_spotri), both triangles of the inverse filled. Works on the buffer as
    /// it is (a symmetric matrix reads the same in either order), with no copy. Returns false when `A` is
    /// not positive definite (its contents are then undefined).
    ///
    /// From `threadedInversionSize` up, OpenBLAS runs the two calls on `threads` threads: the one exception
    /// to its single thread (see the type), for work of minutes (EASE's item–item matrix) that runs alone in
    /// its process. The result is reproducible for a given thread count; BLAS calls other threads make
    /// meanwhile may be split across threads too.
    public static func invertPositiveDefinite(n: Int, _ a: UnsafeMutablePointer<Float>, threads: Int = 1) -> Bool {
        pin()
        guard n > 0 else { return true }
        let upper = Int8(UInt8(ascii: "U"))
        let threaded = threads > 1 && n >= threadedInversionSize
        if threaded { openblas_set_num_threads(Int32(threads)) }
        defer { if threaded { openblas_set_num_threads(1) } }
        guard LAPACKE_spotrf(LAPACK_COL_MAJOR, upper, Int32(n), a, Int32(n)) == 0,
              LAPACKE_spotri(LAPACK_COL_MAJOR, upper, Int32(n), a, Int32(n)) == 0 else { return false }
        // Column-major upper = row-major lower: copy it to the other triangle.
        for i in 0..<n {
            for j in (i + 1)..<n { a[i * n + j] = a[j * n + i] }
        }
        return true
    }

    /// Eigenvalues (ascending) and eigenvectors of symmetric `A` (`n × n`, both triangles filled) by
    /// LAPACKE_ssyevd; on return row j of `a` is the eigenvector of the j-th eigenvalue. Nil when LAPACK
    /// does not converge.
    public static func symmetricEigen(n: Int, _ a: UnsafeMutablePointer<Float>) -> [Float]? {
        pin()
        var values = [Float](repeating: 0, count: n)
        // Column-major, a symmetric matrix reads the same; eigenvector j comes back as column j, which is
        // row j of the row-major buffer.
        let status = values.withUnsafeMutableBufferPointer {
            LAPACKE_ssyevd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")), Int32(n), a, Int32(n), $0.baseAddress!)
        }
        return status == 0 ? values : nil
    }

    /// Orthonormalises the `m` vectors of length `n` stored as the rows of `a` (`m ≤ n`): on return they
    /// are the Q of their QR factorisation (LAPACKE_sgeqrf, then LAPACKE_sorgqr), spanning the same space.
    public static func orthonormaliseRows(count m: Int, length n: Int, _ a: UnsafeMutablePointer<Float>) -> Bool {
        pin()
        precondition(m <= n)
        guard m > 0 else { return true }
        var tau = [Float](repeating: 0, count: m)
        // The rows of a row-major m × n matrix are the columns of a column-major n × m one.
        return tau.withUnsafeMutableBufferPointer { tau in
            LAPACKE_sgeqrf(LAPACK_COL_MAJOR, Int32(n), Int32(m), a, Int32(n), tau.baseAddress!) == 0
                && LAPACKE_sorgqr(LAPACK_COL_MAJOR, Int32(n), Int32(m), Int32(m), a, Int32(n), tau.baseAddress!) == 0
        }
    }

    /// `C = alpha · op(A) · op(B)` on raw row-major buffers: `op(A)` is `rows × inner`, `op(B)` is
    /// `inner × columns`, `C` is `rows × columns` (leading dimension `columns`). Leading dimensions of A
    /// and B default to their row-major widths.
    public static func gemm(rows: Int, columns: Int, inner: Int, alpha: Float = 1,
                            _ a: UnsafePointer<Float>, leadingA: Int? = nil, transposeA: Bool = false,
                            _ b: UnsafePointer<Float>, leadingB: Int? = nil, transposeB: Bool = false,
                            into c: UnsafeMutablePointer<Float>) {
        pin()
        guard rows > 0 && columns > 0 else { return }
        let lda = leadingA ?? (transposeA ? rows : inner)
        let ldb = leadingB ?? (transposeB ? inner : columns)
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(rows), Int32(columns), Int32(inner), alpha, a, Int32(lda), b, Int32(ldb), 0, c, Int32(columns))
    }
}
