#!/usr/bin/env bash
# Release numbers as JSON: tarball size, cold start to ready (daemon spawn -> `camctl status` says
# running) on the sim board under qemu-user emulation, and the installed footprint on the board
# (du of the unpacked release, with a breakdown). Cold: a fresh data dir; the page cache is not
# dropped. Emulation is several times slower than a real Cortex-A53/A55 board.
#   sudo scripts/release/measure.sh [tarball]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
summary=$(bash "$(dirname "$0")/prove-arm64.sh" "$@" 2>/dev/null | tail -n1)
[[ $summary == '{"proved":true'* ]] || die "prove-arm64.sh failed; run it directly to see why"
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$summary")
rel=$CAMD_ARM64_ROOT/opt/camd/releases/$version
kb() { du -sk "$rel/$1" | cut -f1; }
printf '%s,"installedBreakdownBytes":{"node_modules":%d,"runtime":%d,"dist":%d,"model":%d,"onnxruntime":%d},"emulated":"qemu-user aarch64 on %s","cores":%d}\n' \
  "${summary%\}}" $(( $(kb node_modules) * 1024 )) $(( $(kb runtime) * 1024 )) $(( $(kb dist) * 1024 )) \
  $(( $(kb src/detect/models) * 1024 )) $(( $(kb node_modules/onnxruntime-node) * 1024 )) "$(uname -m)" "$(nproc)"
