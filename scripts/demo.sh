#!/usr/bin/env bash
# The main job on a fresh machine: builds the demo's images (cached by tag), then runs the
# demo matrix end to end and prints its compatibility table. Extra arguments go to
# `dockmatrix run` (e.g. --filter 'engine=28.5.2').
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh demo
cargo build --release --quiet
exec target/release/dockmatrix run matrices/demo.toml "$@"
