import Datasets
import Evaluation
import RummageCore
import RummageTestSupport
import Testing

@Suite struct NCFSplitTests {
    @Test func loadsTheSharedSplit() throws {
        guard let dir = SharedData.directory("ncf-ml-1m", neededBy: "NCFSplitTests.loadsTheSharedSplit") else { return }
        let split = try NCFSplit.load(directory: dir)
        #expect(split.train.userCount == 6040)
        #expect(split.train.itemCount == 3706)
        #expect(split.train.interactionCount == 994_169)
        guard case .sampled(let proto) = split.evaluation else { Issue.record("expected sampled protocol"); return }
        #expect(proto.cases.count == 6040)
        #expect(proto.cases.allSatisfy { $0.negatives.count == 99 })
        // The documented quirk of the original files: 156 users' test item is among their negatives.
        #expect(proto.cases.filter { $0.negatives.contains($0.positive) }.count == 156)
        #expect(proto.cases[0].user == UserIndex(0) && proto.cases[0].positive == ItemIndex(25))
        // No test item is a training positive.
        #expect(proto.cases.allSatisfy { !split.train.contains($0.user, $0.positive) })
    }

    func writeSplit(train: String, test: String, negatives: String) -> String {
        let dir = Fixtures.temporaryDirectory()
        Fixtures.write(train, to: "ml-1m.train.rating", in: dir)
        Fixtures.write(test, to: "ml-1m.test.rating", in: dir)
        Fixtures.write(negatives, to: "ml-1m.test.negative", in: dir)
        return dir
    }

    @Test func loadsAHandMadeSplit() throws {
        let dir = writeSplit(train: "0\t1\t5\t100\n0\t2\t4\t101\n1\t0\t3\t102\n", test: "0\t3\t5\t200\n1\t4\t1\t201\n",
                             negatives: "(0,3)\t0\t4\n(1,4)\t1\t2\n")
        let split = try NCFSplit.load(directory: dir)
        #expect(split.train.userCount == 2 && split.train.itemCount == 5 && split.train.interactionCount == 3)
        guard case .sampled(let proto) = split.evaluation else { Issue.record("expected sampled protocol"); return }
        #expect(proto.cases == [SampledCase(user: UserIndex(0), positive: ItemIndex(3), negatives: [ItemIndex(0), ItemIndex(4)]),
                                SampledCase(user: UserIndex(1), positive: ItemIndex(4), negatives: [ItemIndex(1), ItemIndex(2)])])
    }

    @Test(arguments: [
        ("0\t1\t5\n0\tx\t4\n", "0\t3\t5\n", "(0,3)\t0\n", "ml-1m.train.rating:2: item id is not a non-negative integer: 'x'"),
        ("0\t1\t5\n0\t2\n", "0\t3\t5\n", "(0,3)\t0\n", "ml-1m.train.rating:2: expected at least 3 fields, found 2"),
        ("0\t1\t5\n", "0\t3\t5\n", "0,3\t0\n", "ml-1m.test.negative:1: expected '(user,item)' first, found '0,3'"),
        ("0\t1\t5\n", "0\t3\t5\n", "(0,4)\t0\n", "ml-1m.test.negative:1: (0,4) does not match line 1 of"),
        ("0\t1\t5\n", "0\t3\t5\n", "(0,3)\t-1\n", "ml-1m.test.negative:1: negative 1 is not an item id: '-1'"),
    ])
    func reportsMalformedLines(train: String, test: String, negatives: String, message: String) {
        let dir = writeSplit(train: train, test: test, negatives: negatives)
        let error = #expect(throws: DataError.self) { try NCFSplit.load(directory: dir) }
        #expect(error?.description.hasPrefix("\(dir)/\(message)") == true, "\(String(describing: error))")
    }
}

@Suite struct MovieLensContentTests {
    @Test func joinsContentToNCFIds() throws {
        guard let ncf = SharedData.directory("ncf-ml-1m", neededBy: "MovieLensContentTests"),
              let ml = SharedData.directory("movielens-1m", neededBy: "MovieLensContentTests") else { return }
        let content = try MovieLensContent.load(ncfDirectory: ncf, movieLensDirectory: ml)
        #expect(content.items.count == 3706)
        #expect(content.users.count == 6040)
        // NCF item 0 is MovieID 1193, "One Flew Over the Cuckoo's Nest (1975)", a drama.
        let first = try #require(content.items[0])
        #expect(first.movieID == 1193)
        #expect(first.year == 1975)
        #expect(first.genres.map { MovieLensContent.genreNames[$0] } == ["Drama"])
        // NCF item 25 is MovieID 48, Pocahontas (1995).
        #expect(content.items[25]?.movieID == 48)
        // NCF user 0 is UserID 1: F, under 18, occupation 10.
        #expect(content.users[0] == MovieLensContent.User(gender: "F", age: 1, occupation: 10))
        #expect(content.items.compactMap { $0 }.count == 3706)
    }
}
