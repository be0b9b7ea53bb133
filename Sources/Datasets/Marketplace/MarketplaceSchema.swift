import Catalogue

extension CatalogueSchema {
    /// The catalogue of the generated secondhand-fashion marketplace (`rummage generate`), the embedded
    /// default; the same as examples/schemas/secondhand-fashion.json. Its price bands are
    /// `MarketplaceVocabulary.priceBand`'s.
    public static let secondhandFashion = CatalogueSchema(
        name: "secondhand-fashion",
        listing: ["category", "brand", "size", "condition", "colour", "style"].map { Field(name: $0, type: .categorical, required: true) }
            + [Field(name: "price_band", type: .numeric, buckets: MarketplaceVocabulary.priceBandBoundaries, from: "price", required: true),
               Field(name: "title", type: .text)],
        user: ["top_size", "waist_size", "shoe_size", "is_seller"].map { Field(name: $0, type: .categorical) },
        slices: ["category", "price_band"])
}
