#!/usr/bin/env bash
# The ML scientists' path end to end: train in PyTorch → import → evaluate → serve → compare.
#
#   PYTHON=~/.cache/rummage-torch-venv/bin/python examples/pytorch/run_path.sh
#
# PYTHON must have torch, numpy, safetensors and this checkout's package (pip install ./python). Not run in CI
# (torch is several GB). Part 1 needs the NCF ML-1M files (../shared/datasets/ncf-ml-1m, or $NCF) and is
# skipped with a reason without them; part 2 runs on the generated marketplace.
#
# 1. ML-1M, id-only two-tower: PyTorch's own HR@10 / NDCG@10 against Rummage's evaluation of the imported
#    hand-off (the NCF 1 + 99 protocol), and the embeddings' agreement (the import's parity check).
# 2. Marketplace, id + content two-tower: imported through a pipeline (gate, register, promote), served, and
#    the served version's embeddings compared with PyTorch's.
# 3. The served version exported (rummage export-model) and loaded into torch modules, which reproduce its
#    golden outputs: a scientist can start from the production model.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUMMAGE=${RUMMAGE:-.build/release/rummage}
PYTHON=${PYTHON:-python3}
NCF=${NCF:-../shared/datasets/ncf-ml-1m}
EPOCHS=${EPOCHS:-10}
SEED=${SEED:-1}
work=$(mktemp -d /tmp/rummage-pytorch-XXXXXX)
trap 'kill "${server:-}" 2>/dev/null || true' EXIT
[ -x "$RUMMAGE" ] || swift build -c release --product rummage
echo "# work directory: $work"

if [ -e "$NCF/ml-1m.test.negative.xz" ] || [ -e "$NCF/ml-1m.test.negative" ]; then
  echo "# 1. ML-1M (NCF split), id-only two-tower, $EPOCHS epochs, seed $SEED"
  "$RUMMAGE" export --dataset "ncf-ml1m:$NCF" --out "$work/ml1m"
  "$PYTHON" examples/pytorch/train_two_tower.py --data "$work/ml1m" --out "$work/ml1m-handoff" --ncf "$NCF" \
    --epochs "$EPOCHS" --seed "$SEED" --dimension 64 --temperature 0.1 --batch-size 1024 --learning-rate 0.01 | tee "$work/pytorch.log"
  "$RUMMAGE" evaluate --dataset "ncf-ml1m:$NCF" --kind handoff --set "path=$work/ml1m-handoff" --json 2> "$work/import.log" \
    | tail -1 > "$work/rummage.json"
  grep '^handoff:' "$work/import.log"
  "$PYTHON" - "$work/pytorch.log" "$work/rummage.json" <<'EOF'
import json, sys
torch = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
rummage = json.loads(open(sys.argv[2]).read())
for metric in ("hr@10", "ndcg@10"):
    difference = rummage[metric] - torch[metric]
    print(f"{metric}: pytorch {torch[metric]:.4f}  rummage (imported) {rummage[metric]:.4f}  difference {difference:+.4f}")
    assert abs(difference) <= 0.002, f"{metric} differs by more than 0.002"
EOF
else
  echo "# 1. skipped: no NCF ML-1M files in $NCF (set NCF=DIR)"
fi

echo "# 2. Marketplace: id + content two-tower trained in PyTorch, imported, served"
"$RUMMAGE" generate --out "$work/market" --users 3000 --items 6000 --events 120000 --seed 7 --jsonl --quiet
"$RUMMAGE" ingest --from "$work/market/events.jsonl" --log "$work/events.sqlite" --quiet
"$RUMMAGE" export --dataset "synthetic:$work/market" --out "$work/market-set"
"$PYTHON" examples/pytorch/train_two_tower.py --data "$work/market-set" --out "$work/market-handoff" --content category,brand,size \
  --hidden 64 --epochs 5 --seed "$SEED"
cat > "$work/pipeline.json" <<EOF
{"model": "from-pytorch", "registry": "$work/registry", "data": {"dataset": "synthetic:$work/market"},
 "train": {"kind": "two-tower"}, "gate": {"absolute": {"recall@20": 0.0}, "relative": {}}}
EOF
"$RUMMAGE" import --handoff "$work/market-handoff" --pipeline "$work/pipeline.json"
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$RUMMAGE" serve --registry "$work/registry" --model from-pytorch --log "$work/events.sqlite" --port "$port" --poll 0 2> "$work/serve.log" &
server=$!
"$RUMMAGE" export-model --registry "$work/registry" --model from-pytorch --out "$work/served" --quiet
"$PYTHON" - "$port" "$work/market-handoff" "$work/served" <<'EOF'
import sys, time
import numpy as np
from rummage import RummageClient
from rummage.artifacts import HandOff
port, shipped, served = sys.argv[1], HandOff.load(sys.argv[2]), HandOff.load(sys.argv[3])
client = RummageClient(f"http://127.0.0.1:{port}")
for _ in range(600):
    try:
        client.ready()
        break
    except Exception:
        time.sleep(0.1)
rows = {i: r for r, i in enumerate(served.item_ids)}
difference = max(float(np.max(np.abs(served.items[rows[i]] - shipped.items[r]))) for r, i in enumerate(shipped.item_ids) if i in rows)
print(f"served version's item embeddings vs PyTorch's: max abs difference {difference:.2e}")
answer = client.recommendations(shipped.user_ids[0], k=5)
print(f"served to {answer.user} by v{answer.model_version}: " + ", ".join(f"{i.item} ({i.score:.3f})" for i in answer.items))
EOF

echo "# 3. Start from the production model: the served version exported, loaded into torch, golden outputs checked"
"$PYTHON" - "$work/served" <<'EOF'
import sys
import numpy as np
import torch
from rummage.artifacts import HandOff
production = HandOff.load(sys.argv[1])
worst = 0.0
for side, tower in zip(("user", "item"), production.to_torch()):
    fields = production.tower(side).fields
    inputs = [(production.golden[f"{side}.input.{f.name}.offsets"], production.golden[f"{side}.input.{f.name}.ids"]) for f in fields]
    with torch.no_grad():
        for stage, value in tower.stages(inputs).items():
            worst = max(worst, float(np.max(np.abs(value.numpy() - production.golden[f"{side}.{stage}"]))))
print(f"torch modules loaded from the production model reproduce its golden outputs within {worst:.1e} (max abs)")
assert worst <= production.tolerance
EOF
