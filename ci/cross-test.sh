#!/usr/bin/env bash
# Cross-build hive for the given targets (default: aarch64 riscv64) and check
# each binary under qemu-user: static for the right architecture, `version`,
# `config --check` on every shipped profile, and a cloud + edge of that
# target connecting through the mutual-TLS tunnel on 127.0.0.1 until the
# cloud reports the edge Ready. Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=("${@:-aarch64 riscv64}"); TARGETS=(${TARGETS[*]})
bash cross/build.sh "${TARGETS[@]}"
fail() { echo "ci/cross-test.sh: FAIL: $*" >&2; exit 1; }
passed=0
for t in "${TARGETS[@]}"; do
  case $t in
    x86_64)  T=x86_64-unknown-linux-musl;      Q="";                   ARCH="x86-64";;
    aarch64) T=aarch64-unknown-linux-musl;     Q=qemu-aarch64-static;  ARCH="ARM aarch64";;
    armv7)   T=armv7-unknown-linux-musleabihf; Q=qemu-arm-static;      ARCH="ARM, EABI5";;
    riscv64) T=riscv64gc-unknown-linux-musl;   Q=qemu-riscv64-static;  ARCH="RISC-V";;
    *) fail "unknown target $t";;
  esac
  BIN=$PWD/target/cross/$T/release/hive
  info=$(file -b "$BIN")
  [[ $info == *"statically linked"* ]] || fail "$T: not static: $info"
  [[ $info == *"$ARCH"* ]] || fail "$T: wrong architecture: $info"
  H() { $Q "$BIN" "$@"; }
  v=$(H version) || fail "$T: hive version failed"
  [[ $v == *"target $T"* ]] || fail "$T: version says: $v"
  for p in profiles/*.toml; do H config --check "$p" >/dev/null || fail "$T: config --check $p"; done
  # Smoke: cloud and edge of this target, TLS tunnel on loopback.
  W=$(mktemp -d); cd "$W"
  printf 'role = "cloud"\ndata_dir = "cloud"\n[api]\nlisten = "127.0.0.1:0"\n[cloudhub]\nlisten = "127.0.0.1:0"\n' > cloud.toml
  $Q "$BIN" cloud --config cloud.toml 2> cloud.log & cpid=$!
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' cloud.log | head -1)
    [ -n "$port" ] && grep -q "hive cloud ready" cloud.log && break; sleep 0.1
  done
  [ -n "$port" ] || { cat cloud.log; fail "$T: cloud did not start"; }
  H cert node smoke-1 --ca-dir cloud --out edge >/dev/null || fail "$T: cert node"
  printf 'role = "edge"\ndata_dir = "edge"\n[metaserver]\nlisten = "127.0.0.1:0"\n[edgehub]\nserver = "127.0.0.1:%s"\n[eventbus]\nlisten = "127.0.0.1:0"\n' "$port" > edge.toml
  $Q "$BIN" edge --config edge.toml 2> edge.log & epid=$!
  ok=0
  for _ in $(seq 1 300); do grep -q "node smoke-1 is Ready" cloud.log && { ok=1; break; }; sleep 0.1; done
  kill -TERM $epid; erc=0; wait $epid || erc=$?
  kill -TERM $cpid; crc=0; wait $cpid || crc=$?
  [ $erc = 0 ] || { cat edge.log; fail "$T: edge exit code $erc after SIGTERM"; }
  [ $crc = 0 ] || { cat cloud.log; fail "$T: cloud exit code $crc after SIGTERM"; }
  [ $ok = 1 ] || { cat cloud.log edge.log; fail "$T: edge never Ready"; }
  echo "ci/cross-test.sh: $T ok ($(stat -c %s "$BIN") bytes; $(grep -o 'ready in [0-9]* ms' edge.log | head -1) under ${Q:-native})"
  cd - >/dev/null; rm -rf "$W"
  passed=$((passed+1))
done
echo "cross: $passed passed, 0 failed"
