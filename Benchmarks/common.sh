# Sourced by the benchmark scripts: toolchain on PATH, system packages, and peers in virtualenvs
# outside the repository (peers never enter Rummage's runtime).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"

# Sets `data` to the NCF MovieLens-1M split, or exits 0 with a printed reason when it is absent.
require_ncf_data() {
  data=../shared/datasets/ncf-ml-1m
  if [ ! -d "$data" ]; then
    echo "skipping: $data is not present"
    exit 0
  fi
}

# ensure_venv DIR IMPORTS PACKAGE...: creates DIR with the packages unless `import IMPORTS` already works.
ensure_venv() {
  local venv=$1 imports=$2
  shift 2
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    echo "installing $* into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "$@"
  fi
}
