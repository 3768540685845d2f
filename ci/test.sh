#!/usr/bin/env bash
# The README's test command: build the release binary once, then run every
# test (unit tests and end-to-end tests against that binary).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
bash ci/setup.sh
t0=$(date +%s)
# The house format (rustfmt.toml) and lints; both fail the run.
cargo fmt --check || { echo "ci/test.sh: run 'cargo fmt' (rustfmt.toml sets the style)"; exit 1; }
cargo build --release --locked
echo "ci/test.sh: release build $(( $(date +%s) - t0 )) s, binary $(stat -c %s target/release/hive) bytes"
export HIVE_BIN="$PWD/target/release/hive"
cargo test --locked -- --test-threads 2
echo "ci/test.sh: host tests passed in $(( $(date +%s) - t0 )) s"
cargo clippy --locked --all-targets -- -D warnings
echo "ci/test.sh: clippy clean at $(( $(date +%s) - t0 )) s"
# Static cross builds, checked under qemu-user (issue: firmware targets).
bash ci/cross-test.sh aarch64 riscv64
echo "ci/test.sh: all tests passed in $(( $(date +%s) - t0 )) s"
