#!/usr/bin/env bash
# Runs camd on the simulated board with its defaults: a local Mosquitto on 127.0.0.1:1883 and the
# sample footage from ../shared/media as the two lenses. Installs what is missing first.
# Extra arguments go to the daemon (e.g. --log-level debug). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p var/sim/mosquitto
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "sim: starting a local Mosquitto on 127.0.0.1:1883 (log: var/sim/mosquitto/mosquitto.log)"
  nohup mosquitto -c scripts/mosquitto/sim.conf > var/sim/mosquitto/mosquitto.log 2>&1 &
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
fi
# The sim board's microSD card is a directory: present, "not initialised" until
# `scripts/camctl call storage.initialise` (twice: the second call with the token it returns).
mkdir -p var/sim/card
echo "sim: in another terminal: npm run camctl -- status"
exec node --import tsx src/main.ts --board board/sim.json "$@"
