#!/usr/bin/env bash
# Board side of scripts/deploy.sh (uploaded next to the tarball and run there as root): unpack a
# release into <base>/releases/<version>, switch <base>/current to it ATOMICALLY (rename of a temp
# symlink), restart the unit, wait until `camctl status` says lifecycle "running" from the NEW
# release, and otherwise switch back to the previous release and restart that.
# Runs entirely on the board, so a dropped SSH connection cannot leave a half-done switch.
# Exit: 0 running the new release; 3 failed and rolled back (or nothing to roll back to);
#       4 failed and the rollback failed too; 1 bad input (nothing changed); 75 another deploy runs.
set -euo pipefail

tarball='' base=/opt/camd unit=camd timeout=90 keep=2 setup=yes socket=/run/camd/camd.sock
while (($#)); do
  case $1 in
    --tarball) tarball=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --unit) unit=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --socket) socket=$2; shift 2 ;;
    --no-setup) setup=no; shift ;;
    *) echo "deploy: unknown argument $1" >&2; exit 1 ;;
  esac
done
say() { printf 'deploy: %s\n' "$*" >&2; }
bad() { say "$*"; exit 1; }
[[ -f $tarball ]] || bad "no release tarball at '$tarball'"
[[ $timeout =~ ^[0-9]+$ && $keep =~ ^[0-9]+$ && $keep -ge 2 ]] || bad "--timeout must be seconds, --keep at least 2"

mkdir -p "$base/releases"
exec 9>"$base/.deploy.lock"
flock -n 9 || { say "another deploy is running on this board"; exit 75; }

# --- what is this release? (release.json, one key per line, written by assemble.sh) ---
meta=$(tar -xzOf "$tarball" --wildcards '*/release.json' 2>/dev/null) || bad "$tarball has no release.json: not a camd release"
field() { sed -n "s/^ *\"$1\": \"\([^\"]*\)\".*/\1/p" <<<"$meta"; }
version=$(field version) arch=$(field arch)
[[ $version =~ ^[0-9A-Za-z.+-]+$ ]] || bad "release.json has no usable version"
case $(uname -m) in aarch64) here_arch=arm64 ;; x86_64) here_arch=x64 ;; armv7l) here_arch=arm ;; *) here_arch=$(uname -m) ;; esac
[[ $arch == "$here_arch" ]] || bad "release $version is for $arch, this board is $here_arch"

# --- unpack next to the others; a different build of a version already here gets its own dir ---
sum=$(sha256sum "$tarball" | cut -c1-64)
id=$version
if [[ -d $base/releases/$id && $(cat "$base/releases/$id/.tarball-sha256" 2>/dev/null) != "$sum" ]]; then
  id=$version-${sum:0:8}
fi
rel=$base/releases/$id
# Always unpacked afresh, even when this build is already there: the camd user may write
# /opt/camd (over-the-air updates), and this script runs the release's camd-setup-board as root,
# so it must run the tarball's own copy, never one a compromised daemon could have changed.
tmp=$base/releases/.incoming-$id
rm -rf "$tmp" && mkdir -p "$tmp"
tar -xzf "$tarball" -C "$tmp" --strip-components=1 --no-same-owner
[[ -x $tmp/bin/camd && -x $tmp/bin/camctl ]] || { rm -rf "$tmp"; bad "release $id lacks bin/camd or bin/camctl"; }
echo "$sum" > "$tmp/.tarball-sha256"
rm -rf "$rel" && mv -T "$tmp" "$rel"
say "unpacked $id into $rel"
rm -f "$tarball"

if [[ $setup == yes ]]; then "$rel/bin/camd-setup-board" --base "$base"; fi

# The release to fall back to: what runs now, or (redeploying the running release) the one before.
link_id() { [[ -L $base/$1 ]] && basename "$(readlink "$base/$1")" || true; }
prev=$(link_id current)
[[ $prev == "$id" ]] && prev=$(link_id previous)
[[ -n $prev && $prev != "$id" && -d $base/releases/$prev ]] || prev=''

# Atomic: rename(2) of a fresh symlink over the old one; readers see old or new, never neither.
point() {
  ln -sfn "releases/$1" "$base/.current.tmp"
  mv -T "$base/.current.tmp" "$base/current"
}

# Code under /opt/camd is writable by the camd user: root runs it only as camd.
as_camd() {
  if id camd >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then setpriv --reuid camd --regid camd --init-groups -- "$@"; else "$@"; fi
}

# Healthy = the unit's main process runs from release $1 and answers lifecycle "running".
healthy() {
  local want=$1 deadline=$((SECONDS + timeout)) pid cwd out
  while ((SECONDS < deadline)); do
    if systemctl is-failed --quiet "$unit"; then
      why="the unit failed"
      return 1
    fi
    pid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null || echo 0)
    if [[ $pid =~ ^[1-9][0-9]*$ ]]; then
      cwd=$(readlink -f "/proc/$pid/cwd" 2>/dev/null || true)
      if [[ $cwd == "$(readlink -f "$base/releases/$want")" ]] &&
        out=$(as_camd "$base/releases/$want/bin/camctl" --socket "$socket" --json status 2>/dev/null) &&
        [[ $out == *'"ok":true'* && $out == *'"lifecycle":"running"'* ]]; then
        return 0
      fi
    fi
    sleep 1
  done
  why="no healthy \`camctl status\` (lifecycle running) within ${timeout}s"
  return 1
}

start() {
  systemctl daemon-reload
  # A crash-looping release may have used up StartLimitBurst: clear it, or the restart is refused.
  systemctl reset-failed "$unit" 2>/dev/null || true
  systemctl restart "$unit" || true   # a failed start shows in is-failed below
  healthy "$1"
}

why=''
point "$id"
say "switched current -> $id${prev:+ (previous: $prev)}; restarting $unit"
if start "$id"; then
  # Keep current, previous, and the newest others up to --keep in all.
  rm -f "$rel/.failed"
  if [[ -n $prev ]]; then ln -sfn "releases/$prev" "$base/.previous.tmp" && mv -T "$base/.previous.tmp" "$base/previous"; fi
  mapfile -t old < <(cd "$base/releases" && ls -1t | grep -vxF -e "$id" -e "${prev:-/}" || true)
  for ((i = keep - 2; i < ${#old[@]}; i++)); do rm -rf "${base:?}/releases/${old[$i]}"; done
  say "OK: camd $id is running"
  exit 0
fi

say "FAILED: release $id did not come up: $why"
journalctl -u "$unit" -n 40 --no-pager -o cat 2>/dev/null | sed 's/^/  | /' >&2 || true
touch "$rel/.failed"
if [[ -z $prev ]]; then
  say "no previous release to roll back to; current stays at the failed $id"
  exit 3
fi
point "$prev"
say "rolled back: current -> $prev; restarting $unit"
if start "$prev"; then
  say "rollback OK: camd $prev is running again (the failed release stays in $rel for inspection)"
  exit 3
fi
say "ROLLBACK FAILED: $prev did not come up either: $why"
exit 4
