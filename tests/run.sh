#!/usr/bin/env bash
# The test command (README, .ci/run): set up what the tests need on a fresh machine, then lint and test.
#   - a virtual environment in .venv with the package and its dev extra (torch: the CPU wheel, see pyproject);
#   - Debian's prometheus (real in tests) and chromium (the page test), when missing;
#   - ruff, then pytest. Extra arguments go to pytest: `bash tests/run.sh -k store -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
if ! python -c "import forecaster, pytest, moto, kubernetes_validate" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "== installing the package and its dev extra"
  python -m pip install -q --upgrade pip
  python -m pip install -q -e '.[dev]'
  touch .venv/.installed
fi

need_apt=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || need_apt+=(prometheus)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} (Debian packages)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

echo "== ruff"
ruff check forecaster tests bench
ruff format --check forecaster tests bench

echo "== pytest"
# Torch on 2 cores: one intra-op thread per test process keeps the tiny models fast and deterministic.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
exec python -m pytest "$@"
