#!/usr/bin/env bash
# Nothing acknowledged is lost under kill -9: the `chirp_receiver` example with a durable inbox
# (INBOX_PATH, `--features durable`) is SIGKILLed ITER times at random moments while a sender
# (benches/sender.py, python3 stdlib) keeps posting unique events, and restarted each time on the
# same inbox directory. At the end it is started once more with instant handlers, left to drain,
# and stopped with SIGTERM (exit 0 required). Then every id that was answered 200 must appear in
# at least one stdout line of one of the runs; the script exits 1 if one is missing.
#
#   benches/kill9.sh               # 100 kills, about 3-4 minutes (plus the first build)
#   ITER=10 benches/kill9.sh       # a quick one
#
# What happens:
#   - build: cargo build --release --features durable --example chirp_receiver
#   - run 1 starts with INBOX_PATH=<fresh temp dir>, HANDLER_DELAY_MS=200 (default concurrency
#     64 and queue 1024: ~320 events/s are handled, the queue is full most of the time and the
#     sender gets many 503s), on 127.0.0.1:PORT
#   - the sender starts: THREADS threads, each on its own keep-alive connection, posting
#     `messages.sms.delivered` events with unique `data.id`s. Like a webhook provider, it retries
#     the same id after a 503 or a connection error (10 ms / 20 ms later, reconnecting) until it
#     is answered 200, then moves to a new id; it records every id answered 200 (a first 200 or
#     a `"duplicate":true` 200: the commit of an earlier try had landed but its 200 was lost)
#   - ITER times: wait a uniformly random KILL_MIN..KILL_MAX seconds after the server listens,
#     SIGKILL it, restart it on the same inbox and port (the sender sees connection errors
#     meanwhile); it replays what its inbox holds
#   - after the last kill: stop the sender, start the server with HANDLER_DELAY_MS=0, wait until
#     its stdout has not grown for SETTLE seconds, SIGTERM it, require exit status 0
#   - one more start on the inbox: it must report 0 pending events and print nothing
#   - check (sender.py check-kill9): every acknowledged id printed a line (missing must be 0);
#     no malformed line, no dead letter, no id printed twice within one run; reports the ids
#     printed more than once (at-least-once: a handler that had run, or finished, before the kill
#     whose completion was not durable yet runs again after the restart)
#
# Environment (all optional):
#   ITER=100                 kills
#   KILL_MIN=0.3 KILL_MAX=2.0  seconds between the server listening and its SIGKILL (uniform)
#   THREADS=8                sender threads (one keep-alive connection each)
#   HANDLER_DELAY_MS=200     handler sleep during the kill loop (the final run uses 0)
#   SETTLE=2                 seconds without a new stdout line before the final SIGTERM
#   PORT=20900               the one port every run listens on (127.0.0.1); below the kernel's
#                            ephemeral range, where the sender's own sockets could hold it
#   SEED=                    seed bash's $RANDOM (the kill delays) for a repeatable schedule
#   OUT=target/kill9/<timestamp>  stdout and stderr of every run (run-NNN.stdout/.stderr), the
#                            sender's files (acked.tsv, sender.json), report.json, summary.txt
#   KEEP_INBOX=              1: keep the inbox directory (it is kept anyway when the check fails)
#   RUST_LOG=info,webhook_receiver::receiver=error   the servers' log filter (their stderr):
#                            the receiver's one-warning-per-503 is left out
#   Any other variable the example reads (WEBHOOK_CONCURRENCY, WEBHOOK_QUEUE_CAPACITY, ...) is
#   passed through.
#
# Requirements: Linux, bash, cargo, python3 (standard library only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

ITER=${ITER:-100}
KILL_MIN=${KILL_MIN:-0.3}
KILL_MAX=${KILL_MAX:-2.0}
THREADS=${THREADS:-8}
HANDLER_DELAY_MS=${HANDLER_DELAY_MS:-200}
SETTLE=${SETTLE:-2}
PORT=${PORT:-20900}
OUT=${OUT:-target/kill9/$(date +%Y%m%d-%H%M%S)}
KEEP_INBOX=${KEEP_INBOX:-}
export RUST_LOG=${RUST_LOG:-info,webhook_receiver::receiver=error}
[[ -z ${SEED:-} ]] || RANDOM=$SEED
SECRET="kill9-secret-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/sender.py

SCRIPT=kill9.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
port_open "$PORT" && die "something already listens on $HOST:$PORT: pick another PORT"

BIN=$(build_example --features durable) || exit 2

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
INBOX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kill9-inbox.XXXXXX")

SERVER_PID=""
SENDER_PID=""
cleanup() {
    local pid
    for pid in $SENDER_PID $SERVER_PID; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'echo "kill9.sh: interrupted" >&2; exit 130' INT TERM

# Starts run $1 with HANDLER_DELAY_MS=$2; waits until it listens (its "listening" log line).
RUN=0
start_server() {
    RUN=$1
    local delay=$2 name
    name=$(printf 'run-%03d' "$RUN")
    ADDR="$HOST:$PORT" CHIRP_WEBHOOK_SECRET="$SECRET" INBOX_PATH="$INBOX_DIR" \
        HANDLER_DELAY_MS="$delay" "$BIN" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
    SERVER_PID=$!
    local waited=0
    until grep -q 'listening' "$OUT/$name.stderr" 2>/dev/null; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "run $RUN exited before listening (see $OUT/$name.stderr)"
        ((waited < 3000)) || die "run $RUN did not listen within 30 s (see $OUT/$name.stderr)"
        sleep 0.01
        waited=$((waited + 1))
    done
}

# A uniformly random delay in [KILL_MIN, KILL_MAX] seconds.
kill_delay() {
    awk -v r="$RANDOM" -v s="$RANDOM" -v a="$KILL_MIN" -v b="$KILL_MAX" \
        'BEGIN { printf "%.3f", a + (b - a) * (r * 32768 + s) / (32768 * 32768 - 1) }'
}

T0=$(date +%s.%N)
say "output: $OUT; inbox: $INBOX_DIR; $ITER kills on $HOST:$PORT"
start_server 1 "$HANDLER_DELAY_MS"
python3 "$SENDER" load --port "$PORT" --secret "$SECRET" --out "$OUT" --threads "$THREADS" \
    >"$OUT/sender.log" 2>&1 &
SENDER_PID=$!

: >"$OUT/kills.tsv"
for ((i = 1; i <= ITER; i++)); do
    d=$(kill_delay)
    sleep "$d"
    kill -0 "$SENDER_PID" 2>/dev/null || die "the sender died (see $OUT/sender.log)"
    kill -0 "$SERVER_PID" 2>/dev/null || die "run $RUN died by itself before its kill (see $OUT/$(printf 'run-%03d' "$RUN").stderr)"
    kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    lines=$(wc -l <"$OUT/$(printf 'run-%03d' "$RUN").stdout")
    printf '%d\t%s\t%d\n' "$RUN" "$d" "$lines" >>"$OUT/kills.tsv"
    if ((i % 10 == 0)); then say "kill $i/$ITER (run $RUN after ${d}s, $lines lines)"; fi
    SERVER_PID=""
    if ((i < ITER)); then start_server $((i + 1)) "$HANDLER_DELAY_MS"; fi
done
T_LOOP=$(date +%s.%N)

say "stopping the sender"
kill -TERM "$SENDER_PID"
wait "$SENDER_PID" || die "the sender failed (see $OUT/sender.log)"
SENDER_PID=""

FINAL=$((ITER + 1))
say "final run $FINAL: HANDLER_DELAY_MS=0, drain, SIGTERM"
start_server "$FINAL" 0
final_out="$OUT/$(printf 'run-%03d' "$FINAL").stdout"
last=-1
still=0
while ((still < SETTLE * 10)); do
    sleep 0.1
    n=$(wc -l <"$final_out")
    if ((n == last)); then still=$((still + 1)); else still=0; last=$n; fi
done
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
((status == 0)) || die "the final run exited with status $status (see ${final_out%.stdout}.stderr)"
T_END=$(date +%s.%N)

# One more start: a graceful stop must have left nothing pending, and nothing runs.
VERIFY=$((FINAL + 1))
start_server "$VERIFY" 0
verify_name=$(printf 'run-%03d' "$VERIFY")
sleep 0.5
kill -TERM "$SERVER_PID"
vstatus=0
wait "$SERVER_PID" || vstatus=$?
SERVER_PID=""
pending_after=$(grep -o 'pending=[0-9]*' "$OUT/$verify_name.stderr" | head -1 | cut -d= -f2)
verify_lines=$(wc -l <"$OUT/$verify_name.stdout")

say "checking"
check=0
python3 "$SENDER" check-kill9 --acked "$OUT/acked.tsv" --sender "$OUT/sender.json" \
    --missing-out "$OUT/missing.tsv" --max-unacked "$THREADS" \
    "$OUT"/run-*.stdout >"$OUT/report.json" || check=$?

replayed=$(grep -ho 'pending=[0-9]*' "$OUT"/run-*.stderr | cut -d= -f2 |
    awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%d (max %d at one start)", s, m }')
{
    echo "kill9.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
    echo "ITER=$ITER KILL_MIN=$KILL_MIN KILL_MAX=$KILL_MAX THREADS=$THREADS HANDLER_DELAY_MS=$HANDLER_DELAY_MS"
    awk -v a="$T0" -v b="$T_LOOP" -v c="$T_END" \
        'BEGIN { printf "time: kill loop %.1f s, final drain %.1f s, total %.1f s\n", b - a, c - b, c - a }'
    echo "events pending in the inbox at the starts, summed: $replayed"
    echo "final run exit status: $status; then a fresh start found pending=${pending_after:-?} and printed $verify_lines lines (exit $vstatus)"
    echo "report:"
    cat "$OUT/report.json"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"

bad=$check
[[ ${pending_after:-x} == 0 && $verify_lines == 0 && $vstatus == 0 ]] || {
    echo "kill9.sh: MISMATCH: after the graceful stop the inbox was not empty (pending=${pending_after:-?}, $verify_lines lines, exit $vstatus)" >&2
    bad=1
}
if ((bad != 0)); then
    echo "kill9.sh: FAILED: see $OUT (summary.txt, report.json, missing.tsv); inbox kept in $INBOX_DIR" >&2
    exit 1
fi
[[ -n $KEEP_INBOX ]] || rm -rf "$INBOX_DIR"
say "OK: every acknowledged id was handled (output in $OUT)"
