#!/usr/bin/env bash
# Prune a production node_modules for ONE target (linux-<arch>): drop other platforms' native
# binaries (onnxruntime-node alone ships ~270 MB for darwin/win32/x64), native build
# intermediates, type declarations and source maps. Runs in the Docker target stage and in
# scripts/release/build-release.sh, so both routes ship the same tree.
#   prune.sh <node_modules dir> <arm64|x64>
set -euo pipefail
nm=${1:?usage: prune.sh <node_modules> <arch>}
arch=${2:?usage: prune.sh <node_modules> <arch>}
[[ -d $nm ]] || { echo "prune: no such directory: $nm" >&2; exit 1; }
case $arch in arm64|x64) ;; *) echo "prune: unsupported arch $arch (arm64, x64)" >&2; exit 1 ;; esac

# onnxruntime-node: bin/napi-v*/<platform>/<arch>/ -> keep linux/<arch> only.
for napi in "$nm"/onnxruntime-node/bin/napi-v*; do
  [[ -d $napi ]] || continue
  find "$napi" -mindepth 1 -maxdepth 1 -type d ! -name linux -exec rm -rf {} +
  [[ -d $napi/linux ]] && find "$napi/linux" -mindepth 1 -maxdepth 1 -type d ! -name "$arch" -exec rm -rf {} +
  [[ -d $napi/linux/$arch ]] || { echo "prune: onnxruntime-node has no linux/$arch binary" >&2; exit 1; }
done

# node-gyp-build prebuilds (serialport): keep linux-<arch> only.
while IFS= read -r -d '' pre; do
  find "$pre" -mindepth 1 -maxdepth 1 -type d ! -name "linux-$arch" -exec rm -rf {} +
done < <(find "$nm" -type d -name prebuilds -prune -print0)

# node-gyp build trees: keep only the built addons.
while IFS= read -r -d '' build; do
  find "$build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  [[ -d $build/Release ]] && find "$build/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
done < <(find "$nm" -type d -name build -path '*/build' -exec test -f '{}/../binding.gyp' ';' -prune -print0)

# Test-coverage reports some packages publish (fluent-ffmpeg: 11 MB): a package-root coverage/
# holding lcov output.
while IFS= read -r -d '' cov; do
  [[ -e $cov/lcov.info || -d $cov/lcov-report ]] && rm -rf "$cov"
done < <(find "$nm" -mindepth 2 -maxdepth 3 -type d -name coverage -print0)

# Never needed at run time.
find "$nm" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.tsbuildinfo' \) -delete
find "$nm" -depth -type d -empty -delete
