#!/usr/bin/env bash
# The main job on a fresh machine: builds the demo's images (cached by tag) while
# dockmatrix compiles, then runs the demo matrix end to end and prints its compatibility
# table, and how long each phase took. Extra arguments go to `dockmatrix run` (e.g.
# --filter 'engine=28.5.2').
#
# The cold path overlaps its two long phases: the image builds (debootstrap, apt, docker
# import/build: mostly downloads and disk) run in the background while one cargo
# invocation compiles dockmatrix and the demo app together (they share most crates, and
# one invocation holds the target folder's lock once instead of two builds queueing on
# it). Only the demo app's image waits for the compile. Only the images of the demo
# matrix are built (setup.sh's `demo` set), and each is saved into dockmatrix's image tar
# cache there and then (`--save-images`), so the run's first engines load at once instead
# of waiting for 1.7 GB of saves.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

now() { date +%s; }
phase() { printf 'demo.sh: %-44s %5ss\n' "$1" "$2" >&2; }
t0=$(now)
mkdir -p target
images_log=target/demo-images.log
secs=target/demo-images.secs
rm -f "$secs"

# Phase 1a, in the background: every demo image but the app's (it needs the compile).
(
    t=$(now)
    scripts/setup.sh --save-images --exclude demo-app demo >"$images_log" 2>&1
    echo $(($(now) - t)) >"$secs"
) &
images_pid=$!
# A Ctrl-C or a failed compile must not leave the image builds running.
trap 'kill "$images_pid" 2>/dev/null || true' EXIT

# Phase 1b, meanwhile: dockmatrix and the demo app, one cargo invocation.
echo "demo.sh: building the demo's images in the background (log: $images_log) while compiling" >&2
tc=$(now)
# The `demo` profile (Cargo.toml): opt-level 1 (the dockmatrix crate 0), no debug info;
# without the `tls` feature (the demo reaches no engine over TLS: no rustls, no ring).
cargo build --profile demo --quiet --no-default-features --features dockmatrix/cli -p dockmatrix -p dockmatrix-demo-app
phase "compile (dockmatrix + demo app)" $(($(now) - tc))

tw=$(now)
if ! wait "$images_pid"; then
    echo "demo.sh: building the images failed; the end of $images_log:" >&2
    tail -n 40 "$images_log" >&2
    exit 1
fi
trap - EXIT
phase "images (in the background)" "$(cat "$secs")"
phase "  of which waited for after the compile" $(($(now) - tw))

# Phase 2: the demo app's image, from the binary just compiled.
ta=$(now)
DOCKMATRIX_APP_BIN="$PWD/target/demo/dockmatrix-demo-app" scripts/setup.sh --save-images demo-app >>"$images_log" 2>&1 || {
    echo "demo.sh: building the demo app's image failed; the end of $images_log:" >&2
    tail -n 40 "$images_log" >&2
    exit 1
}
phase "demo app image" $(($(now) - ta))

# Phase 3: the run.
tr=$(now)
status=0
rss=target/demo-run.rss
rm -f "$rss"
if [[ -x /usr/bin/time ]]; then
    # The tool's peak resident memory (GNU time), said with the phases.
    /usr/bin/time -f %M -o "$rss" target/demo/dockmatrix run matrices/demo.toml "$@" || status=$?
else
    target/demo/dockmatrix run matrices/demo.toml "$@" || status=$?
fi
phase "run" $(($(now) - tr))
[[ -s $rss ]] && printf 'demo.sh: %-44s %5s MiB\n' "  dockmatrix's peak RSS" $(($(tail -n1 "$rss") / 1024)) >&2
phase "total" $(($(now) - t0))
exit "$status"
