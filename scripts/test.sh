#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts what the tests need
# (Docker, the offline images CI uses, Chromium for the HTML report, sshd for the ssh://
# DOCKER_HOST test), then checks
# formatting and lints, then runs every test under cargo-nextest's `ci` profile.
#
#   scripts/test.sh            # README.md's test command
#
# DOCKMATRIX_REQUIRE_DOCKER=1 (set by .ci/run) turns a test's "no Docker engine, skipped"
# into a failure: CI never goes green by skipping the real thing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "images the tests use (cached by tag)"
scripts/setup.sh ci

if ! command -v chromium >/dev/null 2>&1; then
  step "installing Chromium for the HTML report test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if ! [ -x /usr/sbin/sshd ]; then
  step "installing openssh-server for the ssh:// DOCKER_HOST test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "tests"
cargo nextest run --workspace --profile ci "$@"
