"""Peer for `Benchmarks/two_tower.sh`: Rummage's id-only two-tower architecture in PyTorch on CPU.

Same model and training as `rummage evaluate --kind two-tower --set content=false`: user and item id
embeddings (N(0, 0.1²) init) L2-normalised; logits u·v / τ − log q with q the expected number of times an
item appears among a batch's candidates (frequency × batch size); other in-batch copies of a row's
positive masked; cross-entropy; Adam with linear decay to 10 % of the base rate; shuffled each epoch.
Evaluated with the NCF protocol. Prints one JSON line with seconds per epoch and HR@10 / NDCG@10.
Not part of Rummage's runtime.
"""
import argparse
import json
import math
import time

import numpy as np

from ncf import evaluate, load


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    matrix, tests, negatives = load(args.data)
    coo = matrix.tocoo()
    users = torch.from_numpy(coo.row.astype(np.int64))
    items = torch.from_numpy(coo.col.astype(np.int64))
    n, item_count = len(users), matrix.shape[1]
    counts = np.bincount(coo.col, minlength=item_count).astype(np.float64)
    log_q = torch.from_numpy(np.log(np.maximum(args.batch_size * counts / n, 1e-12)).astype(np.float32))

    user_table = torch.nn.Embedding(matrix.shape[0], args.dimension)
    item_table = torch.nn.Embedding(item_count, args.dimension)
    for table in (user_table, item_table):
        torch.nn.init.normal_(table.weight, std=0.1)
    parameters = list(user_table.parameters()) + list(item_table.parameters())
    optimizer = torch.optim.Adam(parameters, lr=args.learning_rate)
    batches = math.ceil(n / args.batch_size)
    total = batches * args.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - 0.9 * min(1.0, step / max(1, total - 1)))

    epoch_seconds = []
    for epoch in range(args.epochs):
        order = torch.from_numpy(rng.permutation(n))
        start = time.perf_counter()
        for b in range(batches):
            index = order[b * args.batch_size:(b + 1) * args.batch_size]
            u, i = users[index], items[index]
            queries = torch.nn.functional.normalize(user_table(u), dim=1)
            candidates = torch.nn.functional.normalize(item_table(i), dim=1)
            logits = queries @ candidates.T / args.temperature - log_q[i][None, :]
            same = (i[:, None] == i[None, :]) & ~torch.eye(len(i), dtype=torch.bool)
            logits = logits.masked_fill(same, -1e30)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(i)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        epoch_seconds.append(time.perf_counter() - start)

    with torch.no_grad():
        user_vectors = torch.nn.functional.normalize(user_table.weight, dim=1).numpy()
        item_vectors = torch.nn.functional.normalize(item_table.weight, dim=1).numpy()
    hr, ndcg = evaluate(user_vectors, item_vectors, tests, negatives)
    print(json.dumps({"model": "torch-two-tower", "version": torch.__version__, "threads": args.threads,
                      "epochs": args.epochs, "seconds_per_epoch": sum(epoch_seconds) / len(epoch_seconds),
                      "epoch_seconds": epoch_seconds, "hr@10": hr, "ndcg@10": ndcg}))


if __name__ == "__main__":
    main()
