#!/usr/bin/env bash
# `make run`: the pipeline end to end on this machine, with what LEAP has so far.
# Services and topics are up (make topics); this simulates a university, publishes it and a
# Moodle export, runs a stream worker until it has caught up, and prints the bands by cohort.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LEAP=$ROOT/.venv/bin/leap
STUDENTS=${LEAP_RUN_STUDENTS:-1000}
OUT=$($ROOT/.venv/bin/python -c 'from leap.settings import get_settings; print(get_settings().state_dir)')/run
mkdir -p "$OUT"

"$LEAP" simulate "$OUT/university" --students "$STUDENTS" --days 35
"$LEAP" roster load "$OUT/university/roster.csv"
"$LEAP" produce events "$OUT/university/events.jsonl"
"$LEAP" sample moodle "$OUT/moodle_logstore.csv" --rows 20000 --students 500
"$LEAP" produce moodle "$OUT/moodle_logstore.csv"

"$LEAP" worker --web-port "${LEAP_RUN_WORKER_PORT:-6066}" >"$OUT/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
echo "stream worker running (pid $worker, metrics on http://127.0.0.1:${LEAP_RUN_WORKER_PORT:-6066}/metrics, log $OUT/worker.log)"
"$LEAP" bands --wait-for "$STUDENTS"
"$LEAP" topics list
