import Catalogue
import Evaluation
import Events
import Foundation
import RummageCore

/// A dataset divided for offline evaluation: what models train on, and how they are evaluated.
public struct Split: Sendable {
    /// Short description, e.g. `ncf-ml1m` or `synthetic (temporal, 90% train)`.
    public var name: String
    public var train: InteractionMatrix
    /// The split's own evaluation protocol.
    public var evaluation: EvaluationProtocol
    /// Content features of users and items, when the dataset has them (else no fields).
    public var userFeatures: CategoricalFeatures
    public var itemFeatures: CategoricalFeatures
    /// For a temporal split of a generated marketplace: its data (events with their times) and the
    /// split time, from which time-varying features are computed. Nil for other datasets.
    public var marketplace: (data: MarketplaceData, splitTime: Int64)?

    public init(name: String, train: InteractionMatrix, evaluation: EvaluationProtocol,
                userFeatures: CategoricalFeatures? = nil, itemFeatures: CategoricalFeatures? = nil) {
        self.name = name
        self.train = train
        self.evaluation = evaluation
        self.userFeatures = userFeatures ?? .none(entityCount: train.userCount)
        self.itemFeatures = itemFeatures ?? .none(entityCount: train.itemCount)
        precondition(self.userFeatures.entityCount == train.userCount && self.itemFeatures.entityCount == train.itemCount)
    }

    /// The users' external ids by index: a marketplace's own ids, else the index as text (the NCF and
    /// LightGCN files number users and items from 0, so their ids are their indices).
    public var userIDs: [String] { marketplace?.data.userIDs.ids.map(\.value) ?? (0..<train.userCount).map(String.init) }

    /// The items' external ids by index (see `userIDs`).
    public var itemIDs: [String] { marketplace?.data.itemIDs.ids.map(\.value) ?? (0..<train.itemCount).map(String.init) }
}

/// Which dataset to load: `KIND:DIRECTORY` on the command line.
public enum DatasetSpec: Sendable, Equatable, CustomStringConvertible {
    /// The NCF MovieLens-1M leave-one-out split (1 + 99 sampled protocol).
    case ncfMovieLens(directory: String)
    /// LightGCN-format `train.txt` / `test.txt` (full-ranking protocol).
    case lightGCN(directory: String)
    /// MovieLens-1M's ratings split 80/20 at random per user (`MovieLensRandomSplit`, full ranking).
    case movieLensRandom(directory: String)
    /// What `rummage generate` wrote (temporal split, full ranking over unsold listings).
    case synthetic(directory: String)
    /// A marketplace's event log (a SQLite file or a `postgresql://` URI) as of its latest event, read
    /// through the generator's catalogue schema (`EventLogSplit`; pipelines take other schemas and times).
    case eventLog(location: String)

    public static let kinds = ["ncf-ml1m", "ml1m-random", "lightgcn", "synthetic", "log"]

    /// Parses `KIND:DIRECTORY`.
    public init(parsing text: String) throws(DataError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw DataError(.invalidArgument, "dataset '\(text)' must be KIND:DIRECTORY with KIND one of \(Self.kinds.joined(separator: ", "))")
        }
        let kind = String(text[..<colon]), directory = String(text[text.index(after: colon)...])
        guard !directory.isEmpty else { throw DataError(.invalidArgument, "dataset '\(text)' names no directory") }
        switch kind {
        case "ncf-ml1m": self = .ncfMovieLens(directory: directory)
        case "lightgcn": self = .lightGCN(directory: directory)
        case "ml1m-random": self = .movieLensRandom(directory: directory)
        case "synthetic": self = .synthetic(directory: directory)
        case "log": self = .eventLog(location: directory)
        default:
            throw DataError(.invalidArgument, "unknown dataset kind '\(kind)'; kinds: \(Self.kinds.joined(separator: ", "))")
        }
    }

    public var description: String {
        switch self {
        case .ncfMovieLens(let d): "ncf-ml1m:\(d)"
        case .lightGCN(let d): "lightgcn:\(d)"
        case .movieLensRandom(let d): "ml1m-random:\(d)"
        case .synthetic(let d): "synthetic:\(d)"
        case .eventLog(let location): "log:\(location)"
        }
    }

    /// Loads the split with its protocol; an event log is opened with `openLog` (the backends' opener,
    /// which this layer does not know; it refuses a log that does not exist) and read as of `asOf` (default: its latest event), with only the
    /// interactions of the last `windowDays` days when given.
    public func load(openLog: (String) throws -> any EventLog = { throw DataError(.invalidArgument, "log datasets need an event-log opener", path: $0) },
                     asOf: Int64? = nil, windowDays: Int? = nil) throws -> Split {
        switch self {
        case .ncfMovieLens(let d): return try NCFSplit.load(directory: d)
        case .lightGCN(let d): return try LightGCNSplit.load(directory: d)
        case .movieLensRandom(let d): return try MovieLensRandomSplit.load(directory: d)
        case .synthetic(let d): return try SyntheticSplit.load(directory: d)
        case .eventLog(let location):
            return try EventLogSplit.load(log: try openLog(location), location: location, schema: .secondhandFashion, asOf: asOf,
                                          windowDays: windowDays).split
        }
    }
}

/// Path helpers shared by the loaders.
enum DataDirectory {
    /// The first of `names` that exists in `directory`, or an error listing what was looked for.
    static func find(_ names: [String], in directory: String) throws(DataError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError(.fileNotFound, "no such directory", path: directory)
        }
        for name in names {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw DataError(.fileNotFound, "no \(names.joined(separator: " or ")) in this directory", path: directory)
    }
}
