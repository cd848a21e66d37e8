#!/usr/bin/env bash
# The project's test command: emulator, binary, then every test of the workspace
# (including the end-to-end crate `eksmgr-e2e`, which is not a default member).
#
#   bash scripts/test.sh [extra cargo test args...]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Idempotent; its last line is the moto_server path. The e2e harness runs the emulator
# (scripts/emulator/eksmgr_moto.py) with the Python beside it.
moto_server="$(bash scripts/setup-emulator.sh | tail -n 1)"
export EKSMGR_MOTO_SERVER="$moto_server"

# The e2e tests run the compiled binary: build it, with every test target, first. Building the
# whole workspace with all targets resolves the same dependency features as `cargo test
# --workspace`, so the AWS SDK crates are compiled once, not twice.
cargo build --workspace --all-targets

cargo test --workspace --no-fail-fast "$@"
