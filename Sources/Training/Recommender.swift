import LinearAlgebra
import RummageCore
import Synchronization

/// A trained model that scores items for a user. Higher scores rank first.
///
/// Models are immutable after training, so one instance serves many threads at once.
public protocol Recommender: Sendable {
    var userCount: Int { get }
    var itemCount: Int { get }

    /// Writes a score for every item into `scores`. Precondition: `scores.count == itemCount`.
    func scoreAll(for user: UserIndex, into scores: UnsafeMutableBufferPointer<Float>)

    /// Scores of `items` for `user`, in the same order. The default scores all items and picks.
    func scores(for user: UserIndex, items: [ItemIndex]) -> [Float]
}

extension Recommender {
    public func scores(for user: UserIndex, items: [ItemIndex]) -> [Float] {
        var all = [Float](repeating: 0, count: itemCount)
        all.withUnsafeMutableBufferPointer { scoreAll(for: user, into: $0) }
        return items.map { all[$0.int] }
    }

    /// The `k` best items for `user`, skipping `excluded` items (e.g. already seen or sold).
    /// Ties rank the lower item index first.
    public func recommend(for user: UserIndex, k: Int, excluding excluded: some Sequence<ItemIndex> = []) -> [ScoredIndex] {
        var all = [Float](repeating: 0, count: itemCount)
        all.withUnsafeMutableBufferPointer { scoreAll(for: user, into: $0) }
        for item in excluded { all[item.int] = -.infinity }
        return TopK.select(all, k: k)
    }
}

/// Per-epoch (or per-iteration) figures of a training run, e.g. `loss`, in the order they were recorded;
/// the pipeline stores them with the model version and `rummage report` plots them.
public final class TrainingHistory: Sendable {
    public struct Step: Sendable, Codable, Equatable {
        public var step: Int
        public var values: [String: Double]
    }

    private let recorded = Mutex<[Step]>([])

    public init() {}

    public func record(step: Int, _ values: [String: Double]) { recorded.withLock { $0.append(Step(step: step, values: values)) } }

    public var steps: [Step] { recorded.withLock { $0 } }

    private let recordedNotes = Mutex<[String: String]>([:])

    /// Notes where a model came from when it was not trained here (an imported hand-off: its files'
    /// checksum, its producer, the parity measured); the registry keeps them as the manifest's `source`.
    public func note(_ key: String, _ value: String) { recordedNotes.withLock { $0[key] = value } }

    public var notes: [String: String] { recordedNotes.withLock { $0 } }
}

/// Everything a training run may use besides the data: threads, seed, a progress sink and a history.
public struct TrainingContext: Sendable {
    /// Worker threads for the model's own parallel loops.
    public var threads: Int
    /// Seed for every random choice the model makes.
    public var seed: UInt64
    /// Receives one human-readable line per step (iteration, phase); the CLI prints it on stderr.
    public var progress: @Sendable (String) -> Void
    /// Receives each epoch's figures (loss, validation metrics).
    public var history: TrainingHistory

    public init(threads: Int = Parallel.defaultThreadCount, seed: UInt64 = 42,
                progress: @escaping @Sendable (String) -> Void = { _ in }, history: TrainingHistory = TrainingHistory()) {
        precondition(threads > 0)
        self.threads = threads
        self.seed = seed
        self.progress = progress
        self.history = history
    }
}
