#!/usr/bin/env bash
# Whole-run benchmark: the issue's targets, side by side in one invocation, with the
# machine's load average before and after (this machine is shared: say so with the
# figures).
#
#   cold:  `dockmatrix run` of benches/whole-run.toml (the demo matrix with the
#          connectivity suite) with --engine-cache off, against the plain docker-CLI
#          script a QA engineer would write (benches/naive-run.sh); target ≤ 0.33 ×
#   warm:  the same run with the engine cache on, a second time (the first fills the
#          cache, the second is timed); target ≤ 0.20 × the script
#   RSS:   peak resident memory of each dockmatrix run; target ≤ 64 MiB
#   full:  with --full, matrices/demo.toml cold (--engine-cache off); target ≤ 5 min,
#          and every perf figure's precision is counted
#
#   benches/whole-run.sh [--full] [--reps N] [--filter EXPR]   # images: scripts/setup.sh demo
#
# Figures are medians over N repetitions (default 1), each repetition running every
# contender once, in the same order. The engine caches it fills stay (they are what a
# second run uses); `dockmatrix clean --cache` removes them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
full=0 reps=1 args=()
while (($#)); do
    case $1 in
    --full) full=1 ;;
    --reps) reps=$2; shift ;;
    *) args+=("$1") ;;
    esac
    shift
done
# The same build as scripts/demo.sh (one set of features: neither rebuilds the other's).
cargo build --profile demo --quiet --no-default-features --features dockmatrix/cli -p dockmatrix -p dockmatrix-demo-app
bin=target/demo/dockmatrix
matrix=benches/whole-run.toml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load before: $(uptime)" >&2

$bin plan "$matrix" --format json "${args[@]}" >"$work/cells.json"
cells=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cells"]))' "$work/cells.json")
echo "cells: $cells" >&2

# One timed dockmatrix run: NAME MATRIX ARGS...; appends "name seconds rss_kb run.json".
timed_run() {
    local name=$1 m=$2 out="$work/$1-$RANDOM"
    shift 2
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$out.time" $bin run "$m" --out "$out" "$@" >/dev/null 2>"$out.log" || true
    t1=$(date +%s.%N)
    local rss
    rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$out.time")
    echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $rss $out/run.json" >>"$work/results"
}

for ((r = 1; r <= reps; r++)); do
    echo "repetition $r/$reps" >&2
    # The image tar cache is warm for every contender (as after any first run).
    timed_run cold "$matrix" --engine-cache off "${args[@]}"
    t0=$(date +%s.%N)
    benches/naive-run.sh "$work/cells.json"
    t1=$(date +%s.%N)
    echo "naive $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') 0 -" >>"$work/results"
    timed_run fill "$matrix" --engine-cache on "${args[@]}"
    timed_run warm "$matrix" --engine-cache on "${args[@]}"
    if ((full)); then
        timed_run full matrices/demo.toml --engine-cache off
    fi
done
echo "load after: $(uptime)" >&2

python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss, path = line.split()
    rows.setdefault(name, []).append((float(secs), int(rss or 0), path))
def median(name):
    return statistics.median(s for s, _, _ in rows[name])
def summary(path):
    try:
        run = json.load(open(path))
    except OSError:
        return "no run.json"
    st, caches, checks, perf, precise = {}, {}, 0, 0, 0
    for c in run["cells"]:
        st[c["status"]] = st.get(c["status"], 0) + 1
        e = c.get("engine") or {}
        caches[e.get("cache", "-")] = caches.get(e.get("cache", "-"), 0) + 1
        for ch in c.get("checks", []):
            checks += 1
            if ch.get("perf"):
                perf += 1
                precise += ch["perf"].get("p95_precision_pct") is not None
    out = f"{st}, {checks} checks, engines {caches}"
    if perf:
        out += f", {precise}/{perf} perf figures with a precision"
    return out
naive = median("naive")
print(f"naive script:            {naive:7.1f} s")
for name, target in [("cold", 0.33), ("fill", None), ("warm", 0.20), ("full", None)]:
    if name not in rows:
        continue
    m = median(name)
    rss = max(r for _, r, _ in rows[name]) / 1024
    ratio = f"ratio {m / naive:.3f}" + (f" (target ≤ {target})" if target else "")
    if name == "full":
        ratio = f"target ≤ 300 s"
    print(f"dockmatrix {name:5}:        {m:7.1f} s  {ratio}  peak RSS {rss:.1f} MiB  [{summary(rows[name][-1][2])}]")
PY
