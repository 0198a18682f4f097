#!/usr/bin/env bash
# Runs camd on the simulated board with its defaults: a local Mosquitto on 127.0.0.1:1883 and the
# sample footage from ../shared/media as the two lenses. Installs what is missing first.
# Extra arguments go to the daemon (e.g. --log-level debug). Stop with Ctrl-C.
# A Mosquitto this script started stops with the daemon; one that was already running is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p var/sim/mosquitto
mosquitto_pid=""
stop_mosquitto() {
  # Only the broker this script started, by its pid.
  if [[ -n "$mosquitto_pid" ]] && kill -0 "$mosquitto_pid" 2>/dev/null; then
    echo "sim: stopping the Mosquitto it started (pid $mosquitto_pid)"
    kill "$mosquitto_pid" 2>/dev/null || true
    wait "$mosquitto_pid" 2>/dev/null || true
  fi
}
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "sim: starting a local Mosquitto on 127.0.0.1:1883 (log: var/sim/mosquitto/mosquitto.log)"
  mosquitto -c scripts/mosquitto/sim.conf > var/sim/mosquitto/mosquitto.log 2>&1 &
  mosquitto_pid=$!
  trap stop_mosquitto EXIT
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
fi
# The sim board's microSD card is a directory: present, "not initialised" until
# `scripts/camctl storage initialise` (it asks before it erases; --yes to skip the question).
mkdir -p var/sim/card
echo "sim: in another terminal: scripts/camctl status"
# Not exec: the shell stays to stop the broker when the daemon exits. The daemon runs in the
# background (so Ctrl-C or a TERM to this script is forwarded to it as a TERM: a clean shutdown),
# and the script ends with the daemon's exit code.
node --import tsx src/main.ts --board board/sim.json "$@" &
daemon_pid=$!
trap 'kill -TERM "$daemon_pid" 2>/dev/null || true' INT TERM
code=0
while kill -0 "$daemon_pid" 2>/dev/null; do
  code=0
  wait "$daemon_pid" || code=$?
done
exit "$code"
