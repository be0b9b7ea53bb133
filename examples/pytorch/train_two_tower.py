"""Train Rummage's two-tower in PyTorch on a Rummage training set and write the hand-off `rummage import` takes.

    rummage export --dataset synthetic:DIR --out SET        # train.txt, user_ids.txt, item_ids.txt, features.json
    python examples/pytorch/train_two_tower.py --data SET --content category,brand --out HANDOFF
    rummage import --handoff HANDOFF --pipeline PIPELINE    # or: rummage evaluate --kind handoff --set path=HANDOFF

The towers are `rummage.torch_tower.Tower` modules: an id embedding (plus content fields with --content),
mean-pooled, optional hidden layers, a projection when there is more than one field, L2 normalisation. The
loss is Rummage's: in-batch softmax over cosine / temperature with the logQ correction (q = how often an item
appears among a batch's candidates), other copies of a row's positive masked; Adam with linear decay to 10 %.
The golden outputs in the hand-off are these torch modules' own outputs. With --ncf DIR (the NCF ML-1M files)
it also evaluates HR@10 / NDCG@10 with the NCF protocol (the test item against its 99 listed negatives) and
prints them as JSON, to compare with `rummage evaluate --dataset ncf-ml1m:DIR --kind handoff`.

Needs torch, numpy, safetensors and the rummage package (pip install ./python). Not run in CI (torch is
several GB): examples/pytorch/run_path.sh runs the whole path.
"""
import argparse
import json
import lzma
import math
import os
import time

import numpy as np
import torch

from rummage.artifacts import Field, HandOff, TowerSpec, read_ids
from rummage.torch_tower import Tower, torch_golden


def read_adjacency(path):
    """LightGCN lines 'user item item ...' → (users, items) arrays of the training pairs."""
    users, items = [], []
    with open(path) as f:
        for line in f:
            parts = [int(x) for x in line.split()]
            users += [parts[0]] * (len(parts) - 1)
            items += parts[1:]
    return np.array(users, dtype=np.int64), np.array(items, dtype=np.int64)


def content_bags(fields, entities):
    """Per field, the bags (offsets, ids) of `entities` read from features.json values."""
    bags = []
    for field in fields:
        offsets, ids = [0], []
        for e in entities:
            ids += field["values"][e]
            offsets.append(len(ids))
        bags.append((np.array(offsets, dtype=np.int64), np.array(ids, dtype=np.int64)))
    return bags


def ncf_evaluate(user_vectors, item_vectors, directory, k=10):
    """HR@k and NDCG@k: the test item against its 99 negatives, candidates deduplicated, ties in list order."""
    def lines(name):
        path = os.path.join(directory, name)
        path = path if os.path.exists(path) else path + ".xz"
        with (lzma.open if path.endswith(".xz") else open)(path, "rt") as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    tests = [(int(r[0]), int(r[1])) for r in lines("ml-1m.test.rating")]
    negatives = [[int(x) for x in r[1:]] for r in lines("ml-1m.test.negative")]
    hr = ndcg = 0.0
    for (u, positive), negs in zip(tests, negatives):
        candidates = list(dict.fromkeys(negs + [positive]))
        scores = item_vectors[candidates] @ user_vectors[u]
        position = candidates.index(positive)
        s = scores[position]
        rank = int(np.sum(scores > s) + np.sum(scores[:position] == s))
        if rank < k:
            hr += 1
            ndcg += math.log(2) / math.log(rank + 2)
    return hr / len(tests), ndcg / len(tests)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="output of 'rummage export'")
    parser.add_argument("--out", required=True, help="hand-off directory to write")
    parser.add_argument("--content", default="", help="comma-separated item fields of features.json to read besides the id")
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--hidden", default="", help="hidden widths, e.g. 128 (with --content)")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ncf", help="NCF ML-1M directory: evaluate HR@10 / NDCG@10 with its protocol")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    user_ids, item_ids = read_ids(os.path.join(args.data, "user_ids.txt")), read_ids(os.path.join(args.data, "item_ids.txt"))
    features = json.load(open(os.path.join(args.data, "features.json")))
    wanted = [name for name in args.content.split(",") if name]
    item_fields = [next(f for f in features["items"] if f["name"] == name) for name in wanted]
    hidden = [int(h) for h in args.hidden.split(",") if h]
    user_spec = TowerSpec([Field("id")], args.dimension)
    item_spec = TowerSpec([Field("id")] + [Field(f["name"], f["vocabulary"]) for f in item_fields], args.dimension, hidden,
                          projection=bool(item_fields) or bool(hidden))
    towers = {"user": Tower(user_spec, len(user_ids)), "item": Tower(item_spec, len(item_ids))}
    for tower in towers.values():
        for bag in tower.embeddings.values():
            torch.nn.init.normal_(bag.weight, std=0.1)

    users, items = read_adjacency(os.path.join(args.data, "train.txt"))
    n = len(users)
    counts = np.bincount(items, minlength=len(item_ids)).astype(np.float64)
    log_q = torch.from_numpy(np.log(np.maximum(args.batch_size * counts / n, 1e-12)).astype(np.float32))
    parameters = [p for tower in towers.values() for p in tower.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=args.learning_rate)
    batches = math.ceil(n / args.batch_size)
    total = batches * args.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - 0.9 * min(1.0, step / max(1, total - 1)))

    def single(ids):
        return (np.arange(len(ids) + 1, dtype=np.int64), np.asarray(ids, dtype=np.int64))

    started = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(n)
        for b in range(batches):
            index = order[b * args.batch_size:(b + 1) * args.batch_size]
            u, i = users[index], items[index]
            queries = towers["user"]([single(u)])
            candidates = towers["item"]([single(i)] + content_bags(item_fields, i))
            it = torch.from_numpy(i)
            logits = queries @ candidates.T / args.temperature - log_q[it][None, :]
            same = (it[:, None] == it[None, :]) & ~torch.eye(len(i), dtype=torch.bool)
            loss = torch.nn.functional.cross_entropy(logits.masked_fill(same, -1e30), torch.arange(len(i)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f}", flush=True)
    seconds = time.perf_counter() - started

    # The hand-off holds the id rows of the users and items with training pairs; the others are embedded
    # with the unknown id (the table's last row), from content, as Rummage will embed them.
    trained_users, trained_items = np.unique(users), np.unique(items)
    handoff = HandOff(kind="two-tower", user_ids=user_ids, item_ids=item_ids, user_tower=user_spec, item_tower=item_spec,
                      temperature=args.temperature, producer=f"examples/pytorch/train_two_tower.py, torch {torch.__version__}, seed {args.seed}")
    handoff.weights = {**towers["user"].weights("user"), **towers["item"].weights("item")}
    # Keep only trained entities: their id rows (in order), then the unknown row.
    for side, kept, count in (("user", trained_users, len(user_ids)), ("item", trained_items, len(item_ids))):
        table = handoff.weights[f"{side}.embeddings.id"]
        handoff.weights[f"{side}.embeddings.id"] = np.concatenate([table[kept], table[count:count + 1]])
    handoff.user_ids = [user_ids[u] for u in trained_users]
    handoff.item_ids = [item_ids[i] for i in trained_items]
    kept_towers = {side: Tower.from_handoff(handoff, side) for side in ("user", "item")}
    with torch.no_grad():
        def rows(kept, count):  # every entity's row in the kept table: its own, or the unknown row
            position = np.full(count, len(kept), dtype=np.int64)
            position[kept] = np.arange(len(kept))
            return position
        user_vectors = kept_towers["user"]([single(rows(trained_users, len(user_ids)))]).numpy()
        all_items = np.arange(len(item_ids))
        item_vectors = kept_towers["item"]([single(rows(trained_items, len(item_ids)))] + content_bags(item_fields, all_items)).numpy()
    handoff.users, handoff.items = user_vectors[trained_users], item_vectors[trained_items]
    handoff.make_golden(run=torch_golden(kept_towers))
    handoff.save(args.out)
    result = {"out": args.out, "torch": torch.__version__, "epochs": args.epochs, "seconds": round(seconds, 2),
              "users": len(handoff.user_ids), "items": len(handoff.item_ids)}
    if args.ncf:
        result["hr@10"], result["ndcg@10"] = ncf_evaluate(user_vectors, item_vectors, args.ncf)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
