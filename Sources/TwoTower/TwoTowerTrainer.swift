import Foundation
import LinearAlgebra
import RummageCore
import Training

/// Trains a `TwoTowerModel` with in-batch sampled softmax and logQ correction.
///
/// Examples are the observed (user, item) pairs, shuffled each epoch. A validation set is carved from
/// the training data (one held-out interaction for `validationUsers` users, ranked against 100 random
/// unseen items); training stops early when its AUC (the fraction of negatives ranked below the
/// held-out item, smoother than HR@10 on a small set) has not improved for `patience` epochs, and the
/// best epoch's weights are kept. The test split is never looked at.
public enum TwoTowerTrainer {
    /// `dynamic` adds time-varying fields (point-in-time per training interaction, see `DynamicFeatures`).
    public static func fit(_ data: InteractionMatrix, userFeatures: CategoricalFeatures, itemFeatures: CategoricalFeatures,
                           dynamic: DynamicFeatures? = nil, configuration c: TwoTowerConfiguration = .init(),
                           context: TrainingContext = .init()) -> TwoTowerModel {
        precondition(dynamic.map { d in (d.user + d.item).allSatisfy { $0.training.rowCount == data.interactionCount } } ?? true)
        precondition(c.dimension > 0 && c.batchSize > 1 && c.epochs >= 0 && c.temperature > 0)
        // Parallelism comes from the row blocks of the loss; OpenBLAS is single-threaded (see `BLAS`).
        var rng = SeededGenerator(seed: context.seed)
        let validation = Validation(data: data, users: c.validationUsers, rng: &rng)
        // Training pairs, with the `byUser` entry each came from (the row of its point-in-time features).
        var pairUsers: [Int32] = [], pairItems: [Int32] = [], pairEntries: [Int] = []
        pairUsers.reserveCapacity(data.interactionCount); pairItems.reserveCapacity(data.interactionCount)
        for u in 0..<data.userCount {
            for e in data.byUser.range(of: u) where !validation.heldOutEntries.contains(e) {
                pairUsers.append(Int32(u)); pairItems.append(data.byUser.columns[e]); pairEntries.append(e)
            }
        }
        // Training history excludes the validation items; the final model's history is all of `data`.
        let trainingHistory = c.historyLength > 0
            ? SparseRows(rowCount: data.userCount, columnCount: data.itemCount, rows: pairUsers, columns: pairItems,
                         duplicates: .keepFirst) : nil
        let userInput = TowerInput(idCount: data.userCount,
                                   features: c.useContent ? userFeatures : .none(entityCount: data.userCount),
                                   history: trainingHistory, dynamic: dynamic?.user ?? [])
        let itemInput = TowerInput(idCount: data.itemCount,
                                   features: c.useContent ? itemFeatures : .none(entityCount: data.itemCount),
                                   dynamic: dynamic?.item ?? [])
        let userTower = Tower(vocabularySizes: userInput.vocabularySizes, dimension: c.dimension,
                              hiddenLayers: c.hiddenLayers, rng: &rng)
        let itemTower = Tower(vocabularySizes: itemInput.vocabularySizes, dimension: c.dimension,
                              hiddenLayers: c.hiddenLayers, rng: &rng)
        let n = pairUsers.count
        var itemCounts = [Int](repeating: 0, count: data.itemCount)
        for i in pairItems { itemCounts[Int(i)] += 1 }
        // log of the expected number of times each item appears among a batch's candidates.
        let b = Float(c.batchSize), m = Float(c.extraNegatives), itemTotal = Float(data.itemCount)
        let logQ = itemCounts.map { c.logQWeight * log(max(b * Float($0) / Float(max(n, 1)) + m / itemTotal, 1e-12)) }

        let softmax = InBatchSoftmax(temperature: c.temperature, threads: context.threads)
        let contrastive = CosineContrastiveLoss(margin: c.margin, negativeWeight: c.negativeWeight)
        var optimizer = Optimizer(kind: c.optimizer, lazyTables: c.lazyTables, threads: context.threads)
        let schedule = LearningRateSchedule(base: c.learningRate, decay: c.schedule, warmupSteps: c.warmupSteps)
        let batchesPerEpoch = (n + c.batchSize - 1) / c.batchSize
        let totalSteps = max(1, batchesPerEpoch * c.epochs)
        var order = Array(0..<n)
        var step = 0
        var best: (auc: Double, epoch: Int, snapshot: Snapshot)? = nil
        let clock = Stopwatch()

        epochs: for epoch in 1...max(1, c.epochs) where c.epochs > 0 && n > 0 {
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
            let epochClock = Stopwatch()
            var lastReport = 0.0, lossSum = 0.0, batches = 0
            for start in stride(from: 0, to: n, by: c.batchSize) {
                let slice = order[start..<min(start + c.batchSize, n)]
                let users = slice.map { pairUsers[$0] }
                var items = slice.map { pairItems[$0] }
                let entries = slice.map { pairEntries[$0] }
                for _ in 0..<c.extraNegatives { items.append(Int32(rng.nextInt(below: data.itemCount))) }
                let keep = (0..<items.count).map { _ in c.itemIDDropout == 0 || rng.nextFloat() >= c.itemIDDropout }
                var userBags = userInput.bags(for: users, examples: entries) { _ in true }
                if c.historyLength > 0 {
                    userBags[userInput.historyField] = userInput.sampledHistory(
                        for: users, positives: Array(items.prefix(users.count)), limit: c.historyLength, rng: &rng)
                }
                let queries = userTower.forward(userBags)
                // Positives carry their interaction's features; extra negatives their serving-time ones.
                let itemBags = itemInput.dynamic.isEmpty
                    ? itemInput.bags(for: items) { keep[$0] }
                    : Self.concatenate(itemInput.bags(for: Array(items.prefix(users.count)), examples: entries) { keep[$0] },
                                       itemInput.bags(for: Array(items.dropFirst(users.count))) { keep[users.count + $0] })
                let candidates = itemTower.forward(itemBags)
                let result = c.loss == .ccl
                    ? contrastive(queries: queries, candidates: candidates, keys: items,
                                  firstNegative: c.extraNegatives > 0 ? users.count : 0)
                    : softmax(queries: queries, candidates: candidates, logQ: items.map { logQ[Int($0)] }, keys: items)
                userTower.backward(result.queryGradient)
                itemTower.backward(result.candidateGradient)
                let parameters = userTower.denseParameters + itemTower.denseParameters
                let tables = userTower.tables + itemTower.tables
                if c.clipNorm > 0 { clipGradients(parameters: parameters, tables: tables, maxNorm: c.clipNorm) }
                optimizer.step(parameters: parameters, tables: tables, learningRate: schedule.rate(step: step, totalSteps: totalSteps))
                userTower.zeroGradients()
                itemTower.zeroGradients()
                step += 1
                batches += 1
                lossSum += Double(result.loss)
                let elapsed = epochClock.elapsedSeconds
                if elapsed - lastReport >= 2 {
                    lastReport = elapsed
                    context.progress(progressLine(epoch: epoch, of: c.epochs, done: start + slice.count, total: n,
                                                  seconds: elapsed, loss: lossSum / Double(batches)))
                }
            }
            var line = progressLine(epoch: epoch, of: c.epochs, done: n, total: n, seconds: epochClock.elapsedSeconds,
                                    loss: lossSum / Double(max(batches, 1)))
            var figures = ["loss": lossSum / Double(max(batches, 1))]
            defer { context.history.record(step: epoch, figures) }
            if validation.isEnabled {
                let (hr, auc) = validation.metrics(userTower: userTower, userInput: userInput, itemTower: itemTower,
                                                   itemInput: itemInput)
                figures["val_hr@10"] = hr
                figures["val_auc"] = auc
                line += " val_hr@10=\(String(format: "%.4f", hr)) val_auc=\(String(format: "%.4f", auc))"
                if best == nil || auc > best!.auc {
                    best = (auc, epoch, Snapshot(userTower, itemTower))
                } else if epoch - best!.epoch >= c.patience {
                    context.progress(line + " (stopping: no improvement for \(c.patience) epochs; keeping epoch \(best!.epoch))")
                    break epochs
                }
            }
            context.progress(line + " elapsed=\(String(format: "%.1f", clock.elapsedSeconds))s")
        }
        best?.snapshot.restore(userTower, itemTower)
        var knownUsers = [Bool](repeating: false, count: data.userCount)
        var knownItems = [Bool](repeating: false, count: data.itemCount)
        for u in pairUsers { knownUsers[Int(u)] = true }
        for i in pairItems { knownItems[Int(i)] = true }
        let finalUserInput = TowerInput(idCount: userInput.idCount, features: userInput.features,
                                        history: c.historyLength > 0 ? data.byUser : nil, dynamic: userInput.dynamic)
        return TwoTowerModel(configuration: c, userTower: userTower, itemTower: itemTower, userInput: finalUserInput,
                             itemInput: itemInput, knownUsers: knownUsers, knownItems: knownItems, threads: context.threads)
    }

    /// The bags of `a`'s entities followed by `b`'s, field by field.
    static func concatenate(_ a: [Bags], _ b: [Bags]) -> [Bags] {
        zip(a, b).map { x, y in
            Bags(offsets: x.offsets + y.offsets.dropFirst().map { $0 + x.ids.count }, ids: x.ids + y.ids)
        }
    }

    static func progressLine(epoch: Int, of epochs: Int, done: Int, total: Int, seconds: Double, loss: Double) -> String {
        let fraction = Double(done) / Double(max(total, 1))
        let filled = Int(fraction * 20)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: 20 - filled)
        let rate = Double(done) / max(seconds, 1e-9)
        let eta = Double(total - done) / max(rate, 1e-9)
        return "two-tower: epoch \(epoch)/\(epochs) [\(bar)] \(Int(fraction * 100))% "
            + "\(Int(rate)) examples/s loss=\(String(format: "%.4f", loss)) eta=\(String(format: "%.0f", eta))s"
    }
}

/// A copy of every trainable value, to keep the best epoch.
private struct Snapshot {
    var tables: [[Float]]
    var dense: [[Float]]

    init(_ towers: Tower...) {
        tables = towers.flatMap { $0.tables.map(\.weights) }
        dense = towers.flatMap { $0.denseParameters.map(\.value) }
    }

    func restore(_ towers: Tower...) {
        for (table, weights) in zip(towers.flatMap(\.tables), tables) { table.weights = weights }
        for (parameter, value) in zip(towers.flatMap(\.denseParameters), dense) { parameter.value = value }
    }
}

/// Held-out training interactions for early stopping: one per sampled user, against 100 unseen items.
private struct Validation {
    var heldOutEntries = Set<Int>()
    /// The held-out `byUser` entry of each validation user.
    var heldOut: [Int] = []
    var users: [Int32] = []
    var positives: [Int32] = []
    var negatives: [[Int32]] = []
    var isEnabled: Bool { !users.isEmpty }

    init(data: InteractionMatrix, users count: Int, rng: inout SeededGenerator) {
        guard count > 0, data.itemCount > 101 else { return }
        var eligible = (0..<data.userCount).filter { data.byUser.count(of: $0) >= 3 }
        for i in stride(from: eligible.count - 1, to: 0, by: -1) { eligible.swapAt(i, rng.nextInt(below: i + 1)) }
        for u in eligible.prefix(count) {
            let range = data.byUser.range(of: u)
            let entry = range.lowerBound + rng.nextInt(below: range.count)
            heldOutEntries.insert(entry)
            heldOut.append(entry)
            users.append(Int32(u))
            positives.append(data.byUser.columns[entry])
            var sampled: [Int32] = []
            while sampled.count < 100 {
                let j = Int32(rng.nextInt(below: data.itemCount))
                if !data.byUser.contains(row: u, column: j) { sampled.append(j) }
            }
            negatives.append(sampled)
        }
    }

    /// HR@10 and AUC of the held-out item among its 100 negatives (ties count against it). Each
    /// distinct candidate item is embedded once.
    func metrics(userTower: Tower, userInput: TowerInput, itemTower: Tower, itemInput: TowerInput) -> (hr: Double, auc: Double) {
        // Users as of their held-out interaction (point-in-time rows); candidates as at serving time.
        let userVectors = userTower.apply(userInput.bags(for: users, examples: heldOut) { _ in true })
        var rowOfItem: [Int32: Int] = [:]
        var distinct: [Int32] = []
        for item in positives + negatives.joined() where rowOfItem[item] == nil {
            rowOfItem[item] = distinct.count
            distinct.append(item)
        }
        let itemVectors = itemTower.apply(itemInput.bags(for: distinct) { _ in true })
        let d = userVectors.columns
        func score(_ k: Int, _ item: Int32) -> Float {
            let u = k * d, v = rowOfItem[item]! * d
            var s: Float = 0
            for f in 0..<d { s += userVectors.storage[u + f] * itemVectors.storage[v + f] }
            return s
        }
        var hits = 0, auc = 0.0
        for k in users.indices {
            let positive = score(k, positives[k])
            let above = negatives[k].lazy.filter({ score(k, $0) >= positive }).count
            if above < 10 { hits += 1 }
            auc += 1 - Double(above) / Double(negatives[k].count)
        }
        return (Double(hits) / Double(users.count), auc / Double(users.count))
    }
}
