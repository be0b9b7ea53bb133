#!/usr/bin/env bash
# Rummage's off-policy estimates against Open Bandit Pipeline's on the same data (issue [17/19]): the Open
# Bandit Dataset sample inside obp (10,000 rounds of ZOZOTOWN's random policy, 80 actions, 3 positions),
# evaluating obp's Bernoulli Thompson sampling policy with a logistic reward model fitted by obp. obp computes
# IPS, SNIPS and DR; `rummage ope estimate` reads the same rounds, policy and predictions and must agree to 1e-6.
#
# obp 0.5.7 (the last release) declares Python < 3.11 and pins old pandas and torch; it is installed into a
# virtualenv outside the repository without its pins (pandas 1.5, numpy 1.26), with torch taken from the
# torch benchmark's virtualenv when it exists. Nothing of it enters Rummage's runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/common.sh
venv=$HOME/.cache/rummage-obp-venv torch_venv=$HOME/.cache/rummage-torch-venv
if ! "$venv/bin/python" -c "import obp" 2>/dev/null; then
  echo "installing obp 0.5.7 into $venv" >&2
  python3 -m venv "$venv"
  if [ -d "$torch_venv" ]; then
    echo "$torch_venv/lib/python3.11/site-packages" > "$venv/lib/python3.11/site-packages/zz-torch-venv.pth"
  else
    "$venv/bin/pip" install -q torch
  fi
  "$venv/bin/pip" install -q "obp==0.5.7" --no-deps --ignore-requires-python
  "$venv/bin/pip" install -q "pandas==1.5.3" "numpy==1.26.4" "scikit-learn<1.6" scipy pyyaml tqdm matplotlib seaborn mypy-extensions
fi
swift build -c release --product rummage > /tmp/ope_obp_parity.build 2>&1 || { tail -n 30 /tmp/ope_obp_parity.build; exit 1; }
rounds=$(mktemp --suffix=.jsonl)
trap 'rm -f "$rounds"' EXIT
echo "# Benchmarks/ope_obp_parity.sh on $(nproc) cores, $(git rev-parse --short HEAD)"
obp=$("$venv/bin/python" Benchmarks/ope_obp_parity.py "$rounds" 2> /dev/null | tail -n 1)
ours=$(.build/release/rummage ope estimate --rounds "$rounds" --json | tail -n 1)
python3 - "$obp" "$ours" <<'PY'
import json, sys
obp, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"obp {obp['rounds']} rounds, {obp['actions']} actions")
worst = 0.0
for name, key in [("IPS", "ips"), ("SNIPS", "snips"), ("DR", "doublyRobust")]:
    a, b = obp[key if key != "doublyRobust" else "dr"], ours[key]["value"]
    worst = max(worst, abs(a - b))
    print(f"{name:6s} obp {a:.12f}  rummage {b:.12f}  difference {abs(a - b):.2e}  (rummage's 95 % interval [{ours[key]['low']:.6f}, {ours[key]['high']:.6f}])")
print(f"effective sample size {ours['effectiveSampleSize']:.1f} of {ours['rounds']}; largest weight {ours['largestWeight']:.3g}")
print(f"largest difference {worst:.2e} (bar: <= 1e-6): {'met' if worst <= 1e-6 else 'NOT MET'}")
sys.exit(0 if worst <= 1e-6 else 1)
PY
