#!/usr/bin/env bash
# Cross-build hive for the given targets (default: aarch64 riscv64), as the
# full image and the edge-only image, and check each binary under
# qemu-user: static for the right architecture, within its size budget,
# `version`, `config --check` on every shipped profile (the edge image must
# refuse the cloud's, naming the `cloud` feature), and a cloud (full image)
# + edge (each image) of that target connecting through the mutual-TLS
# tunnel on 127.0.0.1 until the cloud reports the edge Ready, and the full
# image's edge over QUIC the same way (quinn's UDP under that target's
# libc and qemu). Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=("${@:-aarch64 riscv64}"); TARGETS=(${TARGETS[*]})
bash cross/build.sh "${TARGETS[@]}"
bash cross/build.sh --image edge "${TARGETS[@]}"
fail() { echo "ci/cross-test.sh: FAIL: $*" >&2; exit 1; }
# Size budgets in bytes per image (issue: firmware-sized edge).
budget() { case $1 in full) echo "$FULL_BUDGET";; edge) echo "$EDGE_BUDGET";; esac; }
FULL_BUDGET=${HIVE_FULL_BUDGET:-4718592}   # 4.5 MiB: both roles, every module, QUIC (+260 KiB: 4,013,136 -> 4,279,272 on aarch64)
EDGE_BUDGET=${HIVE_EDGE_BUDGET:-3145728}   # 3 MiB: edge, edged, eventbus
# Where the bytes go, for an image over budget: sections of the binary and
# a per-crate table of the same feature set built for the host.
explain_size() { # <bin> <image>
  size -A "$1" | sort -k2 -nr | head -8
  local f=(); [ "$2" = edge ] && f=(--no-default-features --features edge,edged,eventbus,dmi)
  command -v cargo-bloat >/dev/null || cargo install -q cargo-bloat --locked --version 0.12.1 || true
  CARGO_PROFILE_RELEASE_STRIP=false cargo bloat --release --crates -n 30 --target-dir target/bloat "${f[@]}" 2>/dev/null | grep -v Compiling || true
}
passed=0
for t in "${TARGETS[@]}"; do
  case $t in
    x86_64)  T=x86_64-unknown-linux-musl;      Q="";                   ARCH="x86-64";;
    aarch64) T=aarch64-unknown-linux-musl;     Q=qemu-aarch64-static;  ARCH="ARM aarch64";;
    armv7)   T=armv7-unknown-linux-musleabihf; Q=qemu-arm-static;      ARCH="ARM, EABI5";;
    riscv64) T=riscv64gc-unknown-linux-musl;   Q=qemu-riscv64-static;  ARCH="RISC-V";;
    *) fail "unknown target $t";;
  esac
  FULL=$PWD/target/cross/$T/full/hive; EDGE=$PWD/target/cross/$T/edge/hive
  for image in full edge; do
    BIN=$PWD/target/cross/$T/$image/hive
    info=$(file -b "$BIN")
    [[ $info == *"statically linked"* ]] || fail "$T $image: not static: $info"
    [[ $info == *"$ARCH"* ]] || fail "$T $image: wrong architecture: $info"
    size=$(stat -c %s "$BIN"); max=$(budget $image)
    if [ "$size" -gt "$max" ]; then explain_size "$BIN" $image; fail "$T $image image: $size bytes, over its budget of $max"; fi
    echo "ci/cross-test.sh: $T $image image $size bytes (budget $max)"
    v=$($Q "$BIN" version) || fail "$T $image: hive version failed"
    [[ $v == *"target $T"* ]] || fail "$T $image: version says: $v"
  done
  H() { $Q "$FULL" "$@"; }
  for p in profiles/*.toml; do H config --check "$p" >/dev/null || fail "$T: config --check $p"; done
  $Q "$EDGE" config --check profiles/edge.toml >/dev/null || fail "$T edge image: config --check profiles/edge.toml"
  if out=$($Q "$EDGE" config --check profiles/cloud.toml 2>&1); then fail "$T edge image accepted the cloud profile"; fi
  [[ $out == *"feature \`cloud\`"* ]] || fail "$T edge image: refusing the cloud profile did not name the feature: $out"
  if out=$($Q "$EDGE" cert node x 2>&1); then fail "$T edge image ran hive cert"; fi
  [[ $out == *"feature \`cloud\`"* ]] || fail "$T edge image: hive cert did not name the feature: $out"
  # Smoke: cloud and edge of this target, TLS tunnel on loopback.
  W=$(mktemp -d); cd "$W"
  printf 'role = "cloud"\ndata_dir = "cloud"\n[api]\nlisten = "127.0.0.1:0"\n[cloudhub]\nlisten = "127.0.0.1:0"\n' > cloud.toml
  $Q "$FULL" cloud --config cloud.toml 2> cloud.log & cpid=$!
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' cloud.log | head -1)
    [ -n "$port" ] && grep -q "hive cloud ready" cloud.log && break; sleep 0.1
  done
  [ -n "$port" ] || { cat cloud.log; fail "$T: cloud did not start"; }
  H cert node smoke-1 --ca-dir cloud --out edge >/dev/null || fail "$T: cert node"
  printf 'role = "edge"\ndata_dir = "edge"\n[metaserver]\nlisten = "127.0.0.1:0"\n[edgehub]\nserver = "127.0.0.1:%s"\n[eventbus]\nlisten = "127.0.0.1:0"\n[dmi]\nsocket = "dmi.sock"\n' "$port" > edge.toml
  $Q "$EDGE" edge --config edge.toml 2> edge.log & epid=$!
  ok=0
  for _ in $(seq 1 300); do grep -q "node smoke-1 is Ready" cloud.log && { ok=1; break; }; sleep 0.1; done
  kill -TERM $epid; erc=0; wait $epid || erc=$?
  # The same over QUIC, with the full image's edge (the edge image leaves QUIC out).
  qport=$(sed -n 's/.*QUIC on UDP 127.0.0.1:\([0-9]*\).*/\1/p' cloud.log | head -1)
  [ -n "$qport" ] || { cat cloud.log; fail "$T: the cloud did not say where QUIC listens"; }
  H cert node smoke-q --ca-dir cloud --out edge-q >/dev/null || fail "$T: cert node"
  printf 'role = "edge"\ndata_dir = "edge-q"\n[metaserver]\nlisten = "127.0.0.1:0"\n[edgehub]\nserver = "127.0.0.1:%s"\ntransport = "quic"\nquic_server = "127.0.0.1:%s"\n[eventbus]\nlisten = "127.0.0.1:0"\n[dmi]\nsocket = "dmi-q.sock"\n' "$port" "$qport" > edge-q.toml
  $Q "$FULL" edge --config edge-q.toml 2> edge-q.log & qpid=$!
  qok=0
  for _ in $(seq 1 300); do grep -q "node smoke-q is Ready" cloud.log && { qok=1; break; }; sleep 0.1; done
  kill -TERM $qpid; qrc=0; wait $qpid || qrc=$?
  kill -TERM $cpid; crc=0; wait $cpid || crc=$?
  [ $qrc = 0 ] || { cat edge-q.log; fail "$T: QUIC edge exit code $qrc after SIGTERM"; }
  [ $qok = 1 ] || { cat cloud.log edge-q.log; fail "$T: the QUIC edge never Ready"; }
  [ $erc = 0 ] || { cat edge.log; fail "$T: edge exit code $erc after SIGTERM"; }
  [ $crc = 0 ] || { cat cloud.log; fail "$T: cloud exit code $crc after SIGTERM"; }
  [ $ok = 1 ] || { cat cloud.log edge.log; fail "$T: edge never Ready"; }
  echo "ci/cross-test.sh: $T ok (edge image's edge $(grep -o 'ready in [0-9]* ms' edge.log | head -1) under ${Q:-native})"
  cd - >/dev/null; rm -rf "$W"
  passed=$((passed+1))
done
echo "cross: $passed passed, 0 failed"
