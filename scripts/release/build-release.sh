#!/usr/bin/env bash
# The arm64 release WITHOUT Docker: TypeScript compiled here (on the build machine), production
# node_modules installed inside a Debian arm64 root under qemu-user emulation (so epoll and i2c-bus
# compile for arm64 with that root's gcc), then the same assemble.sh as Dockerfile.cross.
#   sudo scripts/release/build-release.sh [--out DIR]      -> prints the tarball path
# Env: CAMD_ARM64_ROOT, CAMD_CACHE (see lib.sh), CAMD_VERSION (dev version stamp).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out=$CAMD_CACHE/out
while (($#)); do
  case $1 in
    --out) out=$2; shift 2 ;;
    *) die "unknown argument $1 (usage: build-release.sh [--out DIR])" ;;
  esac
done
[[ $(id -u) -eq 0 ]] || die "run as root (the arm64 root is used through chroot)"

bash "$(dirname "$0")/arm64-root.sh"
R=$CAMD_ARM64_ROOT
ensure_binfmt && { root_mount "$R"; trap 'root_umount "$R"' EXIT; }

stage=$(mktemp -d "$CAMD_CACHE/stage.XXXXXX")
trap 'rm -rf "$stage"; [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] && root_umount "$R"' EXIT

log "compiling TypeScript on the build machine"
[[ -x $REPO_ROOT/node_modules/.bin/tsc ]] || (cd "$REPO_ROOT" && npm ci --no-audit --no-fund)
(cd "$REPO_ROOT" && node_modules/.bin/tsc -p tsconfig.build.json --outDir "$stage/dist")

# Production dependencies for arm64, installed in the arm64 root. Reused while package.json,
# package-lock.json and .npmrc are unchanged (native builds under emulation take minutes).
b=$R/build/camd
key=$(cat "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json" "$REPO_ROOT/.npmrc" | sha256sum | cut -c1-16)
if [[ $(cat "$b/.deps-key" 2>/dev/null) != "$key" || ! -d $b/node_modules ]]; then
  log "npm ci --omit=dev inside the arm64 root (emulated; native addons compile for arm64)"
  rm -rf "$b" && mkdir -p "$b"
  cp "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json" "$REPO_ROOT/.npmrc" "$b/"
  in_root sh -c 'cd /build/camd && npm ci --omit=dev --no-audit --no-fund && npm install-scripts ls'
  echo "$key" > "$b/.deps-key"
else
  log "reusing arm64 node_modules (dependencies unchanged)"
fi

CAMD_BUILDER=debootstrap bash "$(dirname "$0")/assemble.sh" --arch arm64 --dist "$stage/dist" \
  --modules "$b/node_modules" --node "$R/usr/local/bin/node" --node-version "$CAMD_NODE_VERSION" \
  --repo "$REPO_ROOT" --out "$out"
