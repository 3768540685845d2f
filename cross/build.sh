#!/usr/bin/env bash
# Fully static, stripped `hive` for x86_64, aarch64, armv7 (hard-float) and
# riscv64 (musl), plus release tarballs in dist/. On a fresh Debian 12 machine
# it installs what it needs (idempotent). Usage:
#   cross/build.sh                     # all four targets, full image
#   cross/build.sh aarch64 riscv64     # some (short names or full triples)
#   cross/build.sh --image edge aarch64          # edge-only image
#   cross/build.sh --features edge,eventbus aarch64   # any cargo feature set
# Images: full (default features: both roles, every module, benches) and
# edge (features edge,edged,eventbus,dmi). Another feature list is named after
# its features. Binary: target/cross/<triple>/<image>/hive; tarball
# dist/hive-<version>-<triple>[-<image>].tar.gz. Images share one target
# dir, so std and the common crates are built once per target.
# Env: HIVE_CROSS_DIR (toolchain cache, default /var/cache/hive-cross),
#      CLEAN=1 (rebuild from scratch). Route and traps: cross/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${HIVE_CROSS_DIR:-/var/cache/hive-cross}
MUSL_VER=1.2.3
MUSL_SHA256=7d5b0b6062521e4627e099e4c9dc8248d32a30285e959b7eecaa780cf8cfd4a4
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

triple() {
  case $1 in
    x86_64|amd64|x86_64-unknown-linux-musl) echo x86_64-unknown-linux-musl;;
    aarch64|arm64|aarch64-unknown-linux-musl) echo aarch64-unknown-linux-musl;;
    armv7|armhf|armv7-unknown-linux-musleabihf) echo armv7-unknown-linux-musleabihf;;
    riscv64|riscv64gc-unknown-linux-musl) echo riscv64gc-unknown-linux-musl;;
    *) echo "cross/build.sh: unknown target '$1' (x86_64, aarch64, armv7, riscv64)" >&2; return 2;;
  esac
}
FEATURES=""; IMAGE=full
while [ $# -gt 0 ]; do
  case $1 in
    --image) case ${2:-} in full) FEATURES="";; edge) FEATURES=edge,edged,eventbus,dmi;;
               *) echo "cross/build.sh: --image must be full or edge, not '${2:-}'" >&2; exit 2;; esac; shift 2;;
    --features) [ -n "${2:-}" ] || { echo "cross/build.sh: --features needs a comma-separated list" >&2; exit 2; }
               FEATURES=$2; shift 2;;
    *) break;;
  esac
done
case $FEATURES in "") IMAGE=full;; edge,edged,eventbus,dmi) IMAGE=edge;; *) IMAGE=$(echo "$FEATURES" | tr ',' '+');; esac
FEATURE_ARGS=(); [ -n "$FEATURES" ] && FEATURE_ARGS=(--no-default-features --features "$FEATURES")
SUFFIX=""; [ "$IMAGE" = full ] || SUFFIX="-$IMAGE"
TARGETS=()
for t in "${@:-x86_64 aarch64 armv7 riscv64}"; do for u in $t; do TARGETS+=("$(triple "$u")"); done; done

# ------------------------------------------------------------------ 1. packages
PKGS="rustc-web cargo-web libstd-rust-web-dev rust-web-src gcc libc6-dev gcc-aarch64-linux-gnu
 gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu libc6-dev-arm64-cross libc6-dev-armhf-cross
 libc6-dev-riscv64-cross musl-tools musl-dev musl-dev:arm64 musl-dev:armhf qemu-user-static file
 make curl ca-certificates xz-utils"
if ! dpkg-query -W rustc-web rust-web-src musl-dev:arm64 musl-dev:armhf qemu-user-static gcc-riscv64-linux-gnu \
     libc6-dev-riscv64-cross musl-tools file >/dev/null 2>&1; then
  for a in arm64 armhf; do dpkg --print-foreign-architectures | grep -qx $a || $SUDO dpkg --add-architecture $a; done
  mkdir -p "$CACHE"
  if ! $SUDO apt-get update -q > "$CACHE/apt-update.log" 2>&1 || grep -q '^E:' "$CACHE/apt-update.log"; then
    # Trap seen on Debian mirrors: the armhf index of bookworm-security mid-sync
    # fails the whole update. hive needs nothing armhf from -security.
    f=/etc/apt/sources.list.d/debian.sources
    if [ -f $f ] && ! grep -q '^Architectures:' $f; then
      cp -n $f "$CACHE/debian.sources.orig"
      awk 'BEGIN{RS="";ORS="\n\n"} /debian-security/{$0=$0"\nArchitectures: amd64 arm64"} {print}' "$CACHE/debian.sources.orig" | $SUDO tee $f >/dev/null
    fi
    $SUDO apt-get update -q
  fi
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $PKGS
fi

# Debian's toolchain (rustc-web 1.96 + its std source for -Zbuild-std), not rustup's.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
unset RUSTUP_TOOLCHAIN
RV=$(dpkg-query -W -f='${Version}' rustc-web); SV=$(dpkg-query -W -f='${Version}' rust-web-src)
[ "$RV" = "$SV" ] || { echo "cross/build.sh: rustc-web $RV differs from rust-web-src $SV" >&2; exit 1; }
test -f "$(rustc --print sysroot)/lib/rustlib/src/rust/library/Cargo.lock" \
  || { echo "cross/build.sh: rust-web-src is not where -Zbuild-std looks" >&2; exit 1; }

# ------------------------------------------------------------------ 2. musl for riscv64
# Debian bookworm has no riscv64 musl package: build Debian's musl source.
RVMUSL=$CACHE/sysroots/riscv64-linux-musl
if [[ " ${TARGETS[*]} " == *riscv64* ]] && [ ! -f "$RVMUSL/lib/libc.a" ]; then
  mkdir -p "$CACHE/src" && cd "$CACHE/src"
  [ -f musl_$MUSL_VER.orig.tar.gz ] || curl -fsSLO "http://deb.debian.org/debian/pool/main/m/musl/musl_$MUSL_VER.orig.tar.gz"
  echo "$MUSL_SHA256  musl_$MUSL_VER.orig.tar.gz" | sha256sum -c --quiet -
  rm -rf musl-$MUSL_VER && tar xzf musl_$MUSL_VER.orig.tar.gz && cd musl-$MUSL_VER
  ./configure --target=riscv64-linux-gnu CROSS_COMPILE=riscv64-linux-gnu- CC=riscv64-linux-gnu-gcc \
      --prefix="$RVMUSL" --disable-shared > "$CACHE/musl-riscv64.log"
  make -j"$(nproc)" >> "$CACHE/musl-riscv64.log" && make install >> "$CACHE/musl-riscv64.log"
  cd "$ROOT"
fi

# ------------------------------------------------------------------ 3. linker wrappers
mk_toolchain() { # <triple> <gcc-prefix> <musl-libdir> <musl-incdir>
  local T=$1 P=$2 LIB=$3 INC=$4 D=$CACHE/toolchain/$1
  mkdir -p "$D"
  sed -e "s#@LIB@#$LIB#g" -e "s#@INC@#$INC#g" "$ROOT/cross/musl.specs.in" > "$D/musl.specs"
  printf '#!/bin/sh\nexec %s-gcc "$@" -specs %s/musl.specs\n' "$P" "$D" > "$D/cc"; chmod +x "$D/cc"
  # Rust's musl `unwind` crate links a static libunwind.a; Debian ships none,
  # so libgcc_eh.a stands in (+ a _dl_find_object shim off ARM).
  cp "$($P-gcc -print-file-name=libgcc_eh.a)" "$D/libunwind.a"
  case $T in arm*) ;; *) "$D/cc" -O2 -c "$ROOT/cross/dlfo_compat.c" -o "$D/dlfo_compat.o"; $P-ar rs "$D/libunwind.a" "$D/dlfo_compat.o" 2>/dev/null;; esac
}
for T in "${TARGETS[@]}"; do
  case $T in
    x86_64-*)  mk_toolchain $T x86_64-linux-gnu    /usr/lib/x86_64-linux-musl    /usr/include/x86_64-linux-musl;;
    aarch64-*) mk_toolchain $T aarch64-linux-gnu   /usr/lib/aarch64-linux-musl   /usr/include/aarch64-linux-musl;;
    armv7-*)   mk_toolchain $T arm-linux-gnueabihf /usr/lib/arm-linux-musleabihf /usr/include/arm-linux-musleabihf;;
    riscv64*)  mk_toolchain $T riscv64-linux-gnu   "$RVMUSL/lib"                 "$RVMUSL/include";;
  esac
done

# ------------------------------------------------------------------ 4. build + package
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p dist
RESULTS=dist/build-report$SUFFIX.tsv
printf 'target\timage\tbuild_s\tsize_bytes\n' > $RESULTS
for T in "${TARGETS[@]}"; do
  U=$(echo "$T" | tr 'a-z-' 'A-Z_'); L=$(echo "$T" | tr '-' '_')
  D=$CACHE/toolchain/$T
  case $T in x86_64-*) AR=x86_64-linux-gnu-ar;; aarch64-*) AR=aarch64-linux-gnu-ar;; armv7-*) AR=arm-linux-gnueabihf-ar;; riscv64*) AR=riscv64-linux-gnu-ar;; esac
  export "CARGO_TARGET_${U}_LINKER=$D/cc"
  export "CARGO_TARGET_${U}_RUSTFLAGS=-C target-feature=+crt-static -C link-self-contained=no -C relocation-model=static -C force-unwind-tables=no -L native=$D"
  export "CC_${L}=$D/cc" "AR_${L}=$AR"
  TD=$ROOT/target/cross
  [ "${CLEAN:-0}" = 1 ] && rm -rf "$TD/$T"
  echo "=== $T ($IMAGE image${FEATURES:+: features $FEATURES})"
  s=$(date +%s)
  # std without its backtrace symbolizer (gimli, useless in a stripped
  # binary) and with its size-optimised algorithms; no unwind tables
  # (panic = "abort": a panic still prints its message and location).
  cargo build --release --locked -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
    --target "$T" --target-dir "$TD" "${FEATURE_ARGS[@]}"
  secs=$(( $(date +%s) - s ))
  mkdir -p "$TD/$T/$IMAGE"
  BIN=$TD/$T/$IMAGE/hive
  cp "$TD/$T/release/hive" "$BIN"
  size=$(stat -c %s "$BIN")
  echo "$T: ${secs} s, $size bytes: $(file -b "$BIN")"
  printf '%s\t%s\t%s\t%s\n' "$T" "$IMAGE" "$secs" "$size" >> $RESULTS
  # Tarball: binary, profiles, systemd units, install notes, license.
  STAGE=$(mktemp -d); P=hive-$VERSION-$T$SUFFIX
  mkdir -p "$STAGE/$P/profiles" "$STAGE/$P/systemd"
  cp "$BIN" "$STAGE/$P/hive"
  for role in cloud edge; do  # only the roles this image has
    if [ -z "$FEATURES" ] || [[ ",$FEATURES," == *",$role,"* ]]; then
      cp "profiles/$role.toml" "$STAGE/$P/profiles/"; cp "cross/package/hive-$role.service" "$STAGE/$P/systemd/"
    fi
  done
  cp cross/package/INSTALL.md "$STAGE/$P/README.md"
  cp LICENSE "$STAGE/$P/LICENSE"
  tar -C "$STAGE" --owner=0 --group=0 --sort=name -czf "dist/$P.tar.gz" "$P"
  rm -rf "$STAGE"
done
(cd dist && sha256sum hive-*.tar.gz > SHA256SUMS)
echo "dist/:"; ls -l dist/
