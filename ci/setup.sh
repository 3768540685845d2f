#!/usr/bin/env bash
# Install what building and testing hive needs on a fresh Debian 12 machine.
# Idempotent: installs only what is missing. Run as root (or with sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

# Debian packages the tests use (binaries checked, packages installed if missing).
need_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); }
need gcc gcc
need git git
need kill procps
need python3 python3
# Join tests: curl as a hostile client (from other loopback addresses), openssl for weak keys.
need curl curl
need openssl openssl
# The official Kubernetes Python client's test runs in a venv (below).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
# MQTT: clients for the EventBus/DeviceTwin tests, a broker for external mode and the bench.
need mosquitto_pub mosquitto-clients
[ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
# Edged: a real containerd + runc (the tests start their own), busybox-static for local images.
need containerd containerd
{ [ -x /usr/sbin/runc ] || [ -x /usr/bin/runc ]; } || need_pkgs+=(runc)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
# Metrics: a real Prometheus scrapes a cloud and edges; promtool checks the text.
need prometheus prometheus

# A Rust toolchain: the machine's own (rustup) if present, else Debian's.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  need_pkgs+=(rustc-web cargo-web)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "ci/setup.sh: installing ${need_pkgs[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
  # mosquitto is installed only as a test peer (tests start their own on a
  # free port); the packaged service would hold hive's default 1883.
  case " ${need_pkgs[*]} " in *" mosquitto "*)
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || $SUDO service mosquitto stop >/dev/null 2>&1 || true ;;
  esac
  # Likewise Prometheus: the test starts its own on a free port.
  case " ${need_pkgs[*]} " in *" prometheus "*)
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || $SUDO service prometheus stop >/dev/null 2>&1 || true ;;
  esac
fi
# Debian's kubectl 1.20 for the API tests, unpacked into a cache dir (not
# installed over the machine's own kubectl).
KDIR=/var/cache/hive-kubectl
if [ ! -x "$KDIR/root/usr/bin/kubectl" ]; then
  echo "ci/setup.sh: fetching Debian's kubernetes-client into $KDIR"
  $SUDO mkdir -p "$KDIR"
  ( cd "$KDIR" && { ls kubernetes-client_*.deb >/dev/null 2>&1 || $SUDO apt-get download kubernetes-client 2>/dev/null || { $SUDO apt-get update -q && $SUDO apt-get download kubernetes-client; }; } \
    && $SUDO dpkg -x kubernetes-client_*.deb root )
fi
"$KDIR/root/usr/bin/kubectl" version --client --short 2>/dev/null | sed 's/^/ci\/setup.sh: kubectl /' || true
# The official Kubernetes Python client (PyPI), for tests/python_client.rs.
VENV=/var/cache/hive-venv
PYCLIENT=kubernetes==37.0.2
if ! "$VENV/bin/python" -c 'import kubernetes, sys; sys.exit(kubernetes.__version__ != sys.argv[1])' "${PYCLIENT#*==}" >/dev/null 2>&1; then
  echo "ci/setup.sh: installing $PYCLIENT into $VENV"
  $SUDO python3 -m venv "$VENV"
  $SUDO "$VENV/bin/pip" install -q --disable-pip-version-check "$PYCLIENT"
fi
"$VENV/bin/python" -c 'import kubernetes; print("ci/setup.sh: python kubernetes client", kubernetes.__version__)'
# gRPC for the DMI test's mapper (tests/python/dmi/mapper.py): grpcio serves
# its DeviceMapperService, grpcio-tools compiles the vendored api.proto.
GRPC=1.85.4
if ! "$VENV/bin/python" -c 'import grpc, grpc_tools, sys; sys.exit(grpc.__version__ != sys.argv[1])' "$GRPC" >/dev/null 2>&1; then
  echo "ci/setup.sh: installing grpcio $GRPC and grpcio-tools $GRPC into $VENV"
  [ -x "$VENV/bin/pip" ] || $SUDO python3 -m venv "$VENV"
  $SUDO "$VENV/bin/pip" install -q --disable-pip-version-check "grpcio==$GRPC" "grpcio-tools==$GRPC"
fi
"$VENV/bin/python" -c 'import grpc; print("ci/setup.sh: python grpcio", grpc.__version__)'
# rustfmt and clippy for the format and lint steps of ci/test.sh.
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
command -v cargo-clippy >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-clippy" ] || { echo "ci/setup.sh: clippy is missing (rustup component add clippy)"; exit 1; }
echo "ci/setup.sh: $(cargo --version)"
