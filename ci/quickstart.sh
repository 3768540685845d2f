#!/usr/bin/env bash
# The README's "run it" command: set up, build, and run a cloud and an edge
# on this machine on the embedded defaults, in ./quickstart/. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
cargo build --release --locked
HIVE="$PWD/target/release/hive"
mkdir -p quickstart && cd quickstart
# Own sessions: Ctrl-C reaches only this script, which stops both once, in order.
setsid "$HIVE" cloud & cloud=$!
stop() { trap - INT TERM EXIT; kill -TERM ${edge:-} $cloud 2>/dev/null; wait; }
trap stop INT TERM EXIT
sleep 1
if "$HIVE" cert --help >/dev/null 2>&1; then
  [ -f hive-data/edge/node.pem ] || "$HIVE" cert node edge-1
fi
setsid "$HIVE" edge & edge=$!
echo "quickstart: cloud (pid $cloud) and edge (pid $edge) running in $PWD; Ctrl-C stops both"
wait
