"""Summarises side-by-side benchmark runs: JSON results alternating ours, peer, ours, peer, … (one pair
per seed). Ours are `rummage evaluate --json` lines (`train_seconds` over `--epochs`); the peer's carry
`seconds_per_epoch`. Prints each seed, then means, the speed ratio peer/ours and the metric differences.
"""
import argparse
import json
import statistics


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--ours", default="rummage")
    parser.add_argument("--peer", default="peer")
    parser.add_argument("runs", nargs="+", help="JSON objects, alternating ours and peer")
    args = parser.parse_args()
    runs = [json.loads(r) for r in args.runs]
    ours, peer = runs[0::2], runs[1::2]
    assert len(ours) == len(peer), "runs must alternate ours and peer"
    for o in ours:
        o["seconds_per_epoch"] = o["train_seconds"] / args.epochs
    keys = ("seconds_per_epoch", "hr@10", "ndcg@10")

    def line(name, r):
        return "%-8s %.2f s/epoch  hr@10 %.4f  ndcg@10 %.4f" % (name, *(r[k] for k in keys))

    for seed, (o, p) in enumerate(zip(ours, peer), 1):
        print("  seed %d  %s | %s" % (seed, line(args.ours, o), line(args.peer, p)))
    mean = {name: {k: statistics.mean(r[k] for r in rows) for k in keys}
            for name, rows in ((args.ours, ours), (args.peer, peer))}
    spread = {name: {k: statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0 for k in keys}
              for name, rows in ((args.ours, ours), (args.peer, peer))}
    print("  mean of %d seeds (standard deviation across seeds in brackets):" % len(ours))
    for name in (args.ours, args.peer):
        m, sd = mean[name], spread[name]
        print("  %-8s %.2f s/epoch  hr@10 %.4f (%.4f)  ndcg@10 %.4f (%.4f)"
              % (name, m["seconds_per_epoch"], m["hr@10"], sd["hr@10"], m["ndcg@10"], sd["ndcg@10"]))
    o, p = mean[args.ours], mean[args.peer]
    print("  speed ratio %s/%s: %.2fx   hr@10 difference %+.4f   ndcg@10 difference %+.4f"
          % (args.peer, args.ours, p["seconds_per_epoch"] / o["seconds_per_epoch"],
             o["hr@10"] - p["hr@10"], o["ndcg@10"] - p["ndcg@10"]))


if __name__ == "__main__":
    main()
