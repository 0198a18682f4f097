#!/usr/bin/env bash
# Lay out a camd release and pack it as ONE versioned tarball:
#   camd-<version>-linux-<arch>.tar.gz  ->  camd-<version>/{release.json, bin/, dist/, node_modules/,
#   board/*.json, src/detect/models/, runtime/bin/node, systemd/, share/config-defaults.json,
#   share/update-keys.json}  and, when a signing key is set, camd-<version>-linux-<arch>.manifest.json
# Env: CAMD_SIGNING_KEY_FILE / CAMD_SIGNING_KEY, CAMD_MIN_VERSION (sign-manifest.mjs), CAMD_UPDATE_KEYS_FILE.
# Shared by Dockerfile.cross (target stage) and scripts/release/build-release.sh, so both routes
# produce the same layout. Inputs are already built for the target; this only copies, checks and packs.
#   assemble.sh --arch arm64 --dist DIR --modules DIR --node FILE --node-version V --out DIR
#               [--repo DIR] [--builder NAME]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
arch='' dist='' modules='' node_bin='' node_version='' out='' builder=${CAMD_BUILDER:-unknown}
while (($#)); do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --dist) dist=$2; shift 2 ;;
    --modules) modules=$2; shift 2 ;;
    --node) node_bin=$2; shift 2 ;;
    --node-version) node_version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --repo) repo=$2; shift 2 ;;
    --builder) builder=$2; shift 2 ;;
    *) echo "assemble: unknown argument $1" >&2; exit 2 ;;
  esac
done
fail() { echo "assemble: $*" >&2; exit 1; }
[[ -n $arch && -n $dist && -n $modules && -n $node_bin && -n $node_version && -n $out ]] ||
  fail "usage: assemble.sh --arch A --dist DIR --modules DIR --node FILE --node-version V --out DIR"
[[ -f $dist/src/main.js && -f $dist/src/cli/camctl.js ]] || fail "$dist is not a compiled camd (no src/main.js, src/cli/camctl.js)"
[[ -d $modules ]] || fail "no node_modules at $modules"
[[ -x $node_bin ]] || fail "node binary $node_bin is missing or not executable"

# A dev build may stamp its own version (CAMD_VERSION=0.1.0-dev.3); it names the release dir on
# the board, so it must be a plain token.
version=${CAMD_VERSION:-$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$repo/package.json" | head -n1)}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || fail "bad version '$version'"
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
commit=${CAMD_COMMIT:-$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
name=camd-$version
tarball=$name-linux-$arch.tar.gz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/$name
mkdir -p "$r"/{bin,runtime/bin,board,systemd,share,src/detect/models}

cp -a "$dist" "$r/dist"
cp -a "$modules" "$r/node_modules"
cp "$repo/package.json" "$repo/package-lock.json" "$r/"
# Board files keep their place beside src/detect/models: they name the model as
# ../src/detect/models/FastestDet.onnx relative to board/.
cp "$repo"/board/*.json "$r/board/"
for f in FastestDet.onnx FastestDet.LICENSE.md coco.names; do
  [[ -f $repo/src/detect/models/$f ]] || fail "missing model file src/detect/models/$f"
  cp "$repo/src/detect/models/$f" "$r/src/detect/models/"
done
install -m 0755 "$node_bin" "$r/runtime/bin/node"
cp "$repo"/scripts/systemd/* "$r/systemd/"
install -m 0755 "$here/board/camd" "$here/board/camctl" "$here/board/camd-setup-board" "$here/board/camd-boot-guard" "$r/bin/"
# The RTSP helper (src/rtsp/service.ts looks for it in share/rtsp/ of a release).
install -D -m 0755 "$repo/scripts/rtsp/camd-rtsp.py" "$r/share/rtsp/camd-rtsp.py"

bash "$here/prune.sh" "$r/node_modules" "$arch"
# The sources' own compiled tests and scripts never ship (tsconfig.build.json covers src, drivers, board).
rm -rf "$r/dist/test" "$r/dist/scripts"
node "$here/check-elf.mjs" "$arch" "$r/node_modules" "$r/runtime" >&2

# Factory defaults, for reference on the board (the daemon derives them from its schema).
node --input-type=module -e "
  const m = await import('$r/dist/src/config/schema.js');
  process.stdout.write(JSON.stringify(m.defaultConfig(), null, 2) + '\n');" > "$r/share/config-defaults.json"

# Public keys this release trusts for its own updates (src/update/manifest.ts). Without a list the
# release still installs by deploy.sh, but refuses every over-the-air update.
if [[ -n ${CAMD_UPDATE_KEYS_FILE:-} ]]; then
  node "$here/sign-manifest.mjs" --check-keys "$CAMD_UPDATE_KEYS_FILE" || fail "CAMD_UPDATE_KEYS_FILE $CAMD_UPDATE_KEYS_FILE is not a usable update-keys.json"
  cp "$CAMD_UPDATE_KEYS_FILE" "$r/share/update-keys.json"
else
  echo "assemble: WARNING: CAMD_UPDATE_KEYS_FILE is not set: this release trusts no update keys and will refuse every over-the-air update" >&2
  echo '{ "keys": [] }' > "$r/share/update-keys.json"
fi

cat > "$r/release.json" <<JSON
{
  "name": "camd",
  "version": "$version",
  "platform": "linux",
  "arch": "$arch",
  "node": "$node_version",
  "commit": "$commit",
  "builtAt": "$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)",
  "builder": "$builder"
}
JSON

chmod -R u+rwX,go+rX,go-w "$r"
mkdir -p "$out"
# Reproducible: sorted names, fixed owner and mtime, no gzip timestamp.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$work" -cf - "$name" | gzip -9n > "$out/$tarball.tmp"
mv "$out/$tarball.tmp" "$out/$tarball"
# Signed manifest next to the tarball (what devices verify before they unpack anything). One left
# by an earlier build of this version would describe another tarball: it goes first.
rm -f "$out/${tarball%.tar.gz}.manifest.json"
if [[ -n ${CAMD_SIGNING_KEY_FILE:-}${CAMD_SIGNING_KEY:-} ]]; then
  # An unsigned tarball must not be left where a signed one was expected.
  node "$here/sign-manifest.mjs" "$out/$tarball" "$r/release.json" >&2 || { rm -f "$out/$tarball"; fail "signing $tarball failed"; }
else
  echo "assemble: WARNING: no CAMD_SIGNING_KEY_FILE / CAMD_SIGNING_KEY: $tarball is not signed; devices refuse it as an update (deploy.sh still installs it)" >&2
fi
echo "$out/$tarball"
