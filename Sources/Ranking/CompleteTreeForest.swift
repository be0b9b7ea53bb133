import CTreeKernels
import Foundation

/// An XGBoost model's trees laid out as complete binary trees of the forest's depth (a leaf above that
/// depth is copied to every slot below it), scored by `rummage_trees_predict`: a fixed number of steps
/// per row and tree, no branch on the data and no test for missing values, sixteen rows at a time in AVX-512
/// registers or eight in scalar code. It adds the leaves in XGBoost's order
/// and single precision, so its scores equal XGBoost's (`GradientBoostedTreesTests` checks them against
/// `predictThroughMatrix`).
///
/// Built only for what it reproduces exactly: a `gbtree` booster with numerical splits, one output per
/// row, an identity or logistic output, and at most `maximumDepth` levels; `init` returns nil otherwise
/// and the caller keeps XGBoost's own prediction.
struct CompleteTreeForest: Sendable {
    /// Deeper forests would copy too many leaves (2^depth per tree).
    static let maximumDepth = 10

    let depth: Int
    let trees: Int
    /// Each split's threshold and column (the feature, plus `featureCount` when missing values go right).
    let splits: [rummage_tree_split]
    let leaves: [Float]
    /// XGBoost's base margin (the base score, or its logit for a logistic output).
    let base: Float
    /// Whether scores go through the logistic function (`binary:logistic`).
    let logistic: Bool
    /// The feature count the model was trained with: rows must have at least this many columns.
    let featureCount: Int

    /// The forest of a model in XGBoost's JSON, or nil when it is not one this layout reproduces.
    init?(modelJSON: [UInt8]) {
        guard let root = try? JSONSerialization.jsonObject(with: Data(modelJSON)) as? [String: Any],
              let learner = root["learner"] as? [String: Any],
              let parameters = learner["learner_model_param"] as? [String: Any],
              let objective = (learner["objective"] as? [String: Any])?["name"] as? String,
              let booster = learner["gradient_booster"] as? [String: Any], booster["name"] as? String == "gbtree",
              let model = booster["model"] as? [String: Any], let trees = model["trees"] as? [[String: Any]],
              let baseScore = (parameters["base_score"] as? String).flatMap(Float.init),
              let featureCount = (parameters["num_feature"] as? String).flatMap(Int.init),
              Int(parameters["num_class"] as? String ?? "0") ?? 1 <= 1,
              Int(parameters["num_target"] as? String ?? "1") == 1
        else { return nil }
        switch objective {
        case "binary:logistic":
            logistic = true
            base = -log(1 / baseScore - 1)
        case "rank:ndcg", "rank:pairwise", "rank:map", "reg:squarederror":
            logistic = false
            base = baseScore
        default:
            return nil
        }
        var parsed: [Tree] = []
        for tree in trees {
            guard let t = Tree(tree) else { return nil }
            parsed.append(t)
        }
        let depth = parsed.map { $0.depth(0) }.max() ?? 0
        guard depth <= Self.maximumDepth else { return nil }
        let splits = (1 << depth) - 1, width = 1 << depth
        var nodes = [rummage_tree_split](repeating: .init(threshold: 0, column: 0), count: parsed.count * splits)
        var leaves = [Float](repeating: 0, count: parsed.count * width)
        for (t, tree) in parsed.enumerated() {
            guard tree.features.allSatisfy({ $0 < featureCount }) else { return nil }
            /// Places XGBoost's node `node` at heap slot `slot` of level `level`.
            func place(_ node: Int, slot: Int, level: Int) {
                if level == depth {
                    leaves[t * width + slot - splits] = tree.values[node]
                } else if tree.left[node] < 0 {
                    // A leaf above the last level: both children carry it, whichever way a row goes.
                    place(node, slot: 2 * slot + 1, level: level + 1)
                    place(node, slot: 2 * slot + 2, level: level + 1)
                } else {
                    nodes[t * splits + slot] = .init(threshold: tree.values[node],
                                                     column: Int32(tree.features[node] + (tree.defaultLeft[node] ? 0 : featureCount)))
                    place(tree.left[node], slot: 2 * slot + 1, level: level + 1)
                    place(tree.right[node], slot: 2 * slot + 2, level: level + 1)
                }
            }
            place(0, slot: 0, level: 0)
        }
        (self.depth, self.trees, self.splits, self.leaves) = (depth, parsed.count, nodes, leaves)
        self.featureCount = featureCount
    }

    /// One score per row of `values` (row-major, `columns` per row, `columns ≥ featureCount`); nil when
    /// memory for the widened rows cannot be had.
    func predict(_ values: [Float], columns: Int) -> [Float]? {
        precondition(columns >= featureCount && values.count % columns == 0)
        let rows = values.count / columns
        var out = [Float](repeating: 0, count: rows)
        let status = values.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                rummage_trees_predict(x.baseAddress, rows, columns, featureCount, splits, leaves, trees, UInt32(depth), base, out.baseAddress)
            }
        }
        guard status == 0 else { return nil }
        if logistic { for i in out.indices { out[i] = 1 / (1 + exp(-out[i])) } }
        return out
    }

    /// One tree of XGBoost's JSON: node `i` splits on `features[i]` at `values[i]` (or, when `left[i]`
    /// is −1, is a leaf of value `values[i]`).
    private struct Tree {
        var left: [Int], right: [Int], features: [Int], values: [Float], defaultLeft: [Bool]

        init?(_ json: [String: Any]) {
            func integers(_ key: String) -> [Int]? { (json[key] as? [NSNumber])?.map(\.intValue) }
            guard let left = integers("left_children"), let right = integers("right_children"),
                  let features = integers("split_indices"), let defaultLeft = integers("default_left"),
                  let values = (json["split_conditions"] as? [NSNumber])?.map(\.floatValue),
                  [right.count, features.count, defaultLeft.count, values.count].allSatisfy({ $0 == left.count }), !left.isEmpty,
                  (integers("split_type") ?? []).allSatisfy({ $0 == 0 }),
                  left.indices.allSatisfy({ i in
                      // Children come after their parent (so the walk ends); a leaf has neither.
                      left[i] == -1 ? right[i] == -1 : (left[i] > i && right[i] > i && max(left[i], right[i]) < left.count && features[i] >= 0)
                  })
            else { return nil }
            (self.left, self.right, self.features, self.values) = (left, right, features, values)
            self.defaultLeft = defaultLeft.map { $0 != 0 }
        }

        func depth(_ node: Int) -> Int { left[node] < 0 ? 0 : 1 + max(depth(left[node]), depth(right[node])) }
    }
}
