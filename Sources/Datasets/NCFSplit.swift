import Evaluation
import Foundation
import RummageCore

/// The NCF (He et al., WWW 2017) MovieLens-1M leave-one-out split, read as published:
/// `ml-1m.train.rating` (or the `.reconstructed.xz` rebuild), `ml-1m.test.rating` and
/// `ml-1m.test.negative` (plain or `.xz`). Ids are the file's 0-based integers.
///
/// Evaluated with `SampledRankingProtocol`: the test item against its 99 listed negatives. When the
/// MovieLens-1M files sit in a sibling `movielens-1m` folder, users and items carry content features.
public enum NCFSplit {
    public static let trainNames = ["ml-1m.train.rating", "ml-1m.train.rating.xz", "ml-1m.train.rating.reconstructed.xz"]
    public static let testNames = ["ml-1m.test.rating", "ml-1m.test.rating.xz"]
    public static let negativeNames = ["ml-1m.test.negative", "ml-1m.test.negative.xz"]

    public static func load(directory: String) throws(DataError) -> Split {
        let trainFile = try TextFile(path: DataDirectory.find(trainNames, in: directory))
        let testFile = try TextFile(path: DataDirectory.find(testNames, in: directory))
        let negativeFile = try TextFile(path: DataDirectory.find(negativeNames, in: directory))

        var users: [Int32] = [], items: [Int32] = []
        users.reserveCapacity(1 << 20); items.reserveCapacity(1 << 20)
        try trainFile.forEachRecord(delimiter: [0x09], minimumFields: 3) { (lineNumber, fields) throws(DataError) in
            let (u, i) = try userItem(fields, trainFile, lineNumber)
            users.append(u); items.append(i)
        }
        var tests: [(user: Int32, item: Int32)] = []
        try testFile.forEachRecord(delimiter: [0x09], minimumFields: 2) { (lineNumber, fields) throws(DataError) in
            tests.append(try userItem(fields, testFile, lineNumber))
        }
        var cases: [SampledCase] = []
        cases.reserveCapacity(tests.count)
        try negativeFile.forEachRecord(delimiter: [0x09], minimumFields: 2) { (lineNumber, fields) throws(DataError) in
            // First field "(user,item)", then the negatives.
            let head = fields.string(0)
            let inner = head.dropFirst().dropLast().split(separator: ",")
            guard head.hasPrefix("("), head.hasSuffix(")"), inner.count == 2,
                  let u = Int32(inner[0]), let i = Int32(inner[1]), u >= 0, i >= 0 else {
                throw negativeFile.error(line: lineNumber, "expected '(user,item)' first, found '\(head)'")
            }
            let k = cases.count
            guard k < tests.count, tests[k].user == u, tests[k].item == i else {
                throw negativeFile.error(line: lineNumber, "(\(u),\(i)) does not match line \(k + 1) of \(testFile.path)")
            }
            var negatives: [ItemIndex] = []
            negatives.reserveCapacity(fields.count - 1)
            for f in 1..<fields.count {
                guard let n = fields.int(f), n >= 0, n <= Int(Int32.max) else {
                    throw negativeFile.error(line: lineNumber, "negative \(f) is not an item id: '\(fields.string(f))'")
                }
                negatives.append(ItemIndex(n))
            }
            cases.append(SampledCase(user: UserIndex(u), positive: ItemIndex(i), negatives: negatives))
        }
        guard cases.count == tests.count else {
            throw DataError(.malformedLine, "has \(cases.count) lines but \(testFile.path) has \(tests.count)", path: negativeFile.path)
        }
        let userCount = Int(max(users.max() ?? -1, tests.map(\.user).max() ?? -1)) + 1
        let maxNegative = cases.lazy.flatMap { $0.negatives }.map(\.rawValue).max() ?? -1
        let itemCount = Int(max(items.max() ?? -1, tests.map(\.item).max() ?? -1, maxNegative)) + 1
        let train = InteractionMatrix(userCount: userCount, itemCount: itemCount, users: users, items: items,
                                      duplicates: .maximum)
        // Content features from the sibling MovieLens-1M folder (../movielens-1m), when present.
        let movieLens = URL(fileURLWithPath: directory).deletingLastPathComponent().appendingPathComponent("movielens-1m").path
        var userFeatures: CategoricalFeatures?, itemFeatures: CategoricalFeatures?
        if FileManager.default.fileExists(atPath: movieLens + "/movies.dat") && FileManager.default.fileExists(atPath: movieLens + "/users.dat") {
            let content = try MovieLensContent.load(ncfDirectory: directory, movieLensDirectory: movieLens)
            (userFeatures, itemFeatures) = content.features(userCount: userCount, itemCount: itemCount)
        }
        return Split(name: "ncf-ml1m", train: train, evaluation: .sampled(SampledRankingProtocol(cases: cases)),
                     userFeatures: userFeatures, itemFeatures: itemFeatures)
    }

    static func userItem(_ fields: DelimitedFields, _ file: TextFile, _ line: Int) throws(DataError) -> (Int32, Int32) {
        guard let u = fields.int(0), u >= 0, u <= Int(Int32.max) else {
            throw file.error(line: line, "user id is not a non-negative integer: '\(fields.string(0))'")
        }
        guard let i = fields.int(1), i >= 0, i <= Int(Int32.max) else {
            throw file.error(line: line, "item id is not a non-negative integer: '\(fields.string(1))'")
        }
        return (Int32(u), Int32(i))
    }
}
