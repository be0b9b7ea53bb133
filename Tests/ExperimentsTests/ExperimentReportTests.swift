import Events
import Experiments
import Foundation
import RummageCore
import Testing

@Suite struct ExperimentReportTests {
    /// Reference values from scipy.stats.chi2.sf.
    @Test(arguments: [(3.841458820694124, 1, 0.05), (5.991464547107979, 2, 0.05), (10.0, 3, 0.01856613546304325),
                      (100.0, 50, 3.454931382984871e-05), (0.5, 4, 0.9735009788392561), (25.0, 1, 5.733031437583875e-07)])
    func chiSquareSurvivalMatchesScipy(x: Double, degrees: Int, expected: Double) {
        let p = ChiSquare.survival(x, degreesOfFreedom: degrees)
        #expect(abs(p - expected) <= 1e-9 * max(1, expected) + expected * 1e-9, "\(p) against \(expected)")
    }

    static func impression(_ user: String, _ item: String, ranking: String, at time: Int64, variant: String,
                           experiment: String = "exp", surface: String = "home") -> Event {
        var event = Event(id: "imp-\(ranking)-\(item)", type: .impression, timestamp: time, user: UserID(user), item: ItemID(item),
                          attributes: ["variant": variant, "experiment": experiment])
        (event.surface, event.rankingID, event.position) = (surface, ranking, 0)
        return event
    }

    static func engagement(_ type: EventType, _ user: String, _ item: String, ranking: String?, at time: Int64) -> Event {
        var event = Event(id: "\(type.rawValue)-\(user)-\(item)-\(time)", type: type, timestamp: time, user: UserID(user), item: ItemID(item))
        event.rankingID = ranking
        return event
    }

    /// Engagement counts for an impression only from the same user, with the same listing and ranking id,
    /// within the window after it.
    @Test func attributionJoinsByRankingListingUserAndWindow() {
        let events = [
            Self.impression("u1", "a", ranking: "r1", at: 100, variant: "x"),
            Self.impression("u1", "b", ranking: "r1", at: 100, variant: "x"),
            Self.engagement(.view, "u1", "a", ranking: "r1", at: 150),          // counts
            Self.engagement(.purchase, "u1", "a", ranking: "r1", at: 100 + 3_601), // after the window
            Self.engagement(.like, "u2", "b", ranking: "r1", at: 120),          // another user
            Self.engagement(.addToBag, "u1", "b", ranking: "r2", at: 120),      // another ranking
            Self.engagement(.save, "u1", "b", ranking: "r1", at: 99),           // before the impression
        ]
        let joined = Attribution.join(events, windowSeconds: 3_600) { _ in true }
        #expect(joined.count == 2)
        #expect(joined[0].engaged(.view) && !joined[0].engaged(.purchase))
        #expect(joined[1].engaged == 0)
    }

    /// Two variants with known counts: 4 users each, 10 impressions per user; control users view 1, 1, 2, 2
    /// of theirs, treatment users 3, 3, 4, 4. CTR 0.15 against 0.35; the difference and its interval are the
    /// delta method's (`RatioEstimate`).
    static func twoVariants(treatmentViews: [Int] = [3, 3, 4, 4], sold: Bool = false) -> [Event] {
        var events: [Event] = []
        for (variant, views) in [("control", [1, 1, 2, 2]), ("treatment", treatmentViews)] {
            for (u, v) in views.enumerated() {
                let user = "\(variant)-u\(u)"
                for k in 0..<10 {
                    let item = "l\(k)", ranking = "\(user)-r"
                    events.append(Self.impression(user, item, ranking: ranking, at: 1_000, variant: variant))
                    if k < v { events.append(Self.engagement(.view, user, item, ranking: ranking, at: 1_010)) }
                }
            }
        }
        if sold { events.append(Self.engagement(.purchase, "someone", "l3", ranking: nil, at: 900)) }
        return events
    }

    @Test func knownCountsGiveKnownRatesDifferencesAndAVerdict() throws {
        var options = ExperimentReport.Options(experiment: "exp")
        options.split = [("control", 50), ("treatment", 50)]
        let report = try ExperimentReport.build(events: Self.twoVariants(), options: options)
        #expect(report.control == "control")
        let control = try #require(report.groups.first { $0.variant == "control" })
        let treatment = try #require(report.groups.first { $0.variant == "treatment" })
        #expect(control.users == 4 && control.impressions == 40 && control.views == 6 && treatment.views == 14)
        #expect(abs(control.metrics["ctr"]!.value - 0.15) < 1e-12 && abs(treatment.metrics["ctr"]!.value - 0.35) < 1e-12)
        let expected = RatioEstimate(units: [(3, 10), (3, 10), (4, 10), (4, 10)])
            .difference(from: RatioEstimate(units: [(1, 10), (1, 10), (2, 10), (2, 10)]))
        let ctr = try #require(report.comparisons.first { $0.metric == "ctr" })
        #expect(abs(ctr.absolute - 0.2) < 1e-12 && abs(ctr.low - expected.low) < 1e-12 && abs(ctr.high - expected.high) < 1e-12)
        #expect(ctr.significant && ctr.relative.map { abs($0 - 0.2 / 0.15) < 1e-12 } == true)
        #expect(report.sampleRatio?.mismatch == false && report.sampleRatio?.pValue == 1)
        #expect(report.guardrails.allSatisfy { $0.passed })
        #expect(report.verdict.hasPrefix("treatment beats control on ctr"), "\(report.verdict)")

        let tie = try ExperimentReport.build(events: Self.twoVariants(treatmentViews: [1, 2, 1, 2]), options: options)
        #expect(tie.verdict.hasPrefix("no significant difference in ctr"), "\(tie.verdict)")
        #expect(report.html.contains("<svg") && report.html.contains("treatment beats control"))
    }

    /// 90/10 configured, 80/20 served: the sample-ratio check flags it and the verdict refuses to call a winner;
    /// 90/10 served passes.
    @Test func aBrokenSplitIsFlagged() throws {
        func events(_ control: Int, _ treatment: Int) -> [Event] {
            (0..<control).map { Self.impression("c\($0)", "l1", ranking: "rc\($0)", at: 1_000, variant: "champion") }
                + (0..<treatment).map { Self.impression("t\($0)", "l1", ranking: "rt\($0)", at: 1_000, variant: "challenger") }
        }
        var options = ExperimentReport.Options(experiment: "exp")
        options.split = [("champion", 90), ("challenger", 10)]
        let broken = try ExperimentReport.build(events: events(800, 200), options: options)
        #expect(broken.sampleRatio?.mismatch == true && broken.verdict.hasPrefix("INVALID: sample ratio mismatch"), "\(broken.verdict)")
        let healthy = try ExperimentReport.build(events: events(903, 97), options: options)
        #expect(healthy.sampleRatio?.mismatch == false, "p = \(healthy.sampleRatio!.pValue)")
    }

    /// A listing shown after it was sold fails the guardrail of the variant that showed it.
    @Test func servingASoldListingFailsAGuardrail() throws {
        let report = try ExperimentReport.build(events: Self.twoVariants(sold: true), options: .init(experiment: "exp"))
        let failed = report.guardrails.filter { !$0.passed }
        #expect(failed.count == 2 && failed.allSatisfy { $0.name == "sold_listings_served" && $0.value == 4 }, "\(failed)")
        #expect(report.verdict.hasPrefix("GUARDRAIL FAILED"))
        #expect(throws: ExperimentError.self) { _ = try ExperimentReport.build(events: Self.twoVariants(), options: .init(experiment: "other")) }
    }
}

@Suite struct InterleavingReportTests {
    /// 30 users, one interleaved list each of four listings, two placed by each team; 20 users view a
    /// `ranked` listing, 5 a `retrieval` one, 5 one of each (a tie): `ranked` wins 20 of 25 lists with a
    /// preference.
    @Test func theTeamWithMoreViewsWinsTheList() throws {
        var events: [Event] = []
        for u in 0..<30 {
            let user = "u\(u)", ranking = "r\(u)"
            for (k, team) in ["retrieval", "ranked", "retrieval", "ranked"].enumerated() {
                var impression = ExperimentReportTests.impression(user, "l\(k)", ranking: ranking, at: 1_000, variant: "interleaved", experiment: "tdi")
                impression.attributes["team"] = team
                events.append(impression)
            }
            let viewed = u < 20 ? ["l1"] : (u < 25 ? ["l0"] : ["l0", "l1"])
            events += viewed.map { ExperimentReportTests.engagement(.view, user, $0, ranking: ranking, at: 1_010) }
        }
        var options = ExperimentReport.Options(experiment: "tdi")
        options.control = "retrieval"
        let report = try ExperimentReport.build(events: events, options: options)
        let i = try #require(report.interleaving)
        #expect(i.teams == ["retrieval", "ranked"] && i.lists == 30 && i.ties == 5 && i.wins == ["ranked": 20, "retrieval": 5])
        #expect(abs(i.preference.value - 0.8) < 1e-12 && i.significant)
        #expect(report.verdict.hasPrefix("ranked is preferred to retrieval (interleaved): ranked won 80.0 %"), "\(report.verdict)")
    }
}

@Suite struct ServerGuardrailsTests {
    /// A scrape in the server's format: challenger fell back on 10 % of its answers (limit 5 %), p99 of the
    /// surface endpoint is in the 25 ms bucket, nothing unservable was served.
    @Test func readsFallbacksEmptyAnswersAndLatencyFromMetrics() throws {
        let text = """
            # HELP rummage_recs_answers_total Recommendation answers by variant and kind.
            rummage_recs_answers_total{variant="champion",kind="personalised"} 990
            rummage_recs_answers_total{variant="champion",kind="fallback"} 10
            rummage_recs_answers_total{variant="challenger",kind="personalised"} 90
            rummage_recs_answers_total{variant="challenger",kind="fallback"} 10
            rummage_recs_unservable_served_total 0
            rummage_http_request_duration_seconds_bucket{endpoint="surface_recommendations",le="0.01"} 900
            rummage_http_request_duration_seconds_bucket{endpoint="surface_recommendations",le="0.025"} 995
            rummage_http_request_duration_seconds_bucket{endpoint="surface_recommendations",le="+Inf"} 1000
            rummage_http_request_duration_seconds_bucket{endpoint="events",le="+Inf"} 50
            """
        let server = ServerGuardrails(metrics: text)
        #expect(server.p99Milliseconds("surface_recommendations") == 25 && server.p99Milliseconds("events") == nil)
        let guardrails = server.guardrails(variants: ["champion", "challenger"], limits: .init())
        let failed = guardrails.filter { !$0.passed }.map { "\($0.variant) \($0.name)" }
        #expect(failed == ["challenger fallback_rate"], "\(guardrails)")
        #expect(guardrails.contains { $0.name == "p99_ms[surface_recommendations]" && $0.value == 25 })
        #expect(guardrails.contains { $0.name == "empty_answer_rate" && $0.variant == "champion" && $0.value == 0 })

        var options = ExperimentReport.Options(experiment: "exp")
        options.serverMetrics = server
        let events = ExperimentReportTests.twoVariants().map { event -> Event in
            var e = event
            if let v = e.attributes["variant"] { e.attributes["variant"] = v == "control" ? "champion" : "challenger" }
            return e
        }
        let report = try ExperimentReport.build(events: events, options: options)
        #expect(report.verdict == "GUARDRAIL FAILED: challenger fallback_rate 0.1 (at most 0.05)", "\(report.verdict)")
    }
}
