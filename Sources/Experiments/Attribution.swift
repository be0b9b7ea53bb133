import Events
import RummageCore

/// An impression (a listing shown to a user in a list with a `ranking_id`) with the engagement that
/// followed it.
public struct AttributedImpression: Sendable {
    public var impression: Event
    /// The engagement types (`EventType.bit`s) of the user's events with this listing that name the
    /// impression's `ranking_id` within the attribution window after it.
    public var engaged: UInt32

    public func engaged(_ type: EventType) -> Bool { engaged & type.bit != 0 }
}

/// Impressions joined to the engagement that names them: the one definition of "this view (like, add to
/// bag, purchase) came from that impression", shared by experiment reports and the learned ranker's labels.
public enum Attribution {
    /// The event types that count as engagement with a shown listing.
    public static let engagementTypes: [EventType] = [.view, .like, .save, .addToBag, .purchase]

    /// The impressions among `events` that `include` accepts (those with a user, a listing and a
    /// `ranking_id`), each with the engagement types of events by the same user with the same listing that
    /// carry its `ranking_id` and come at most `windowSeconds` after it. `events` may be in any order.
    public static func join(_ events: [Event], windowSeconds: Int64, include: (Event) -> Bool) -> [AttributedImpression] {
        var shown: [AttributedImpression] = [], place: [String: Int] = [:]
        for event in events where event.type == .impression && include(event) {
            guard let ranking = event.rankingID, let item = event.item?.value, event.user != nil else { continue }
            place[ranking + "\u{1F}" + item] = shown.count
            shown.append(AttributedImpression(impression: event, engaged: 0))
        }
        let engagement = engagementTypes.reduce(UInt32(0)) { $0 | $1.bit }
        for event in events where event.type.bit & engagement != 0 {
            guard let ranking = event.rankingID, let item = event.item?.value,
                  let k = place[ranking + "\u{1F}" + item], shown[k].impression.user == event.user else { continue }
            let delay = event.timestamp - shown[k].impression.timestamp
            if delay >= 0 && delay <= windowSeconds { shown[k].engaged |= event.type.bit }
        }
        return shown
    }
}
