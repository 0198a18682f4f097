#!/usr/bin/env bash
# PROOF that an arm64 release runs: unpack the tarball into the Debian arm64 root (as on the board:
# /opt/camd/releases/<version> + a current symlink), check every native addon loads for arm64 and
# the detector model runs in onnxruntime, boot the daemon on the sim board under qemu-user
# emulation, wait for `camctl status` to answer lifecycle "running", print it, stop the daemon with
# SIGTERM and require a clean exit. The last stdout line is a JSON summary (used by measure.sh).
#   sudo scripts/release/prove-arm64.sh [camd-<version>-linux-arm64.tar.gz]   (default: newest built)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ $(id -u) -eq 0 ]] || die "run as root (chroot)"
R=$CAMD_ARM64_ROOT
[[ -x $R/usr/local/bin/node ]] || die "no arm64 root at $R: run scripts/release/arm64-root.sh first"

tarball=${1:-$(ls -1t "$CAMD_CACHE"/out/camd-*-linux-arm64.tar.gz 2>/dev/null | head -n1)}
[[ -f $tarball ]] || die "no release tarball (build one: scripts/release/build-release.sh)"
timeout=${CAMD_PROVE_TIMEOUT:-180}

if ensure_binfmt; then root_mount "$R"; else log "binfmt_misc unusable: proot fallback"; fi
version=$(tar -xzOf "$tarball" --wildcards '*/release.json' | sed -n 's/^ *"version": "\([^"]*\)".*/\1/p')
rel=/opt/camd/releases/$version
work=/var/tmp/camd-prove
pid=''
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] && root_umount "$R"
  return 0
}
trap cleanup EXIT

log "unpacking $(basename "$tarball") into $R$rel"
# Only this release in the root: earlier proofs leave nothing behind.
rm -rf "$R/opt/camd/releases" "$R$work" && mkdir -p "$R$rel" "$R$work/card"
tar -xzf "$tarball" -C "$R$rel" --strip-components=1 --no-same-owner
ln -sfn "releases/$version" "$R/opt/camd/.current.tmp" && mv -T "$R/opt/camd/.current.tmp" "$R/opt/camd/current"
installed_kb=$(du -sk "$R$rel" | cut -f1)

log "native addons under emulation"
in_root /opt/camd/current/runtime/bin/node --input-type=module -e "
  import { createRequire } from 'node:module';
  const require = createRequire('/opt/camd/current/package.json');
  const out = { arch: process.arch, node: process.version };
  for (const m of ['epoll', 'i2c-bus', '@serialport/bindings-cpp', 'onoff']) { require(m); out[m] = 'loaded'; }
  const ort = require('onnxruntime-node');
  const s = await ort.InferenceSession.create('/opt/camd/current/src/detect/models/FastestDet.onnx');
  const name = s.inputNames[0];
  const r = await s.run({ [name]: new ort.Tensor('float32', new Float32Array(3 * 352 * 352), [1, 3, 352, 352]) });
  out.onnx = s.inputNames.concat(Object.values(r).map((t) => t.dims.join('x'))).join(' -> ');
  console.log(JSON.stringify(out));
" >&2

log "booting the daemon on the sim board (arm64, emulated)"
t0=$(date +%s%N)
in_root_exec /opt/camd/current/bin/camd --board /opt/camd/current/board/sim.json \
  --data-dir $work/data --run-dir $work/run --card-dir $work/card > "$R$work/daemon.log" 2>&1 &
pid=$!
status=''
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$R$work/daemon.log" >&2; die "the daemon exited before it was running"
  fi
  if [[ -S $R$work/run/camd.sock ]] &&
    status=$(in_root /opt/camd/current/bin/camctl --socket $work/run/camd.sock --json status 2>/dev/null) &&
    [[ $status == *'"lifecycle":"running"'* ]]; then
    break
  fi
  (( ($(date +%s%N) - t0) / 1000000000 < timeout )) || { tail -n 40 "$R$work/daemon.log" >&2; die "not running within ${timeout}s"; }
  sleep 0.5
done
answered_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# Ready = the daemon's own "camd running" log line (the moment it sends READY=1), against the spawn
# time on the same clock; polling with camctl (itself a Node process under emulation) adds seconds.
running_at=$(grep -m1 '"msg":"camd running"' "$R$work/daemon.log" | sed -n 's/.*"time":\([0-9]*\).*/\1/p')
if [[ -n $running_at ]]; then ready_ms=$(( running_at - t0 / 1000000 )); else ready_ms=$answered_ms; fi
log "ready (\"camd running\") after ${ready_ms} ms; camctl status answered running after ${answered_ms} ms:"
c0=$(date +%s%N)
in_root /opt/camd/current/bin/camctl --socket $work/run/camd.sock status >&2
camctl_ms=$(( ($(date +%s%N) - c0) / 1000000 ))

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=''
[[ $rc -eq 0 ]] || { tail -n 40 "$R$work/daemon.log" >&2; die "the daemon exited $rc on SIGTERM"; }
log "SIGTERM: clean exit"
printf '{"proved":true,"version":"%s","coldStartToReadyMs":%d,"firstCamctlRunningMs":%d,"camctlStatusMs":%d,"installedBytes":%d,"tarballBytes":%d}\n' \
  "$version" "$ready_ms" "$answered_ms" "$camctl_ms" $((installed_kb * 1024)) "$(stat -c %s "$tarball")"
