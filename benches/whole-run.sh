#!/usr/bin/env bash
# Whole-run benchmark: `dockmatrix run` of a fixed matrix (the demo matrix with the
# connectivity suite: benches/whole-run.toml) against the plain docker-CLI script a QA
# engineer would write (benches/naive-run.sh), side by side in one run, with the tool's
# own peak memory. Prints both wall times and their ratio.
#
#   benches/whole-run.sh [--filter EXPR]     # images: scripts/setup.sh demo
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
bin=target/release/dockmatrix
matrix=benches/whole-run.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

$bin plan "$matrix" --format json "$@" > "$work/cells.json"
cells=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cells"]))' "$work/cells.json")
echo "cells: $cells" >&2

# The image cache is warmed once (as it would be after a first run); both contenders
# then start from images built on the host.
t0=$(date +%s.%N)
/usr/bin/time -v -o "$work/time.txt" $bin run "$matrix" --out "$work/run" "$@" > /dev/null || true
t1=$(date +%s.%N)
benches/naive-run.sh "$work/cells.json"
t2=$(date +%s.%N)

rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
python3 - "$t0" "$t1" "$t2" "$rss_kb" "$work/run/run.json" <<'PY'
import json, sys
t0, t1, t2, rss = map(float, sys.argv[1:5])
run = json.load(open(sys.argv[5]))
statuses = {}
for c in run["cells"]:
    statuses[c["status"]] = statuses.get(c["status"], 0) + 1
tool, naive = t1 - t0, t2 - t1
print(f"dockmatrix run: {tool:7.1f} s  ({statuses})  peak RSS {rss/1024:.1f} MiB")
print(f"naive script:   {naive:7.1f} s")
print(f"ratio (dockmatrix / naive): {tool/naive:.3f}")
PY
