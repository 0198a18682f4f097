#!/usr/bin/env bash
# The live page of the simulated board (src/simview): a development tool beside the daemon, bound
# to 127.0.0.1, talking to the daemon only through its control socket. Start the sim daemon first
# (scripts/sim.sh), then: scripts/sim-view.sh [--port 8090] [--socket PATH], and open the URL it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx src/simview/main.ts "$@"
