import Dispatch
import Events
import Foundation
import RummageAPI
import RummageCore
import Synchronization

/// Exposure logging off the request path: each answer's listings become `impression` events (user,
/// listing, ranking id, 0-based position, the surface's name, and the experiment and variant as
/// attributes), buffered and appended to the event log in batches, one durable write each, every
/// `interval`. Impressions are not fed to the online features (no feature reads them).
///
/// A batch the log cannot take stays buffered for the next flush (up to `capacity` events; past that the
/// oldest are dropped and counted). Impressions of listings the log does not know are refused by the
/// lifecycle, as any interaction would be, and counted.
final class ImpressionLog: @unchecked Sendable {
    // @unchecked because: `timer` is set once in init and only cancelled in deinit; the rest is a Mutex.
    struct Counts: Sendable {
        var written = 0
        var refused = 0
        var dropped = 0
    }

    private let ingestor: EventIngestor
    private let metrics: ServingMetrics
    private let pending = Mutex<[Event]>([])
    private let counts = Mutex(Counts())
    private let flushing = Mutex<Void>(())
    private let capacity: Int
    private let timer: DispatchSourceTimer

    init(ingestor: EventIngestor, metrics: ServingMetrics, interval: Double = 0.25, capacity: Int = 1_000_000) {
        self.ingestor = ingestor
        self.metrics = metrics
        self.capacity = capacity
        timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.flush() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// Logs `answer`'s listings; `retrievalScores[k]` is the score retrieval gave listing `k` (what a learned
    /// ranker reads as a feature), kept as the attribute `retrieval_score`; with exploration,
    /// `propensities[k]` the probability it was chosen for its slot (`propensity`); when interleaved,
    /// `teams[k]` the variant that placed it (`team`); a fully explored list's `candidates` go on its first
    /// impression (`LoggedCandidates`).
    func record(_ answer: SurfaceRecommendations, retrievalScores: [Float]?, propensities: [Double]? = nil, teams: [String]? = nil,
                candidates: [(item: String, score: Float)]? = nil) {
        precondition([retrievalScores?.count, propensities?.count, teams?.count].allSatisfy { ($0 ?? answer.items.count) == answer.items.count })
        let now = Int64(Date().timeIntervalSince1970)
        let events = answer.items.enumerated().map { position, item in
            var event = Event(id: "imp-\(answer.rankingID)-\(position)", type: .impression, timestamp: now, user: answer.user.map { UserID($0) },
                              item: ItemID(item.item),
                              attributes: ["variant": answer.variant])
            if let retrievalScores { event.attributes["retrieval_score"] = String(retrievalScores[position]) }
            if let teams { event.attributes["team"] = teams[position] }
            event.surface = answer.surface
            if let propensities { event.attributes["propensity"] = String(propensities[position]) }
            event.rankingID = answer.rankingID
            event.position = position
            if let experiment = answer.experiment { event.attributes["experiment"] = experiment }
            if position == 0, let candidates { event.attributes[LoggedCandidates.attribute] = LoggedCandidates.encode(candidates) }
            return event
        }
        let dropped = pending.withLock { buffer -> Int in
            buffer.append(contentsOf: events)
            let excess = max(0, buffer.count - capacity)
            buffer.removeFirst(excess)
            return excess
        }
        if dropped > 0 { counts.withLock { $0.dropped += dropped } }
    }

    /// Appends everything buffered now (one batch); a failed batch goes back to the buffer.
    func flush() {
        flushing.withLock { _ in
            let batch = pending.withLock { buffer -> [Event] in
                defer { buffer.removeAll(keepingCapacity: true) }
                return buffer
            }
            guard !batch.isEmpty else { return }
            do {
                let outcome = try ingestor.ingest(batch)
                let refused = Set(outcome.refused.map(\.index))
                for (i, event) in batch.enumerated() where !refused.contains(i) {
                    metrics.exposure.labels(metrics.surfaceLabel(event.surface),
                                            metrics.variantLabel(event.attributes["variant"] ?? ""), "impression").increment()
                }
                counts.withLock {
                    $0.written += outcome.appended
                    $0.refused += outcome.refused.count
                }
            } catch {
                pending.withLock { $0.insert(contentsOf: batch, at: 0) }
            }
        }
    }

    var snapshot: Counts { counts.withLock { $0 } }
}
