/// The fixed vocabulary of the synthetic secondhand-fashion marketplace: categories with their size
/// systems, styles, brands with price tier and style affinity, colours and conditions.
public enum MarketplaceVocabulary {
    public enum SizeSystem: Int, Sendable, CaseIterable {
        case letter, waist, shoe, oneSize

        public var sizes: [String] {
            switch self {
            case .letter: ["XS", "S", "M", "L", "XL"]
            case .waist: ["W26", "W28", "W30", "W32", "W34", "W36"]
            case .shoe: ["EU36", "EU37", "EU38", "EU39", "EU40", "EU41", "EU42", "EU43", "EU44", "EU45"]
            case .oneSize: ["one-size"]
            }
        }
    }

    public struct Category: Sendable {
        public var name: String
        public var sizeSystem: SizeSystem
        /// Multiplies the brand tier's base price.
        public var priceFactor: Double
        /// Relative share of listings.
        public var share: Double
    }

    public struct Brand: Sendable {
        public var name: String
        /// 0 budget, 1 high street, 2 premium, 3 luxury.
        public var tier: Int
        /// Indices into `styles` this brand is known for.
        public var styles: [Int]
    }

    public static let categories: [Category] = [
        Category(name: "dresses", sizeSystem: .letter, priceFactor: 1.1, share: 0.12),
        Category(name: "tops", sizeSystem: .letter, priceFactor: 0.6, share: 0.16),
        Category(name: "jumpers", sizeSystem: .letter, priceFactor: 0.9, share: 0.10),
        Category(name: "jackets", sizeSystem: .letter, priceFactor: 1.6, share: 0.09),
        Category(name: "coats", sizeSystem: .letter, priceFactor: 2.0, share: 0.05),
        Category(name: "jeans", sizeSystem: .waist, priceFactor: 1.0, share: 0.11),
        Category(name: "trousers", sizeSystem: .waist, priceFactor: 0.9, share: 0.07),
        Category(name: "skirts", sizeSystem: .letter, priceFactor: 0.8, share: 0.06),
        Category(name: "shoes", sizeSystem: .shoe, priceFactor: 1.3, share: 0.06),
        Category(name: "trainers", sizeSystem: .shoe, priceFactor: 1.4, share: 0.07),
        Category(name: "bags", sizeSystem: .oneSize, priceFactor: 1.5, share: 0.06),
        Category(name: "accessories", sizeSystem: .oneSize, priceFactor: 0.5, share: 0.05),
    ]

    public static let styles = ["vintage", "streetwear", "y2k", "minimalist", "boho", "sporty", "designer", "workwear"]

    public static let brands: [Brand] = [
        Brand(name: "levis", tier: 1, styles: [0, 7]), Brand(name: "zara", tier: 1, styles: [3, 2]),
        Brand(name: "nike", tier: 1, styles: [5, 1]), Brand(name: "adidas", tier: 1, styles: [5, 1]),
        Brand(name: "carhartt", tier: 1, styles: [7, 1]), Brand(name: "ralph-lauren", tier: 2, styles: [0, 3]),
        Brand(name: "tommy-hilfiger", tier: 1, styles: [0, 5]), Brand(name: "hm", tier: 0, styles: [3, 2]),
        Brand(name: "uniqlo", tier: 0, styles: [3, 7]), Brand(name: "cos", tier: 1, styles: [3]),
        Brand(name: "arket", tier: 1, styles: [3, 7]), Brand(name: "mango", tier: 0, styles: [3, 4]),
        Brand(name: "asos", tier: 0, styles: [2, 1]), Brand(name: "topshop", tier: 0, styles: [2, 4]),
        Brand(name: "urban-outfitters", tier: 1, styles: [2, 0]), Brand(name: "free-people", tier: 2, styles: [4]),
        Brand(name: "reformation", tier: 2, styles: [4, 3]), Brand(name: "ganni", tier: 2, styles: [4, 2]),
        Brand(name: "acne-studios", tier: 3, styles: [3, 6]), Brand(name: "stussy", tier: 2, styles: [1]),
        Brand(name: "supreme", tier: 3, styles: [1, 6]), Brand(name: "palace", tier: 2, styles: [1]),
        Brand(name: "the-north-face", tier: 2, styles: [5, 7]), Brand(name: "patagonia", tier: 2, styles: [5, 7]),
        Brand(name: "dr-martens", tier: 2, styles: [0, 1]), Brand(name: "converse", tier: 1, styles: [1, 0]),
        Brand(name: "vans", tier: 1, styles: [1, 5]), Brand(name: "new-balance", tier: 1, styles: [5, 3]),
        Brand(name: "burberry", tier: 3, styles: [6, 0]), Brand(name: "gucci", tier: 3, styles: [6]),
        Brand(name: "prada", tier: 3, styles: [6, 3]), Brand(name: "miu-miu", tier: 3, styles: [6, 2]),
        Brand(name: "diesel", tier: 2, styles: [2, 1]), Brand(name: "guess", tier: 1, styles: [2]),
        Brand(name: "juicy-couture", tier: 1, styles: [2]), Brand(name: "ed-hardy", tier: 1, styles: [2]),
        Brand(name: "dickies", tier: 1, styles: [7, 1]), Brand(name: "wrangler", tier: 1, styles: [0, 7]),
        Brand(name: "lee", tier: 1, styles: [0, 7]), Brand(name: "barbour", tier: 2, styles: [0, 7]),
        Brand(name: "fila", tier: 0, styles: [5, 2]), Brand(name: "champion", tier: 0, styles: [5, 0]),
        Brand(name: "monki", tier: 0, styles: [2, 3]), Brand(name: "anthropologie", tier: 2, styles: [4]),
        Brand(name: "lululemon", tier: 2, styles: [5]), Brand(name: "vivienne-westwood", tier: 3, styles: [6, 0]),
        Brand(name: "other", tier: 0, styles: [0, 4]), Brand(name: "handmade", tier: 0, styles: [4, 0]),
    ]

    public static let colours = ["black", "white", "grey", "navy", "blue", "red", "pink", "green", "beige", "brown",
                                 "cream", "purple"]

    public static let conditions = ["new_with_tags", "like_new", "good", "fair"]
    static let conditionShares = [0.15, 0.35, 0.40, 0.10]
    static let conditionPriceFactors = [1.0, 0.8, 0.6, 0.4]
    static let tierBasePrice = [12.0, 25.0, 60.0, 250.0]

    /// Price band of a price: 0 under 15, 1 under 40, 2 under 120, 3 from 120.
    public static func priceBand(_ price: Double) -> Int { priceBandBoundaries.filter { price >= $0 }.count }

    /// The lower bounds of price bands 1, 2 and 3 (band 0 is below 15).
    public static let priceBandBoundaries: [Double] = [15, 40, 120]

    /// Event kinds in funnel order.
    public static let eventKinds = ["view", "like", "save", "add_to_bag", "purchase"]
}
