import Foundation
import LinearAlgebra
import MatrixFactorization
import RummageCore
import RummageTestSupport
import Testing
import Training

@Suite struct FactorizationModelTests {
    func randomModel(users: Int = 7, items: Int = 11, k: Int = 5, seed: UInt64 = 1) -> FactorizationModel {
        var rng = SeededGenerator(seed: seed)
        func m(_ r: Int) -> Matrix { Matrix(rows: r, columns: k, storage: (0..<r * k).map { _ in rng.nextFloat() - 0.5 }) }
        let u = m(users), i = m(items)
        return FactorizationModel(algorithm: "bpr", userFactors: u, itemFactors: i, itemBias: (0..<items).map { _ in rng.nextFloat() })
    }

    @Test func blasScoringEqualsScalarDotProducts() {
        let model = randomModel()
        for u in 0..<7 {
            var all = [Float](repeating: 0, count: 11)
            all.withUnsafeMutableBufferPointer { model.scoreAll(for: UserIndex(u), into: $0) }
            let picked = model.scores(for: UserIndex(u), items: (0..<11).map { ItemIndex($0) })
            for i in 0..<11 {
                let scalar = zip(model.userFactors.row(u), model.itemFactors.row(i)).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                    + model.itemBias[i]
                #expect(abs(all[i] - scalar) < 1e-5)
                #expect(abs(picked[i] - scalar) < 1e-5)
            }
        }
    }

    @Test func similarItemsAreRankedByCosineAndExcludeTheItem() {
        let model = randomModel()
        let top = model.similarItems(to: ItemIndex(3), k: 4)
        func cosine(_ a: Int, _ b: Int) -> Float {
            let x = model.itemFactors.row(a), y = model.itemFactors.row(b)
            let dot = zip(x, y).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            return dot / (x.reduce(0) { $0 + $1 * $1 }.squareRoot() * y.reduce(0) { $0 + $1 * $1 }.squareRoot())
        }
        let expected = (0..<11).filter { $0 != 3 }.sorted { cosine(3, $0) > cosine(3, $1) }.prefix(4)
        #expect(top.map { Int($0.index) } == Array(expected))
        for entry in top { #expect(abs(entry.score - cosine(3, Int(entry.index))) < 1e-5) }
    }

    @Test func saveLoadRoundTrip() throws {
        let model = randomModel()
        let path = Fixtures.temporaryDirectory() + "/model.rmg"
        try model.save(to: path)
        let loaded = try FactorizationModel.load(from: path)
        #expect(loaded.algorithm == "bpr")
        #expect(loaded.userFactors == model.userFactors)
        #expect(loaded.itemFactors == model.itemFactors)
        #expect(loaded.itemBias == model.itemBias)
    }

    @Test func corruptTruncatedAndForeignFilesAreRejected() throws {
        let dir = Fixtures.temporaryDirectory()
        let path = dir + "/model.rmg"
        try randomModel().save(to: path)
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)

        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        try Data(flipped).write(to: URL(fileURLWithPath: dir + "/flipped.rmg"))
        let checksum = #expect(throws: DataError.self) { try FactorizationModel.load(from: dir + "/flipped.rmg") }
        #expect(checksum?.code == .corrupt)
        #expect(checksum?.description == "\(dir)/flipped.rmg: checksum mismatch (file truncated or modified)")

        try Data(bytes.prefix(bytes.count - 100)).write(to: URL(fileURLWithPath: dir + "/short.rmg"))
        #expect(throws: DataError.self) { try FactorizationModel.load(from: dir + "/short.rmg") }

        bytes[0] = UInt8(ascii: "X")
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/magic.rmg"))
        let magic = #expect(throws: DataError.self) { try FactorizationModel.load(from: dir + "/magic.rmg") }
        #expect(magic?.description.hasSuffix("not a Rummage artifact (bad magic bytes)") == true)

        var other = ArtifactWriter(kind: "itemknn")
        other.append(UInt32(1))
        try other.write(to: dir + "/other.rmg")
        let kind = #expect(throws: DataError.self) { try FactorizationModel.load(from: dir + "/other.rmg") }
        #expect(kind?.description.hasSuffix("artifact holds a 'itemknn' model, expected 'matrix-factorization'") == true)

        let missing = #expect(throws: DataError.self) { try FactorizationModel.load(from: dir + "/none.rmg") }
        #expect(missing?.code == .fileNotFound)
    }
}
