import Evaluation
import RummageCore

/// The LightGCN data format: `train.txt` and `test.txt`, one line per user, `user item item …`
/// separated by spaces, 0-based integer ids. A line with only a user id has no items.
///
/// Evaluated with `FullRankingProtocol`: all items ranked, the user's training items masked.
public enum LightGCNSplit {
    public static func load(directory: String) throws(DataError) -> Split {
        let train = try readAdjacency(DataDirectory.find(["train.txt"], in: directory))
        let test = try readAdjacency(DataDirectory.find(["test.txt"], in: directory))
        let userCount = Int(max(train.users.max() ?? -1, test.users.max() ?? -1)) + 1
        let itemCount = Int(max(train.items.max() ?? -1, test.items.max() ?? -1)) + 1
        let trainMatrix = InteractionMatrix(userCount: userCount, itemCount: itemCount, users: train.users,
                                            items: train.items, duplicates: .maximum)
        let heldOut = SparseRows(rowCount: userCount, columnCount: itemCount, rows: test.users, columns: test.items,
                                 duplicates: .maximum)
        let evaluation = FullRankingProtocol(heldOut: heldOut, excluded: trainMatrix.byUser, cutoffs: [20])
        return Split(name: "lightgcn", train: trainMatrix, evaluation: .fullRanking(evaluation))
    }

    /// Reads `user item item …` lines into coordinate lists.
    static func readAdjacency(_ path: String) throws(DataError) -> (users: [Int32], items: [Int32]) {
        let file = try TextFile(path: path)
        var users: [Int32] = [], items: [Int32] = []
        try file.forEachRecord(delimiter: [0x20], minimumFields: 1) { (lineNumber, fields) throws(DataError) in
            guard let u = fields.int(0), u >= 0, u <= Int(Int32.max) else {
                throw file.error(line: lineNumber, "user id is not a non-negative integer: '\(fields.string(0))'")
            }
            for f in 1..<fields.count where fields.bytes(f).count > 0 {
                guard let i = fields.int(f), i >= 0, i <= Int(Int32.max) else {
                    throw file.error(line: lineNumber, "item \(f) is not a non-negative integer: '\(fields.string(f))'")
                }
                users.append(Int32(u)); items.append(Int32(i))
            }
        }
        return (users, items)
    }
}
