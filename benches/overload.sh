#!/usr/bin/env bash
# Overload with a retrying sender (issue item 6): the `chirp_receiver` example with handlers slow
# enough that a sender at twice their capacity overloads it, and a sender that retries like
# Chirp does. Defaults: HANDLER_DELAY_MS=100 and WEBHOOK_CONCURRENCY=8, so the handlers finish
# at most 80 events/s; the sender (benches/overload.py, python3 stdlib) offers 160 new events/s
# for 20 s (3,200 events), open loop, and retries every 503: 5 tries in all, waiting 1, 2, 4 and
# 8 s before tries 2-5, or the answer's Retry-After when that is longer (capped at 30 s). When
# every event is acknowledged or given up, the server gets SIGTERM and must drain and exit 0.
#
#   benches/overload.sh                          # ~45-60 s (plus the first build)
#   RATE=240 DURATION=10 QUEUE=64 benches/overload.sh
#
# Checks (the script exits 1 if one fails):
#   - every answer that is not a 200 is a 503 with an integer Retry-After header (any other
#     status, a 503 without Retry-After, or a connection error is a failure)
#   - every event was acknowledged (200) within its tries, or is reported as given up (their
#     number is reported; given-up events are not a failure of the receiver, but GIVE_UP_MAX sets
#     how many are tolerated: default any)
#   - every event answered 200 (new) printed exactly one stdout line: 0 lost, 0 doubled; no id
#     printed that was not answered 200 (a 503 must not have queued anything); no dead letter
#   - after the SIGTERM the example drained its queue and exited 0
#
# Environment (all optional):
#   RATE=160 DURATION=20     new events per second, and for how long (open loop: event n is
#                            first sent at n / RATE s)
#   HANDLER_DELAY_MS=100 WEBHOOK_CONCURRENCY=8   the handlers' capacity (8 / 0.1 s = 80/s)
#   QUEUE=256                WEBHOOK_QUEUE_CAPACITY: accepted events that may wait (256 is
#                            3.2 s of handler work: the queue is full after ~3 s at 2x)
#   TRIES=5 BACKOFF=1,2,4,8  the sender's retry schedule (seconds before tries 2, 3, ...)
#   RETRY_AFTER_CAP=30       Retry-After is honoured up to this many seconds; NO_RETRY_AFTER=1
#                            ignores it (backoff alone)
#   RETRY_AFTER_SECS=        the server's Retry-After: unset, the adaptive default (from the
#                            backlog, at most RETRY_AFTER_MAX_SECS, default 60); set, that fixed
#                            value on every 503 (RETRY_AFTER_SECS=5 is the receiver before the
#                            adaptive value)
#   WORKERS=16               sender threads (one keep-alive connection each)
#   GIVE_UP_MAX=             fail if more events than this were given up (unset: report only)
#   PORT=21000               127.0.0.1 port (below the kernel's ephemeral range)
#   OUT=target/overload/<timestamp>   stdout/stderr of the server, events.tsv, sender.json,
#                            report.json, summary.txt
#   RUST_LOG=info,webhook_receiver::receiver=error   the server's log filter (stderr): the
#                            receiver's warning per 503 is left out
#
# Requirements: Linux, bash, cargo, python3 (standard library only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RATE=${RATE:-160}
DURATION=${DURATION:-20}
HANDLER_DELAY_MS=${HANDLER_DELAY_MS:-100}
WEBHOOK_CONCURRENCY=${WEBHOOK_CONCURRENCY:-8}
QUEUE=${QUEUE:-256}
TRIES=${TRIES:-5}
BACKOFF=${BACKOFF:-1,2,4,8}
RETRY_AFTER_CAP=${RETRY_AFTER_CAP:-30}
NO_RETRY_AFTER=${NO_RETRY_AFTER:-}
RETRY_AFTER_SECS=${RETRY_AFTER_SECS:-}
RETRY_AFTER_MAX_SECS=${RETRY_AFTER_MAX_SECS:-}
WORKERS=${WORKERS:-16}
GIVE_UP_MAX=${GIVE_UP_MAX:-}
PORT=${PORT:-21000}
OUT=${OUT:-target/overload/$(date +%Y%m%d-%H%M%S)}
export RUST_LOG=${RUST_LOG:-info,webhook_receiver::receiver=error}
SECRET="overload-secret-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/overload.py

SCRIPT=overload.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
port_open "$PORT" && die "something already listens on $HOST:$PORT: pick another PORT"

BIN=$(build_example) || exit 2

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

SERVER_PID=""
cleanup() { [[ -z $SERVER_PID ]] || kill -KILL "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT
trap 'echo "overload.sh: interrupted" >&2; exit 130' INT TERM

ADDR="$HOST:$PORT" CHIRP_WEBHOOK_SECRET="$SECRET" HANDLER_DELAY_MS="$HANDLER_DELAY_MS" \
    WEBHOOK_CONCURRENCY="$WEBHOOK_CONCURRENCY" WEBHOOK_QUEUE_CAPACITY="$QUEUE" \
    RETRY_AFTER_SECS="$RETRY_AFTER_SECS" RETRY_AFTER_MAX_SECS="$RETRY_AFTER_MAX_SECS" \
    "$BIN" >"$OUT/server.stdout" 2>"$OUT/server.stderr" &
SERVER_PID=$!
waited=0
until grep -q 'listening' "$OUT/server.stderr" 2>/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited before listening (see $OUT/server.stderr)"
    ((waited < 3000)) || die "the server did not listen within 30 s"
    sleep 0.01
    waited=$((waited + 1))
done

capacity=$(awk -v c="$WEBHOOK_CONCURRENCY" -v d="$HANDLER_DELAY_MS" 'BEGIN { printf "%.0f", c * 1000 / d }')
say "output: $OUT; handlers ${WEBHOOK_CONCURRENCY} x ${HANDLER_DELAY_MS} ms (~$capacity events/s), queue $QUEUE; sending $RATE/s for $DURATION s"
T0=$(date +%s.%N)
sflags=()
[[ -z $NO_RETRY_AFTER ]] || sflags+=(--no-retry-after)
python3 "$SENDER" overload --port "$PORT" --secret "$SECRET" --out "$OUT" --rate "$RATE" \
    --duration "$DURATION" --tries "$TRIES" --backoff "$BACKOFF" \
    --retry-after-cap "$RETRY_AFTER_CAP" --workers "$WORKERS" "${sflags[@]}" \
    >"$OUT/sender.log" 2>&1 || die "the sender failed (see $OUT/sender.log)"
T_SENT=$(date +%s.%N)

say "sender done; SIGTERM (drain)"
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
T_END=$(date +%s.%N)

check=0
python3 "$SENDER" check --acked "$OUT/acked.tsv" "$OUT/server.stdout" >"$OUT/report.json" \
    2>"$OUT/check.stderr" || check=$?

read -r sent requests ok_new ok_dup s503 given_up other no_ra conn <<<"$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["events_sent"], s["requests"], s["ok_new"], s["ok_dup"], s["s503"], s["given_up"],
      s["fail_other_status"], s["fail_503_without_retry_after"], s["fail_conn_error"])
' "$OUT/sender.json")"
read -r lines lost doubled unacked dead malformed <<<"$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["lines"], r["lost"], r["doubled"], r["printed_never_acked"], r["dead_letter_lines"],
      r["malformed_lines"])
' "$OUT/report.json")"

{
    echo "overload.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
    echo "server: HANDLER_DELAY_MS=$HANDLER_DELAY_MS WEBHOOK_CONCURRENCY=$WEBHOOK_CONCURRENCY (~$capacity events/s) WEBHOOK_QUEUE_CAPACITY=$QUEUE Retry-After $([[ -n $RETRY_AFTER_SECS ]] && echo "fixed $RETRY_AFTER_SECS s" || echo "adaptive (max ${RETRY_AFTER_MAX_SECS:-60} s)")"
    echo "sender: $RATE new events/s for $DURATION s, $TRIES tries, backoff $BACKOFF s, Retry-After $([[ -n $NO_RETRY_AFTER ]] && echo ignored || echo "honoured (cap $RETRY_AFTER_CAP s)"), $WORKERS workers"
    awk -v a="$T0" -v b="$T_SENT" -v c="$T_END" \
        'BEGIN { printf "time: sender %.1f s (until every event was acknowledged or given up), drain after SIGTERM %.2f s\n", b - a, c - b }'
    echo "events sent: $sent; requests: $requests; 200 new: $ok_new; 200 duplicate: $ok_dup; 503: $s503"
    echo "given up after $TRIES tries: $given_up"
    echo "failures: other status $other, 503 without Retry-After $no_ra, connection errors $conn"
    echo "stdout lines: $lines; lost: $lost; doubled: $doubled; printed but never answered 200: $unacked; dead letters: $dead; malformed: $malformed"
    echo "server exit status after SIGTERM: $status"
    echo "sender.json:"
    cat "$OUT/sender.json"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"

bad=0
((check == 0)) || { echo "overload.sh: MISMATCH in the stdout check (see $OUT/report.json, $OUT/check.stderr)" >&2; cat "$OUT/check.stderr" >&2; bad=1; }
((other == 0 && no_ra == 0 && conn == 0)) || { echo "overload.sh: FAILED: answers other than 200 / 503+Retry-After" >&2; bad=1; }
((status == 0)) || { echo "overload.sh: FAILED: the server exited with status $status after SIGTERM" >&2; bad=1; }
if [[ -n $GIVE_UP_MAX ]] && ((given_up > GIVE_UP_MAX)); then
    echo "overload.sh: FAILED: $given_up events given up (GIVE_UP_MAX=$GIVE_UP_MAX)" >&2
    bad=1
fi
((bad == 0)) || exit 1
say "OK: 0 lost, 0 doubled, only 503s with Retry-After; $given_up of $sent events given up (output in $OUT)"
