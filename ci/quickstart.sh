#!/usr/bin/env bash
# The README's "run it" command: set up, build, and run a cloud and an edge
# on this machine on the embedded defaults, in ./quickstart/. The edge joins
# with a bootstrap token, as a board would; when no containerd listens on
# /run/containerd/containerd.sock, one of its own runs under ./quickstart
# (with a local busybox image, so no registry is needed). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
cargo build --release --locked
HIVE="$PWD/target/release/hive"
REPO="$PWD"
mkdir -p quickstart && cd quickstart
Q="$PWD"
# Own sessions: Ctrl-C reaches only this script, which stops all once, in order.
setsid "$HIVE" cloud & cloud=$!
ctrd=""
stop() {
  trap - INT TERM EXIT
  kill -TERM ${edge:-} 2>/dev/null; wait ${edge:-} 2>/dev/null || true
  kill -TERM $cloud 2>/dev/null; wait $cloud 2>/dev/null || true
  if [ -n "$ctrd" ]; then
    # The pods' containers go with the containerd that ran them.
    c="ctr --address $SOCK -n k8s.io"
    for t in $($c tasks list -q 2>/dev/null); do $c tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.3
    for t in $($c tasks list -q 2>/dev/null); do $c tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for k in $($c containers list -q 2>/dev/null); do $c containers delete "$k" >/dev/null 2>&1 || true; done
    kill -TERM "$ctrd" 2>/dev/null; wait "$ctrd" 2>/dev/null || true
    grep -o " $Q/containerd[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT
for _ in $(seq 100); do [ -f hive-data/cloud/kubeconfig ] && break; sleep 0.1; done

SOCK=/run/containerd/containerd.sock
IMAGE=docker.io/library/busybox:1.36
if ! ctr --address "$SOCK" version >/dev/null 2>&1; then
  D="$Q/containerd"; SOCK="$D/containerd.sock"; IMAGE=localhost/busybox:1
  mkdir -p "$D/cni/net.d"
  sed "s|@DIR@|$D|g" "$REPO/ci/containerd.toml.in" > "$D/containerd.toml"
  setsid containerd --config "$D/containerd.toml" 2> "$D/containerd.log" & ctrd=$!
  for _ in $(seq 200); do ctr --address "$SOCK" version >/dev/null 2>&1 && break; sleep 0.05; done
  python3 "$REPO/ci/mkimage.py" --name localhost/hive-pause:1 --out "$D/pause.tar" --entrypoint '["/bin/sleep","infinity"]' >/dev/null
  python3 "$REPO/ci/mkimage.py" --name "$IMAGE" --out "$D/busybox.tar" --cmd '["sh"]' >/dev/null
  ctr --address "$SOCK" -n k8s.io images import "$D/pause.tar" >/dev/null
  ctr --address "$SOCK" -n k8s.io images import "$D/busybox.tar" >/dev/null
  echo "quickstart: no containerd on /run/containerd/containerd.sock; started one of its own ($SOCK)"
fi
printf 'role = "edge"\n[edged]\nruntime_socket = "%s"\n' "$SOCK" > edge.toml

if [ -f hive-data/edge/node.pem ]; then
  setsid "$HIVE" edge --config edge.toml & edge=$!
else
  # What an operator does for a new board: a token, and the join command it prints.
  join=$("$HIVE" token create --kubeconfig hive-data/cloud/kubeconfig --print-join-command \
         --server 127.0.0.1:10002 --ttl 1h --description quickstart)
  echo "quickstart: $join --node-name edge-1"
  # shellcheck disable=SC2086 # the printed command's words
  setsid "$HIVE" edge --config edge.toml ${join#hive edge } --node-name edge-1 & edge=$!
fi
cat <<EOF
quickstart: cloud (pid $cloud) and edge (pid $edge) running in $Q; Ctrl-C stops them. Try:
  export KUBECONFIG=$Q/hive-data/cloud/kubeconfig
  kubectl get nodes
  kubectl run web --image=$IMAGE --overrides='{"spec":{"hostNetwork":true}}' -- sh -c 'while true; do date; sleep 2; done'
  kubectl logs -f web
EOF
wait
