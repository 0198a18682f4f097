#!/usr/bin/env bash
# Runs the whole test suite (`npm test`'s vitest run) N times in a row while stress-ng keeps the
# CPUs busy, to prove no test depends on the machine being fast.
#
#   bash scripts/test-under-load.sh [RUNS]        (default 3)
#
# Environment: STRESS_CPUS (stress-ng --cpu workers, default 2 = both cores of the board-sized
# machine), LOAD_LOG_DIR (where each run's log and JSON report go; default a new temp dir).
# Prints per run: passed/failed/skipped, the exit code and the failed tests; then
# "runs green: G / N". Exits 0 only when every run was green.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
cpus=${STRESS_CPUS:-2}
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [RUNS]" >&2
  exit 2
fi
if ! command -v stress-ng >/dev/null; then
  echo "test-under-load: stress-ng is missing (it is in scripts/debian-packages.txt: run bash scripts/setup.sh)" >&2
  exit 2
fi
logdir=${LOAD_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/camd-load-XXXXXX")}
mkdir -p "$logdir"

# The load: one busy worker per core, for as long as the runs take (stopped below, by its pid).
stress-ng --cpu "$cpus" --timeout 6h --quiet &
stress_pid=$!
stop_stress() {
  if kill -0 "$stress_pid" 2>/dev/null; then
    kill -TERM "$stress_pid" 2>/dev/null
    wait "$stress_pid" 2>/dev/null
  fi
}
trap stop_stress EXIT
trap 'exit 130' INT TERM
sleep 1
if ! kill -0 "$stress_pid" 2>/dev/null; then
  echo "test-under-load: stress-ng did not start" >&2
  exit 2
fi
echo "test-under-load: $runs run(s) of the whole suite under stress-ng --cpu $cpus (pid $stress_pid); logs in $logdir"

green=0
for i in $(seq 1 "$runs"); do
  log="$logdir/run-$i.log"
  report="$logdir/run-$i.json"
  rm -f "$report"
  start=$(date +%s)
  echo "--- run $i/$runs started $(date -u +%H:%M:%S) (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  npx vitest run --reporter=default --reporter=json --outputFile="$report" >"$log" 2>&1
  code=$?
  secs=$(( $(date +%s) - start ))
  summary=$(node -e '
    const fs = require("fs");
    let r;
    try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { console.log("no report (the run died: see its log)"); process.exit(0); }
    const skipped = r.numPendingTests + r.numTodoTests;
    const lines = [`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`];
    for (const f of r.testResults) {
      for (const a of f.assertionResults) if (a.status === "failed") lines.push(`    FAILED ${f.name.replace(process.cwd() + "/", "")} > ${a.fullName}: ${(a.failureMessages[0] ?? "").split("\n")[0].slice(0, 240)}`);
      if (f.status === "failed" && f.assertionResults.every((a) => a.status !== "failed")) lines.push(`    FAILED ${f.name.replace(process.cwd() + "/", "")}: ${(f.message ?? "").split("\n")[0].slice(0, 240)}`);
    }
    console.log(lines.join("\n"));
  ' "$report")
  # Errors outside any test (a worker that died, an unhandled rejection) fail a run too.
  errors=$(grep -E "Unhandled Errors?|Worker exited unexpectedly|terminate called" "$log" | sort | uniq -c | head -5)
  echo "run $i/$runs: $summary"
  echo "run $i/$runs: exit code $code, ${secs} s"
  [ -n "$errors" ] && echo "run $i/$runs: outside tests: $errors"
  [ "$code" -eq 0 ] && green=$((green + 1))
done

echo "runs green: $green / $runs"
[ "$green" -eq "$runs" ]
