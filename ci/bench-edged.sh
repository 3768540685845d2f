#!/usr/bin/env bash
# Run `hive bench edged` against a containerd of its own (Debian's
# containerd + runc, as the tests use it): own root/state/socket under a
# temp dir, local images built from busybox-static, torn down at the end.
# Usage: bash ci/bench-edged.sh [pods] [edged|streams|footprint] [more bench flags]
#   (default 50 pods, `hive bench edged`; needs root). `footprint` runs
#   `hive bench footprint` with that many running pods as one scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
HIVE="${HIVE_BIN:-$PWD/target/release/hive}"
D="$(mktemp -d /tmp/hive-bench-ctrd.XXXXXX)"
mkdir -p "$D/cni/net.d"
sed "s|@DIR@|$D|g" ci/containerd.toml.in > "$D/containerd.toml"
containerd --config "$D/containerd.toml" 2> "$D/containerd.log" & CPID=$!
cleanup() {
  for t in $(ctr --address "$D/containerd.sock" -n k8s.io tasks list -q 2>/dev/null); do
    ctr --address "$D/containerd.sock" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
  done
  sleep 0.3
  for t in $(ctr --address "$D/containerd.sock" -n k8s.io tasks list -q 2>/dev/null); do
    ctr --address "$D/containerd.sock" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true
  done
  for c in $(ctr --address "$D/containerd.sock" -n k8s.io containers list -q 2>/dev/null); do
    ctr --address "$D/containerd.sock" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
  done
  kill "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true
  grep -o " $D[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
for _ in $(seq 200); do ctr --address "$D/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.05; done
python3 ci/mkimage.py --name localhost/hive-pause:1 --out "$D/pause.tar" --entrypoint '["/bin/sleep","infinity"]' >/dev/null
python3 ci/mkimage.py --name localhost/hive-app:1 --out "$D/app.tar" --cmd '["sleep","3600"]' >/dev/null
ctr --address "$D/containerd.sock" -n k8s.io images import "$D/pause.tar" >/dev/null
ctr --address "$D/containerd.sock" -n k8s.io images import "$D/app.tar" >/dev/null
PODS=${1:-50}; WHAT=${2:-edged}; shift $(( $# < 2 ? $# : 2 ))
case $WHAT in
  edged) "$HIVE" bench edged --runtime-socket "$D/containerd.sock" --count "$PODS" "$@";;
  footprint) "$HIVE" bench footprint --runtime-socket "$D/containerd.sock" --pods "$PODS" "$@";;
  streams) "$HIVE" bench streams --runtime-socket "$D/containerd.sock" "$@";;
  *) echo "ci/bench-edged.sh: the bench is edged, streams or footprint, not '$WHAT'" >&2; exit 2;;
esac
