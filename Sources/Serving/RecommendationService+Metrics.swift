import Events
import Foundation
import Telemetry

extension RecommendationService {
    /// The Prometheus text exposition of every serving metric.
    public var metricsExposition: String { metrics.registry.exposition() }

    /// Gauges computed at scrape time from the served deployments, the event clock and the impressions.
    func registerCollectedMetrics() {
        let r = metrics.registry
        r.collected("rummage_log_lines_dropped_total", "Log lines standard error refused (a full disk, a closed pipe).", type: "counter") {
            [(labels: [], value: Double(JSONLogger.droppedLines.current))]
        }
        r.collected("rummage_index_listings", "Listings in each served alias's index.", labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.index.count)) } ?? []
        }
        r.collected("rummage_online_store_circuit_open",
                    "1 while the online store's request-path circuit is open (repeated timeouts: answers fall back to the event log).") { [weak self] in
            guard let shared = self?.eligibility.shared as? RedisListingStates else { return [] }
            return [(labels: [], value: shared.redis.breaker.isOpen ? 1 : 0)]
        }
        r.collected("rummage_event_log_circuit_open",
                    "1 while the event log's circuit is open (it did not answer: writes answer 503 at once, one trial statement a second).") { [weak self] in
            [(labels: [], value: self?.intake.ingestor.log.isKnownUnreachable == true ? 1 : 0)]
        }
        r.collected("rummage_index_tombstones", "Removed listings still in each served alias's graph (compacted by a rebuild aside once over 30 %).",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.index.tombstones)) } ?? []
        }
        r.collected("rummage_index_rebuilds_total", "Graph rebuilds swapped into each served alias's index since it was loaded.", type: "counter",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.index.rebuilds)) } ?? []
        }
        r.collected("rummage_index_newest_listing_age_seconds",
                    "Event time since the newest listing in the index was created: grows when listings arrive but none reaches the index.",
                    labels: ["alias"]) { [weak self] in
            guard let self else { return [] }
            let latest = (try? signals.store.latestEventTime()) ?? Int64.min
            return slotsSnapshot.map { slot in
                let newest = slot.deployment.newestListingTime.load(ordering: .relaxed)
                return ([slot.alias], newest == Int64.min || latest == Int64.min ? 0 : Double(max(0, latest - newest)))
            }
        }
        r.collected("rummage_index_search_width", "The beam width each served alias's index searches with (chosen at build for the recall target).",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.index.configuration.efSearch)) } ?? []
        }
        r.collected("rummage_index_recall",
                    "Recall@20 against exact search of each served alias's index at its search width for the model's users: measured when "
                        + "the version was built (unfiltered, and the mean over listing filters), and when it was loaded here.",
                    labels: ["alias", "measured", "filtered"]) { [weak self] in
            self?.slotsSnapshot.flatMap { slot -> [([String], Double)] in
                let metrics = slot.deployment.manifest.metrics
                var values: [([String], Double)] = []
                if let recall = metrics["index_recall@20"] { values.append(([slot.alias, "build", "false"], recall)) }
                if let recall = metrics["index_recall@20[filtered]"] { values.append(([slot.alias, "build", "true"], recall)) }
                if let recall = slot.deployment.quality?.indexRecall { values.append(([slot.alias, "load", "false"], recall.mean)) }
                return values
            } ?? []
        }
        r.collected("rummage_model_info", "The model version each alias serves (value 1), with its provenance.",
                    labels: ["model", "alias", "version", "kind", "created_at", "data_fingerprint", "code_version"]) { [weak self] in
            guard let self else { return [] }
            return slotsSnapshot.map { slot in
                let m = slot.deployment.manifest
                return ([modelName, slot.alias, String(m.version), m.kind, m.createdAt, String(m.dataFingerprint.prefix(16)), m.codeVersion], 1)
            }
        }
        r.collected("rummage_model_version", "The model version each alias serves.", labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.version)) } ?? []
        }
        r.collected("rummage_features_freshness_seconds", "Wall-clock time since the newest event the online feature store holds.") { [weak self] in
            guard let latest = try? self?.signals.store.latestEventTime(), latest != Int64.min else { return [] }
            return [([], max(0, Date().timeIntervalSince1970 - Double(latest)))]
        }
        r.collected("rummage_recs_score_psi",
                    "Population stability index of served scores against the version's own answers when it loaded (above 0.2: drift).",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], $0.deployment.quality?.psi ?? 0) } ?? []
        }
        r.collected("rummage_recs_scores_observed_total", "Scores served since the version loaded (the sample behind the PSI).",
                    type: "counter", labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], Double($0.deployment.quality?.scores.snapshot.count ?? 0)) } ?? []
        }
        r.collected("rummage_recs_catalog_coverage_ratio", "Share of the indexed listings served at least once since the version loaded.",
                    labels: ["alias"]) { [weak self] in
            self?.slotsSnapshot.map { ([$0.alias], $0.deployment.quality?.coverage(of: $0.deployment.index.count) ?? 0) } ?? []
        }
        r.collected("rummage_impressions_total", "Impressions logged, by outcome (written, refused, dropped).", type: "counter",
                    labels: ["outcome"]) { [weak self] in
            guard let counts = self?.impressions?.snapshot else { return [] }
            return [(["written"], Double(counts.written)), (["refused"], Double(counts.refused)), (["dropped"], Double(counts.dropped))]
        }
    }

    private var slotsSnapshot: [(alias: String, deployment: Deployment)] { slots.all }
}

