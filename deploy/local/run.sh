#!/usr/bin/env bash
# `make run`: the whole pipeline on this machine. Services and topics are up (make topics).
# It starts from empty topics, tables and Redis (leap reset; LEAP_RUN_KEEP=1 keeps them).
# Simulates a university (35 days, a holiday week), writes its activity as each university
# system exports it (Moodle's log table, a register export, Panopto, Windows logons, library
# loans, coursework), publishes every file through its adapter, runs a stream worker and the alert consumer until both have caught up, and prints the bands by
# cohort and the alerts raised (counts only: nobody is identified), one alerted student's
# status as their tutor reads it, and how well the bands predict the planted outcomes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LEAP=$ROOT/.venv/bin/leap
log() { echo "make run: $*" >&2; }
die() { log "$*"; exit 1; }
source "$ROOT/deploy/local/packages.sh"
command -v curl >/dev/null || need_packages curl  # sends the xAPI statements below
STUDENTS=${LEAP_RUN_STUDENTS:-1000}
OUT=$($ROOT/.venv/bin/python -c 'from leap.settings import get_settings; print(get_settings().state_dir)')/run
mkdir -p "$OUT"

# A clean slate, so a second run shows what the first did (not events "late" for the last run's clock).
if [ "${LEAP_RUN_KEEP:-}" != 1 ]; then "$LEAP" reset --yes; fi
"$LEAP" simulate "$OUT/university" --students "$STUDENTS" --days 35 --exports
# The institution's policy, with the simulated university's academic calendar.
sed "s|^calendar_file = .*|calendar_file = \"$OUT/university/calendar.toml\"|" "$ROOT/deploy/institution.toml" >"$OUT/institution.toml"
export LEAP_POLICY_FILE=$OUT/institution.toml
# This machine's key for pseudonymising erased students (leap erase), made once and kept.
KEYFILE=$OUT/../pseudonym.key
[ -s "$KEYFILE" ] || "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$KEYFILE"
export LEAP_PSEUDONYM_KEY=${LEAP_PSEUDONYM_KEY:-$(cat "$KEYFILE")}

"$LEAP" roster load "$OUT/university/roster.csv"
"$LEAP" staff load --replace "$OUT/university/staff.csv"
# Who each system's ids are (username, card, Windows account, Panopto GUID; the roster gave Moodle's), then each system's export.
X=$OUT/university/exports
"$LEAP" identities load "$X/identities.csv"
"$LEAP" produce moodle "$X/moodle_logstore.csv"
"$LEAP" produce attendance-register "$X/attendance_register.csv"
"$LEAP" produce panopto "$X/panopto_viewings.tsv"
"$LEAP" produce windows-logons "$X/windows_logons.csv"
"$LEAP" produce jisc-library "$X/jisc_borrowing.tsv"
"$LEAP" produce coursework "$X/coursework.csv"

# The last day's Moodle activity arrives live, as Moodle's logstore_xapi plugin sends it: xAPI
# statements over HTTP to the ingest endpoint, with a token made for this run.
TOKEN=$("$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
cat >"$OUT/ingest-clients.toml" <<EOF
[[client]]
name = "moodle"
kind = "xapi"
sources = ["vle", "coursework"]
token_sha256 = "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)"
EOF
INGEST_URL=${LEAP_INGEST_URL:-http://127.0.0.1:8090}
LEAP_INGEST_URL=$INGEST_URL LEAP_INGEST_CLIENTS_FILE=$OUT/ingest-clients.toml "$LEAP" ingest serve >"$OUT/ingest.log" 2>&1 &
ingest=$!
trap 'kill $ingest 2>/dev/null' EXIT
for _ in $(seq 120); do curl -sf "$INGEST_URL/readyz" >/dev/null && break; sleep 0.5; done
rm -f "$OUT"/xapi-batch-*
split -l 500 -d -a 3 "$X/xapi_statements.jsonl" "$OUT/xapi-batch-"
sent=0
for batch in "$OUT"/xapi-batch-*; do
  { printf '['; paste -sd, "$batch"; printf ']'; } | curl -sf -o /dev/null -X POST "$INGEST_URL/xapi/statements" \
    -H "Authorization: Bearer $TOKEN" -H "X-Experience-API-Version: 1.0.3" -H "Content-Type: application/json" --data-binary @-
  sent=$((sent + $(wc -l <"$batch")))
done
echo "sent $sent xAPI statements (the last day's Moodle views) to $INGEST_URL/xapi/statements, each answered after Kafka acknowledged it"

"$LEAP" worker --web-port "${LEAP_RUN_WORKER_PORT:-6066}" >"$OUT/worker.log" 2>&1 &
worker=$!
"$LEAP" consume --metrics-port "${LEAP_RUN_CONSUMER_PORT:-9102}" >"$OUT/consumer.log" 2>&1 &
consumer=$!
# The portal, with the development sign-in (no password; loopback only) for trying it here.
PORTAL_URL=${LEAP_PORTAL_URL:-http://127.0.0.1:8080}
LEAP_PORTAL_URL=$PORTAL_URL LEAP_PORTAL_DEV_SIGNIN=1 "$LEAP" portal serve >"$OUT/portal.log" 2>&1 &
portal=$!
trap 'kill $worker $consumer $portal $ingest 2>/dev/null; wait $worker $consumer $portal $ingest 2>/dev/null || true' EXIT
echo "stream worker running (pid $worker, metrics http://127.0.0.1:${LEAP_RUN_WORKER_PORT:-6066}/metrics, log $OUT/worker.log)"
echo "alert consumer running (pid $consumer, metrics and /healthz on http://127.0.0.1:${LEAP_RUN_CONSUMER_PORT:-9102}, log $OUT/consumer.log)"
"$LEAP" bands --wait-for "$STUDENTS"
"$LEAP" alerts summary --wait 600
# One alerted student (with a personal tutor) as their tutor sees them (the plain-words explanation; the access is logged).
"$LEAP" alerts list --json >"$OUT/alerts.jsonl"
student=$("$ROOT/.venv/bin/python" -c '
import json, sys
alerts = [json.loads(line) for line in open(sys.argv[1])]
print(next((a["student_id"] for a in alerts if a["recipient_role"] == "personal_tutor"), alerts[0]["student_id"] if alerts else ""))' "$OUT/alerts.jsonl")
if [ -n "$student" ]; then "$LEAP" status "$student"; fi
# Do the bands pick out the students who went on to fail? The simulated term's planted outcomes.
"$LEAP" evaluate "$OUT/university/events.jsonl" --roster "$OUT/university/roster.csv" --outcomes "$OUT/university/outcomes.csv" --weeks 2-5
"$LEAP" topics list
echo "try: $LEAP alerts list    $LEAP status <student id>    (both recorded in the access log)"
tutor=$("$ROOT/.venv/bin/python" -c '
import json, sys
alerts = [json.loads(line) for line in open(sys.argv[1])]
print(next((a["recipient"] for a in alerts if a["student_id"] == sys.argv[2] and a["recipient_role"] == "personal_tutor"), ""))' "$OUT/alerts.jsonl" "$student")
echo
echo "The portal: $PORTAL_URL   (log $OUT/portal.log)"
echo "  development sign-in (no password, this machine only), for example:"
[ -n "$student" ] && echo "    student                $student"
[ -n "$tutor" ] && echo "    their personal tutor   $tutor"
echo "    support adviser        wellbeing-01"
echo "    LEAP administrator     leap-admin"
echo "The ingest endpoint: $INGEST_URL (xAPI, Caliper, events; its clients: $OUT/ingest-clients.toml; log $OUT/ingest.log)"
if [ "${LEAP_RUN_EXIT:-}" = 1 ]; then exit 0; fi
echo "The stream worker, alert consumer and portal keep running: activity you publish changes bands live. Press Ctrl-C to stop."
wait $portal
