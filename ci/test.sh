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
# The tunnel with 1,000 simulated edges (connect, upstream rate, delivery,
# restart storm, /metrics scrape time), a report only; run here so that the
# bench keeps working. Report: bench-report/tunnel.{txt,json}.
target/release/hive bench tunnel --edges 1000 --ups 2 --rounds 2 --out bench-report 2>/dev/null
# Static cross builds (full and edge-only images, size budgets), checked
# under qemu-user (issue: firmware targets).
bash ci/cross-test.sh aarch64 riscv64
echo "ci/test.sh: cross images checked at $(( $(date +%s) - t0 )) s"
# Footprint of the static x86_64 images, run natively (RSS per scenario,
# with 50 pods on a containerd of its own); edge and cloud idle over
# budget fail the run. Report: bench-report/footprint.{txt,json}.
bash cross/build.sh x86_64 && bash cross/build.sh --image edge x86_64
X=target/cross/x86_64-unknown-linux-musl
HIVE_BIN="$PWD/$X/full/hive" bash ci/bench-edged.sh 50 footprint --edge-bin "$X/edge/hive" --out bench-report
# Streams through the tunnel (exec round trip, logs -f throughput, idle
# stream cost), a report only. Report: bench-report/streams.{txt,json}.
HIVE_BIN="$PWD/$X/full/hive" bash ci/bench-edged.sh 1 streams --out bench-report
echo "ci/test.sh: all tests passed in $(( $(date +%s) - t0 )) s"
