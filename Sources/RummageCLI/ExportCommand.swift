import ArgumentParsing
import Backends
import Datasets
import Evaluation
import Foundation
import RummageCore

/// `rummage export`: writes a split in the LightGCN format (train.txt / test.txt).
struct ExportCommand: Command {
    static let configuration = CommandConfiguration(
        name: "export",
        abstract: "Write a dataset's split in the LightGCN format (train.txt, test.txt) for other tools or 'lightgcn:DIR'.",
        discussion: """
        One line per user: 'user item item ...' with the split's dense indices. test.txt holds the held-out
        items of full-ranking splits (e.g. synthetic); sampled splits (ncf-ml1m) hold each user's test item.
        Candidate restrictions (listings sold before the split) are not representable in this format.

        Beside them: user_ids.txt and item_ids.txt (line i is the id of index i: what a hand-off's ids files
        name, docs/scientists.md) and features.json, the content fields of users and items:
        {"users": [{"name", "vocabulary", "values": [[value index, ...] per user]}], "items": [...]}.
        """,
        options: [
            .value("dataset", "SPEC", help: "Dataset as KIND:DIR or log:PATH|URI.", required: true),
            .value("out", "DIR", help: "Directory to write into (created if missing).", required: true),
            .flag("json", help: "Print a JSON summary on stdout."),
        ])

    let dataset: DatasetSpec
    let directory: String
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        dataset = try DatasetSpec(parsing: try arguments.requiredString("dataset"))
        directory = try arguments.requiredString("out")
        json = arguments.flag("json")
    }

    func run(output: CommandOutput) throws {
        let split = try dataset.load(openLog: openExistingEventLog)
        let test: SparseRows
        switch split.evaluation {
        case .fullRanking(let p): test = p.heldOut
        case .sampled(let p):
            test = SparseRows(rowCount: split.train.userCount, columnCount: split.train.itemCount,
                              rows: p.cases.map(\.user.rawValue), columns: p.cases.map(\.positive.rawValue))
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Self.adjacency(split.train.byUser).write(toFile: directory + "/train.txt", atomically: true, encoding: .utf8)
            try Self.adjacency(test).write(toFile: directory + "/test.txt", atomically: true, encoding: .utf8)
            try (split.userIDs.joined(separator: "\n") + "\n").write(toFile: directory + "/user_ids.txt", atomically: true, encoding: .utf8)
            try (split.itemIDs.joined(separator: "\n") + "\n").write(toFile: directory + "/item_ids.txt", atomically: true, encoding: .utf8)
            let features = ["users": Self.fields(split.userFeatures), "items": Self.fields(split.itemFeatures)]
            try JSONSerialization.data(withJSONObject: features, options: [.sortedKeys]).write(to: URL(fileURLWithPath: directory + "/features.json"))
        } catch {
            throw DataError(.unreadable, "cannot write: \(error.localizedDescription)", path: directory)
        }
        if json {
            output.standardOutput(try jsonObjectLine(["out": directory, "users": split.train.userCount, "items": split.train.itemCount,
                                                      "train_interactions": split.train.interactionCount, "test_interactions": test.nonZeroCount]) + "\n")
            return
        }
        output.standardOutput("wrote \(split.train.userCount) users, \(split.train.itemCount) items, "
            + "\(split.train.interactionCount) training and \(test.nonZeroCount) test interactions to \(directory)\n")
    }

    /// Each content field: its name, vocabulary and every entity's value indices.
    static func fields(_ features: CategoricalFeatures) -> [[String: Any]] {
        features.fields.map { field in
            ["name": field.name, "vocabulary": field.vocabulary,
             "values": (0..<features.entityCount).map { e in e < field.values.rowCount ? field.values.columns(of: e).map(Int.init) : [] }]
        }
    }

    /// `user item item …` for every user with at least one item.
    static func adjacency(_ rows: SparseRows) -> String {
        var text = ""
        for u in 0..<rows.rowCount where rows.count(of: u) > 0 {
            text += "\(u) " + rows.columns(of: u).map(String.init).joined(separator: " ") + "\n"
        }
        return text
    }
}
