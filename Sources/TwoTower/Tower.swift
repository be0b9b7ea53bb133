import LinearAlgebra
import RummageCore
import Training

/// One tower of the two-tower model: an embedding bag per input field (field 0 is the entity's own
/// id), concatenated, then `hidden` dense + ReLU layers and a projection to the output width, then L2
/// normalisation. With a single field and no hidden layers the id embedding is used directly.
///
/// The id table has one extra last row, the "unknown" id: used for entities never seen in training
/// (cold start) and, during training, in place of a dropped id, so the tower learns to embed from
/// content alone.
final class Tower: @unchecked Sendable {
    // @unchecked because: owned by one training loop; after training only `apply` (no caches) is used.
    let tables: [EmbeddingTable]
    let bagLayers: [EmbeddingBagLayer]
    let hidden: [DenseLayer]
    let activations: [ReLULayer]
    let projection: DenseLayer?
    let normalize = L2NormalizeLayer()

    var fieldCount: Int { tables.count }
    var embeddingWidth: Int { tables[0].dimension }

    init(tables: [EmbeddingTable], hidden: [DenseLayer], projection: DenseLayer?) {
        precondition(!tables.isEmpty)
        self.tables = tables
        bagLayers = tables.map { EmbeddingBagLayer(table: $0) }
        self.hidden = hidden
        activations = hidden.map { _ in ReLULayer() }
        self.projection = projection
    }

    /// A fresh tower: `vocabularySizes[0]` is the id count (an unknown row is added).
    convenience init(vocabularySizes: [Int], dimension: Int, hiddenLayers: [Int], rng: inout SeededGenerator) {
        // Field 0 (the id) gets the extra unknown row; every other field has exactly its vocabulary.
        let tables = vocabularySizes.enumerated().map { field, size in
            EmbeddingTable(rows: field == 0 ? size + 1 : max(1, size), dimension: dimension, scale: 0.1, rng: &rng)
        }
        var hidden: [DenseLayer] = []
        var width = dimension * tables.count
        for h in hiddenLayers {
            hidden.append(DenseLayer(inputs: width, outputs: h, rng: &rng))
            width = h
        }
        let projection = (tables.count > 1 || !hiddenLayers.isEmpty) ? DenseLayer(inputs: width, outputs: dimension, rng: &rng) : nil
        self.init(tables: tables, hidden: hidden, projection: projection)
    }

    var denseParameters: [DenseParameter] { hidden.flatMap(\.parameters) + (projection?.parameters ?? []) }

    /// Training forward pass (keeps what backward needs).
    func forward(_ inputs: [Bags]) -> Matrix {
        var x = concatenate(zip(bagLayers, inputs).map { $0.forward($1) })
        for (layer, activation) in zip(hidden, activations) { x = activation.forward(layer.forward(x)) }
        if let projection { x = projection.forward(x) }
        return normalize.forward(x)
    }

    func backward(_ gradient: Matrix) {
        var g = normalize.backward(gradient)
        if let projection { g = projection.backward(g) }
        for (layer, activation) in zip(hidden, activations).reversed() { g = layer.backward(activation.backward(g)) }
        for (field, layer) in bagLayers.enumerated() { layer.backward(slice(g, field: field)) }
    }

    /// Inference: no caches, safe to call from several threads at once.
    func apply(_ inputs: [Bags]) -> Matrix { stages(inputs).last!.value }

    /// Inference with each stage's output, in order: `pooled` (every field's mean bag, concatenated),
    /// `hidden.K` (after its ReLU), `projection` (before normalisation) and `output`. What a hand-off's
    /// golden tensors are compared with, stage by stage.
    func stages(_ inputs: [Bags]) -> [(name: String, value: Matrix)] {
        var x = concatenate(zip(bagLayers, inputs).map { $0.apply($1) })
        var stages = [(name: "pooled", value: x)]
        for (k, layer) in hidden.enumerated() {
            x = ReLULayer.apply(layer.apply(x))
            stages.append(("hidden.\(k)", x))
        }
        if let projection {
            x = projection.apply(x)
            stages.append(("projection", x))
        }
        stages.append(("output", L2NormalizeLayer.apply(x)))
        return stages
    }

    func zeroGradients() {
        for p in denseParameters { p.zeroGradient() }
        for t in tables { t.clearGradients() }
    }

    private func concatenate(_ parts: [Matrix]) -> Matrix {
        if parts.count == 1 { return parts[0] }
        let rows = parts[0].rows, d = embeddingWidth, width = d * parts.count
        var out = Matrix(rows: rows, columns: width)
        for (field, part) in parts.enumerated() {
            for r in 0..<rows {
                out.storage.replaceSubrange(r * width + field * d..<r * width + (field + 1) * d, with: part.row(r))
            }
        }
        return out
    }

    private func slice(_ g: Matrix, field: Int) -> Matrix {
        if fieldCount == 1 { return g }
        let d = embeddingWidth, width = g.columns
        var out = Matrix(rows: g.rows, columns: d)
        for r in 0..<g.rows {
            out.storage.replaceSubrange(r * d..<(r + 1) * d, with: g.storage[r * width + field * d..<r * width + (field + 1) * d])
        }
        return out
    }
}

/// Turns entity indices into the per-field bags a tower reads: the id, each content field, and (for
/// users, when enabled) the history, the mean of the embeddings of the items the user interacted with.
struct TowerInput: Sendable {
    /// Number of entities with an id row (the unknown row is `idCount`).
    let idCount: Int
    let features: CategoricalFeatures
    /// Rows entities, columns items: each entity's history. Nil when the tower has no history field.
    let history: SparseRows?
    /// Time-varying fields, after the history field.
    let dynamic: [DynamicFeatures.Field]

    init(idCount: Int, features: CategoricalFeatures, history: SparseRows? = nil, dynamic: [DynamicFeatures.Field] = []) {
        self.idCount = idCount
        self.features = features
        self.history = history
        self.dynamic = dynamic
    }

    /// Fields in table order: id, content features, history (if any), dynamic fields.
    var vocabularySizes: [Int] {
        [idCount] + features.fields.map { $0.vocabulary.count } + (history.map { [$0.columnCount] } ?? [])
            + dynamic.map(\.vocabularySize)
    }

    /// Position of the history field among the bags.
    var historyField: Int { 1 + features.fields.count }

    /// Training history bags: each entity's history without its example's `positive` item, at most
    /// `limit` items sampled without replacement.
    func sampledHistory(for entities: [Int32], positives: [Int32], limit: Int, rng: inout SeededGenerator) -> Bags {
        guard let history else { preconditionFailure("tower has no history field") }
        var offsets = [0], ids: [Int32] = []
        ids.reserveCapacity(entities.count * min(limit, 64))
        var scratch: [Int32] = []
        for (k, e) in entities.enumerated() {
            scratch.removeAll(keepingCapacity: true)
            for item in history.columns(of: Int(e)) where item != positives[k] { scratch.append(item) }
            let take = min(limit, scratch.count)
            for t in 0..<take {
                scratch.swapAt(t, t + rng.nextInt(below: scratch.count - t))
                ids.append(scratch[t])
            }
            offsets.append(ids.count)
        }
        return Bags(offsets: offsets, ids: ids)
    }

    /// Bags for `entities`; `useID(k)` false puts the unknown id in slot `k` instead of the entity's.
    /// Dynamic fields come from the training rows of `examples` (training interactions, one per entity)
    /// when given, else from the serving rows.
    func bags(for entities: [Int32], examples: [Int]? = nil, useID: (Int) -> Bool) -> [Bags] {
        var result = [Bags(single: entities.enumerated().map { useID($0.offset) ? $0.element : Int32(idCount) })]
        for field in features.fields {
            var offsets = [0], ids: [Int32] = []
            offsets.reserveCapacity(entities.count + 1)
            for e in entities {
                ids.append(contentsOf: field.values.columns(of: Int(e)))
                offsets.append(ids.count)
            }
            result.append(Bags(offsets: offsets, ids: ids))
        }
        if let history {
            var offsets = [0], ids: [Int32] = []
            for e in entities {
                if Int(e) < history.rowCount { ids.append(contentsOf: history.columns(of: Int(e))) }
                offsets.append(ids.count)
            }
            result.append(Bags(offsets: offsets, ids: ids))
        }
        for field in dynamic {
            var offsets = [0], ids: [Int32] = []
            offsets.reserveCapacity(entities.count + 1)
            for (k, e) in entities.enumerated() {
                if let examples {
                    ids.append(contentsOf: field.training.columns(of: examples[k]))
                } else if Int(e) < field.serving.rowCount {
                    ids.append(contentsOf: field.serving.columns(of: Int(e)))
                }
                offsets.append(ids.count)
            }
            result.append(Bags(offsets: offsets, ids: ids))
        }
        return result
    }
}
