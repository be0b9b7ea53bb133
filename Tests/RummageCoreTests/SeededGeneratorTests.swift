import RummageCore
import Testing

@Suite struct SeededGeneratorTests {
    @Test func sameSeedGivesSameSequence() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
    }

    @Test func differentSeedsAndStreamsDiffer() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 8)
        #expect((0..<8).map { _ in a.next() } != (0..<8).map { _ in b.next() })
        let base = SeededGenerator(seed: 7)
        var s0 = base.split(stream: 0), s1 = base.split(stream: 1)
        #expect(s0.next() != s1.next())
    }

    @Test(arguments: [1, 2, 3, 10, 1000])
    func boundedIntegersStayInRangeAndCoverIt(bound: Int) {
        var rng = SeededGenerator(seed: 1)
        var seen = Set<Int>()
        for _ in 0..<5000 {
            let x = rng.nextInt(below: bound)
            #expect(x >= 0 && x < bound)
            seen.insert(x)
        }
        if bound <= 10 { #expect(seen.count == bound) }
    }

    @Test func uniformAndGaussianMomentsAreRight() {
        var rng = SeededGenerator(seed: 3)
        let n = 200_000
        var sum = 0.0, gaussianSum = 0.0, gaussianSquares = 0.0
        for _ in 0..<n {
            let u = rng.nextDouble()
            #expect(u >= 0 && u < 1)
            sum += u
            let g = rng.nextGaussian()
            gaussianSum += g; gaussianSquares += g * g
        }
        #expect(abs(sum / Double(n) - 0.5) < 0.005)
        #expect(abs(gaussianSum / Double(n)) < 0.01)
        #expect(abs(gaussianSquares / Double(n) - 1) < 0.02)
    }
}
