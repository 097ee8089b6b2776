#!/usr/bin/env bash
# Interrupt soak (issue 13, item 7), on demand: SIGINT at INTERRUPTS random moments of a
# real run (engine start, image load, services, checks, teardown), then SIGKILL at KILLS
# random moments, each followed by `clean --run` and `--resume`. Every time it checks:
#   SIGINT   exit 130 within 60 s, 0 labelled objects left, a readable run.json whose
#            unfinished cells are `cancelled` (every cell has a known status);
#   SIGKILL  `clean --run ID` leaves 0 labelled objects, `--resume` completes the run
#            (every planned cell in run.json, same run id).
# Prints one line per trial and the totals; exits 1 on the first broken promise.
#
#   benches/interrupt-soak.sh                         # 20 interrupts, 5 kills, the matrix below
#   INTERRUPTS=3 KILLS=1 benches/interrupt-soak.sh    # the CI smoke test (tests/soak.rs)
#   MATRIX=matrices/demo.toml MAX_DELAY=120 benches/interrupt-soak.sh
#
# BIN (default target/debug/dockmatrix) is the binary under test; the default matrix is a
# dind engine (28.5.2) with a Redis service and a check that holds the cell for 5 s. The
# moments are drawn from 1 s to MAX_DELAY s after the start; without MAX_DELAY, one
# uninterrupted run is timed first and its length is MAX_DELAY, so that the moments span
# a real run (engine start, image load, services, checks, teardown) on this machine as
# loaded as it is now. A moment that falls after a run's end (runs vary) is reported and
# drawn again: every counted signal hit a running run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

INTERRUPTS=${INTERRUPTS:-20}
KILLS=${KILLS:-5}
MAX_DELAY=${MAX_DELAY:-}
BIN=${BIN:-target/debug/dockmatrix}
# An engine cache volume carries the label of the run that made it: it would count as an
# object left behind (and the soak must leave nothing on the machine).
export DOCKMATRIX_ENGINE_CACHE=off
[[ -x $BIN ]] || cargo build --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -z ${MATRIX:-} ]]; then
    MATRIX=$work/matrix.toml
    cat > "$work/suite.toml" <<'TOML'
kind = "regression"
[[check]]
name = "soak: redis answers"
service = "redis"
redis = ["PING"]
expect = { reply = "PONG" }
[[check]]
name = "soak: the cell holds a moment"
service = "redis"
exec = ["sh", "-c", "sleep 5"]
expect = { exit-code = 0 }
TOML
    cat > "$MATRIX" <<'TOML'
name = "soak"
scenarios = ["suite.toml"]
[axes]
engine = ["28.5.2"]
case = ["a", "b", "c"]
[engines."28.5.2"]
kind = "dind"
image = "dockmatrix/engine:28.5.2"
[services.redis]
kind = "redis"
image = "dockmatrix/redis:7.0"
ports = [6379]
TOML
fi

labelled() { # run id → number of labelled containers, networks and volumes
    local l="label=io.dockmatrix.run=$1"
    { docker ps -aq --filter "$l"; docker network ls -q --filter "$l"; docker volume ls -q --filter "$l"; } | grep -c . || true
}
run_id_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$1/run.json"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
delay() { python3 -c "import random; print(round(random.uniform(1, $MAX_DELAY), 1))"; }
load() { cut -d' ' -f1 /proc/loadavg; }

if [[ -z $MAX_DELAY ]]; then
    t0=$(date +%s.%N)
    "$BIN" run "$MATRIX" --out "$work/whole" -j 2 > /dev/null 2> "$work/whole.log" || true
    MAX_DELAY=$(python3 -c "print(max(2.0, round($(date +%s.%N) - $t0, 1)))")
    [[ $(labelled "$(run_id_of "$work/whole")") == 0 ]] || fail "the uninterrupted run left objects"
    echo "an uninterrupted run took ${MAX_DELAY}s"
fi
worst=0
codes=""
echo "soak: $INTERRUPTS interrupts, $KILLS kills, moments 1 to ${MAX_DELAY}s, $(nproc) CPUs, load $(load) at the start"
# A moment drawn after the run had ended (its run.json says it finished uninterrupted) is
# no moment of a run: it is reported, checked like a run's end, and drawn again.
missed=0
give_up() { ((missed <= 3 * (INTERRUPTS + KILLS))) || fail "$missed moments fell after the run's end: MAX_DELAY is longer than a run"; }
ended() { python3 -c 'import json,sys; r = json.load(open(sys.argv[1])); print("yes" if r.get("finished_at") and not r["interrupted"] else "no")' "$1/run.json"; }
i=0 tries=0
while ((i < INTERRUPTS)); do
    tries=$((tries + 1))
    out=$work/int-$tries d=$(delay)
    "$BIN" run "$MATRIX" --out "$out" -j 2 > /dev/null 2> "$out.log" &
    pid=$!
    sleep "$d"
    t0=$(date +%s.%N)
    kill -INT "$pid" 2> /dev/null || true
    rc=0; wait "$pid" || rc=$?
    took=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
    id=$(run_id_of "$out") || fail "interrupt at ${d}s: no readable run.json"
    left=$(labelled "$id")
    if [[ $(ended "$out") == yes ]]; then
        echo "(moment ${d}s: the run had ended already, exit $rc, $left objects left; drawn again)"
        [[ $rc == 0 || $rc == 1 ]] || fail "a run that ended by itself: exit $rc"
        [[ $left == 0 ]] || fail "a run that ended by itself left $left labelled objects"
        missed=$((missed + 1)); give_up
        continue
    fi
    i=$((i + 1))
    cells=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
bad = [c["id"] for c in r["cells"] if c["status"] not in ("pass", "cancelled", "fail", "error", "flaky", "unsupported")]
print(len(r["cells"]), sum(c["status"] == "cancelled" for c in r["cells"]), len(bad))' "$out/run.json")
    echo "interrupt $i at ${d}s: exit $rc in ${took}s, $left objects left, cells/cancelled/unknown: $cells, load $(load)"
    codes="$codes $rc"
    [[ ${cells##* } == 0 ]] || fail "interrupt $i: a cell has no known status"
    [[ $rc == 130 ]] || fail "interrupt $i: exit $rc"
    python3 -c "import sys; sys.exit(0 if $took <= 60 else 1)" || fail "interrupt $i: took ${took}s"
    [[ $left == 0 ]] || fail "interrupt $i: $left labelled objects left"
    python3 -c "import sys; sys.exit(0 if $took > $worst else 1)" && worst=$took
done

k=0 tries=0
while ((k < KILLS)); do
    tries=$((tries + 1))
    out=$work/kill-$tries d=$(delay)
    "$BIN" run "$MATRIX" --out "$out" -j 2 > /dev/null 2> "$out.log" &
    pid=$!
    sleep "$d"
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    id=$(run_id_of "$out") || fail "kill at ${d}s: no run.json header"
    if [[ $(ended "$out") == yes ]]; then
        echo "(moment ${d}s: the run had ended already; drawn again)"
        [[ $(labelled "$id") == 0 ]] || fail "a run that ended by itself left labelled objects"
        missed=$((missed + 1)); give_up
        continue
    fi
    k=$((k + 1))
    "$BIN" clean --run "$id" > /dev/null
    left=$(labelled "$id")
    [[ $left == 0 ]] || fail "kill $k: $left labelled objects left after clean"
    rc=0; "$BIN" run "$MATRIX" --resume "$out" -j 2 > /dev/null 2>> "$out.log" || rc=$?
    [[ $rc == 0 || $rc == 1 ]] || fail "kill $k: --resume exit $rc"
    planned=$("$BIN" plan "$MATRIX" --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["cells"]))')
    got=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(len(r["cells"]) if r.get("finished_at") and not r["interrupted"] and r["run_id"] == sys.argv[2] else -1)' "$out/run.json" "$id")
    echo "kill $k at ${d}s: clean left $left, --resume exit $rc, $got of $planned cells, load $(load)"
    [[ $got == "$planned" ]] || fail "kill $k: the resumed run.json holds $got of $planned cells"
    [[ $(labelled "$id") == 0 ]] || fail "kill $k: objects left after --resume"
done
tally=$(tr ' ' '\n' <<< "$codes" | grep . | sort | uniq -c | awk '{printf "%s%s×%s", (n++ ? ", " : ""), $1, $2}')
echo "soak: $INTERRUPTS interrupts (exit codes: $tally; slowest exit ${worst}s), $KILLS kills + clean + resume: all kept their promises ($missed moments after a run's end drawn again), load $(load) at the end"
