import Foundation
import RummageCore

/// A seeded simulation of a secondhand-fashion marketplace, for the embedded default and tests.
///
/// Users have latent tastes (favourite categories, styles, brands, their sizes, a price tier) and an
/// activity level. Listings have content and appear over time; each sells at most once. Browsing
/// sessions pick listings from the user's preferred category × style shelves with a recency bias,
/// plus trending listings others just engaged with. Each impression is a `view`; `like`, `save`,
/// `add_to_bag` and `purchase` follow with probabilities that grow with the user–listing match
/// (style, size, price band, brand, category). A purchase marks the listing sold: no event ever
/// touches it afterwards. The same configuration always produces the same data.
public struct MarketplaceGenerator: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var users: Int
        public var listings: Int
        /// Approximate number of events (generation stops at the first session that reaches it).
        public var events: Int
        public var days: Int
        public var seed: UInt64
        /// Unix time of the simulation start (default 2026-01-01T00:00:00Z).
        public var startTime: Int64

        public init(users: Int = 10_000, listings: Int = 20_000, events: Int = 500_000, days: Int = 90,
                    seed: UInt64 = 42, startTime: Int64 = 1_767_225_600) {
            precondition(users >= 2 && listings >= 1 && events >= 0 && days >= 1)
            self.users = users
            self.listings = listings
            self.events = events
            self.days = days
            self.seed = seed
            self.startTime = startTime
        }
    }

    public let configuration: Configuration
    public init(_ configuration: Configuration) { self.configuration = configuration }

    /// Generates the whole marketplace in memory.
    public func generate() -> Marketplace {
        var rng = SeededGenerator(seed: configuration.seed)
        let users = makeUsers(&rng)
        let listings = makeListings(users: users, &rng)
        let events = simulate(users: users, listings: listings, &rng)
        return Marketplace(configuration: configuration, users: users, listings: listings, events: events)
    }

    // MARK: Users

    private func makeUsers(_ rng: inout SeededGenerator) -> [Marketplace.User] {
        let v = MarketplaceVocabulary.self
        let categoryShares = v.categories.map(\.share)
        return (0..<configuration.users).map { _ in
            // 2–4 favourite categories with random weights.
            var categories: [Int] = []
            let favouriteCount = 2 + rng.nextInt(below: 3)
            while categories.count < favouriteCount {
                let c = sample(categoryShares, &rng)
                if !categories.contains(c) { categories.append(c) }
            }
            let categoryWeights = categories.map { _ in 0.2 + rng.nextDouble() }
            let firstStyle = rng.nextInt(below: v.styles.count)
            var secondStyle = rng.nextInt(below: v.styles.count - 1)
            if secondStyle >= firstStyle { secondStyle += 1 }
            let styleBrands = v.brands.indices.filter { v.brands[$0].styles.contains(firstStyle) }
            let brands = [styleBrands[rng.nextInt(below: styleBrands.count)], rng.nextInt(below: v.brands.count)]
            return Marketplace.User(
                joinedAt: configuration.startTime - Int64(rng.nextInt(below: 730 * 86_400)),
                topSize: centred(count: 5, &rng), waistSize: centred(count: 6, &rng), shoeSize: centred(count: 10, &rng),
                isSeller: rng.nextDouble() < 0.15,
                favouriteCategories: categories,
                categoryWeights: categoryWeights.map { $0 / categoryWeights.reduce(0, +) },
                styles: [firstStyle, secondStyle],
                brands: brands,
                priceTier: sample([0.35, 0.35, 0.22, 0.08], &rng),
                // Pareto(1.2) activity, capped so that no single user dominates.
                activity: min(50, pow(1 - rng.nextDouble(), -1 / 1.2)))
        }
    }

    /// A size index with a bell-shaped distribution over `count` sizes.
    private func centred(count: Int, _ rng: inout SeededGenerator) -> Int {
        let x = (Double(count) - 1) / 2 + rng.nextGaussian() * Double(count) / 5
        return min(count - 1, max(0, Int(x.rounded())))
    }

    // MARK: Listings

    private func makeListings(users: [Marketplace.User], _ rng: inout SeededGenerator) -> [Marketplace.Listing] {
        let v = MarketplaceVocabulary.self
        var sellers = users.indices.filter { users[$0].isSeller }
        if sellers.isEmpty { sellers = [0] }
        let span = Int64(configuration.days) * 86_400
        // A quarter of the catalogue predates the simulation; the rest appears uniformly over it.
        var createdAt = (0..<configuration.listings).map { _ -> Int64 in
            rng.nextDouble() < 0.25 ? -Int64(rng.nextInt(below: 30 * 86_400)) - 1 : Int64(rng.nextDouble() * Double(span))
        }
        createdAt.sort()
        let categoryShares = v.categories.map(\.share)
        let brandsByStyle = v.styles.indices.map { s in v.brands.indices.filter { v.brands[$0].styles.contains(s) } }
        let brandZipf = v.brands.indices.map { 1 / Double($0 + 2) }
        return createdAt.map { offset in
            let seller = sellers[rng.nextInt(below: sellers.count)]
            let owner = users[seller]
            let category = sample(categoryShares, &rng)
            let style = rng.nextDouble() < 0.7 ? owner.styles[rng.nextInt(below: 2)] : rng.nextInt(below: v.styles.count)
            let brand = rng.nextDouble() < 0.6
                ? brandsByStyle[style][rng.nextInt(below: brandsByStyle[style].count)]
                : sample(brandZipf, &rng)
            let system = v.categories[category].sizeSystem
            let size: Int
            switch system {
            case .letter: size = rng.nextDouble() < 0.5 ? owner.topSize : centred(count: 5, &rng)
            case .waist: size = rng.nextDouble() < 0.5 ? owner.waistSize : centred(count: 6, &rng)
            case .shoe: size = rng.nextDouble() < 0.5 ? owner.shoeSize : centred(count: 10, &rng)
            case .oneSize: size = 0
            }
            let condition = sample(v.conditionShares, &rng)
            let colour = rng.nextInt(below: v.colours.count)
            let raw = v.tierBasePrice[v.brands[brand].tier] * v.categories[category].priceFactor
                * v.conditionPriceFactors[condition] * exp(0.35 * rng.nextGaussian())
            let price = max(2, (raw * 2).rounded() / 2)
            return Marketplace.Listing(seller: Int32(seller), createdAt: configuration.startTime + offset,
                                       category: category, brand: brand, size: size, condition: condition,
                                       colour: colour, price: price, style: style)
        }
    }

    // MARK: Events

    private func simulate(users: [Marketplace.User], listings: [Marketplace.Listing],
                          _ rng: inout SeededGenerator) -> Marketplace.Events {
        let v = MarketplaceVocabulary.self
        let styleCount = v.styles.count
        var events = Marketplace.Events()
        events.reserve(configuration.events + 64)
        let activity = CumulativeWeights(users.map(\.activity))
        // Shelves: visible listings per (category, style), in creation order.
        var shelves = [[Int32]](repeating: [], count: v.categories.count * styleCount)
        var sold = [Bool](repeating: false, count: listings.count)
        var released = 0
        var trending = [Int32](repeating: -1, count: 2_048)
        var trendingCursor = 0
        let span = Double(configuration.days * 86_400)
        let target = configuration.events

        while events.count < target {
            let now = configuration.startTime + Int64(span * Double(events.count) / Double(max(target, 1)))
            while released < listings.count && listings[released].createdAt <= now {
                let l = listings[released]
                shelves[l.category * styleCount + l.style].append(Int32(released))
                released += 1
            }
            let u = activity.sample(&rng)
            let user = users[u]
            var t = now + Int64(rng.nextInt(below: 600))
            let impressions = 1 + Int(-log(1 - rng.nextDouble()) * 5)
            for _ in 0..<impressions {
                guard let item = pickListing(for: user, userIndex: u, listings: listings, shelves: shelves,
                                             sold: sold, trending: trending, &rng) else { continue }
                let listing = listings[Int(item)]
                t += 5 + Int64(rng.nextInt(below: 55))
                events.append(t, Int32(u), item, .view)
                let p = engagementProbability(user, listing)
                var engaged = false
                if rng.nextDouble() < p {
                    t += 2; events.append(t, Int32(u), item, .like); engaged = true
                }
                if rng.nextDouble() < 0.6 * p {
                    t += 2; events.append(t, Int32(u), item, .save); engaged = true
                }
                guard engaged else { continue }
                trending[trendingCursor] = item
                trendingCursor = (trendingCursor + 1) % trending.count
                let fits = sizeMatches(user, listing)
                if rng.nextDouble() < 0.35 * p * (fits ? 1 : 0.2) {
                    t += 10; events.append(t, Int32(u), item, .addToBag)
                    if rng.nextDouble() < 0.5 {
                        t += 30; events.append(t, Int32(u), item, .purchase)
                        sold[Int(item)] = true
                    }
                }
            }
        }
        events.sortByTime()
        return events
    }

    /// Chooses a listing to show: trending (12 %), else from a preferred category × style shelf
    /// with a strong recency bias. Never the user's own or a sold listing; nil if none was found.
    private func pickListing(for user: Marketplace.User, userIndex: Int, listings: [Marketplace.Listing],
                             shelves: [[Int32]], sold: [Bool], trending: [Int32],
                             _ rng: inout SeededGenerator) -> Int32? {
        let styleCount = MarketplaceVocabulary.styles.count
        for _ in 0..<4 {
            var candidate: Int32
            if rng.nextDouble() < 0.12 {
                candidate = trending[rng.nextInt(below: trending.count)]
                if candidate < 0 { continue }
            } else {
                let category = user.favouriteCategories[sample(user.categoryWeights, &rng)]
                let style = rng.nextDouble() < 0.8
                    ? user.styles[rng.nextDouble() < 0.65 ? 0 : 1] : rng.nextInt(below: styleCount)
                let shelf = shelves[category * styleCount + style]
                guard !shelf.isEmpty else { continue }
                let u = rng.nextDouble()
                candidate = shelf[shelf.count - 1 - Int(Double(shelf.count) * u * u * u)]
            }
            if !sold[Int(candidate)] && listings[Int(candidate)].seller != Int32(userIndex) { return candidate }
        }
        return nil
    }

    private func sizeMatches(_ user: Marketplace.User, _ listing: Marketplace.Listing) -> Bool { user.fits(listing) }

    private func engagementProbability(_ user: Marketplace.User, _ listing: Marketplace.Listing) -> Double {
        user.likeProbability(of: listing)
    }
}

extension Marketplace.User {
    /// Whether the listing is in the user's size (one-size listings fit everyone).
    public func fits(_ listing: Marketplace.Listing) -> Bool {
        switch MarketplaceVocabulary.categories[listing.category].sizeSystem {
        case .letter: listing.size == topSize
        case .waist: listing.size == waistSize
        case .shoe: listing.size == shoeSize
        case .oneSize: true
        }
    }

    /// The ground truth of the generated marketplace: the probability that this user likes the listing
    /// once shown it, a logistic function of how well they match (style, size, price tier, brand,
    /// category). The generator draws its events from it; `rummage simulate` plays users by it.
    public func likeProbability(of listing: Marketplace.Listing) -> Double {
        let style = listing.style == styles[0] ? 1.0 : listing.style == styles[1] ? 0.55 : 0
        let size = fits(listing) ? 1.0 : 0
        let band = MarketplaceVocabulary.priceBand(listing.price)
        let price = 1 - Double(abs(band - priceTier)) / 3
        let brand = brands.contains(listing.brand) ? 1.0 : 0
        let category = favouriteCategories.firstIndex(of: listing.category).map { categoryWeights[$0] } ?? 0
        let logit = -4.2 + 2.2 * style + 1.3 * size + 1.4 * price + 1.0 * brand + 1.5 * category
        return 1 / (1 + exp(-logit))
    }
}

/// Draws index `i` with probability `weights[i] / sum` (linear scan: for short lists).
func sample(_ weights: [Double], _ rng: inout SeededGenerator) -> Int {
    let total = weights.reduce(0, +)
    var x = rng.nextDouble() * total
    for (i, w) in weights.enumerated() {
        x -= w
        if x < 0 { return i }
    }
    return weights.count - 1
}

/// Weighted sampling from a long list by binary search over cumulative weights.
public struct CumulativeWeights: Sendable {
    private let cumulative: [Double]
    public init(_ weights: [Double]) {
        var running = 0.0
        cumulative = weights.map { running += $0; return running }
    }
    /// Index `i` with probability `weights[i] / sum`.
    public func sample(_ rng: inout SeededGenerator) -> Int {
        let x = rng.nextDouble() * cumulative[cumulative.count - 1]
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if cumulative[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
