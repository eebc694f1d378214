#!/usr/bin/env bash
# Run the benchmarks on two revisions back to back, in one session, so their figures compare.
#   bash bench/compare_revisions.sh BEFORE AFTER [OUTDIR [BENCH...]]
# (BENCH: e.g. bench_load.py; all five when none is named)
# Each revision is checked out into a temporary git worktree and run with this checkout's
# installed packages (its own code first on the path); each bench writes its table to OUTDIR/<rev>-<bench>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 out=${3:-bench/out/compare}
only=" ${*:4} "
mkdir -p "$out"
venv=$PWD/.venv
declare -A tree
for rev in "$before" "$after"; do
  dir=$(mktemp -d)/tree
  git worktree add -q --detach "$dir" "$rev"
  # A venv of its own name whose site-packages are this checkout's, without console scripts:
  # the benches then run `python -m consultbot`, which is the revision's own code.
  mkdir -p "$dir/.venv/bin"
  cp "$venv/pyvenv.cfg" "$dir/.venv/"
  ln -s "$venv/lib" "$dir/.venv/lib"
  ln -s "$venv/bin/python" "$dir/.venv/bin/python"
  tree[$rev]=$dir
done
trap 'for d in "${tree[@]}"; do git worktree remove --force "$d"; done' EXIT
run() {  # bench args...
  local bench=$1; shift
  if [[ "$only" != "  " && "$only" != *" $bench "* ]]; then return; fi
  for rev in "$before" "$after"; do
    echo "== $rev $bench $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
    (cd "${tree[$rev]}" && PYTHONPATH=$PWD COLUMNS=160 timeout 1800 .venv/bin/python "bench/$bench" \
      --no-record "$@" --workdir "bench/out/$(basename "$bench" .py)") > "$out/$rev-${bench%.py}.txt" 2>&1 \
      || echo "   exit $?"
  done
}
run bench_stall.py
run bench_roster.py
run bench_stats.py --consults 200000
run bench_load.py
run bench_page.py --repeats 10 --burst 10 --burst-rounds 2
