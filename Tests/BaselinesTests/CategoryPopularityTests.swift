import Baselines
import RummageCore
import Testing
import Training

@Suite struct CategoryPopularityTests {
    // Items 0–3 are category "a", 4–5 category "b". Brands: 0, 2, 4 are "x"; 1, 3, 5 are "y".
    // Training: user 0 took items 0, 1, 4 (two thirds "a"); user 1 took 0 and 1; user 2 took 0.
    // Items 2, 3 and 5 have no interactions (cold).
    let data = InteractionMatrix(userCount: 3, itemCount: 6, users: [0, 0, 0, 1, 1, 2], items: [0, 1, 4, 0, 1, 0])
    let category = CategoricalFeatures.Field(name: "category", entityValues: [["a"], ["a"], ["a"], ["a"], ["b"], ["b"]])
    let brand = CategoricalFeatures.Field(name: "brand", entityValues: [["x"], ["y"], ["x"], ["y"], ["x"], ["y"]])

    func scores(_ model: CategoryPopularityRecommender, user: Int) -> [Float] {
        var scores = [Float](repeating: 0, count: 6)
        scores.withUnsafeMutableBufferPointer { model.scoreAll(for: UserIndex(Int32(user)), into: $0) }
        return scores
    }

    @Test func categoryShareFirstThenPopularity() {
        let s = scores(CategoryPopularityRecommender(training: data, categories: category), user: 0)
        // Share 2/3 for "a" and 1/3 for "b", plus 0.01 · popularity / 3.
        let expected: [Float] = [2.0 / 3 + 0.01, 2.0 / 3 + 0.01 * 2 / 3, 2.0 / 3, 2.0 / 3, 1.0 / 3 + 0.01 / 3, 1.0 / 3]
        for (a, b) in zip(s, expected) { #expect(abs(a - b) < 1e-6) }
    }

    @Test func coldItemsTakeTheirCategoryAndPriorValuesMeanPopularity() {
        let s = scores(CategoryPopularityRecommender(training: data, categories: category, prior: brand), user: 0)
        // Cold item 2 is ("a", "x"), like item 0 (3 interactions); cold item 3 is ("a", "y"), like item 1 (2).
        #expect(abs(s[2] - s[0]) < 1e-6)
        #expect(abs(s[3] - s[1]) < 1e-6)
        #expect(s[2] > s[3])
        // Cold item 5 is ("b", "y"): no trained item shares both, so it keeps no popularity.
        #expect(abs(s[5] - 1.0 / 3) < 1e-6)
    }
}
