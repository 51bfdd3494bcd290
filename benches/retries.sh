#!/usr/bin/env bash
# Retries and dead letters from outside, at volume: the `chirp_receiver` example with handlers
# that fail on purpose (HANDLER_FAIL_FIRST), N unique events sent by benches/sender.py (python3
# stdlib), then SIGTERM (the drain runs every retry) and a check of the stdout lines:
#
#   (a) HANDLER_FAIL_FIRST=2 RETRY_BACKOFF_MS=50: every id prints exactly one line, with
#       "attempt":3 (two failed attempts, then success), and there is no dead-letter line
#   (b) HANDLER_FAIL_FIRST=99 RETRY_MAX_ATTEMPTS=3 RETRY_BACKOFF_MS=50: every id prints exactly
#       one line, {"dead_letter":true,"attempts":3,"reason":"exhausted"}, and no handler line
#
# In both, every POST must be answered 200 (the queue is raised to WEBHOOK_QUEUE_CAPACITY so that
# all N are accepted) and the server must exit 0. The script exits 1 on any mismatch.
#
#   benches/retries.sh             # N=1000, a few seconds per case (plus the first build)
#   INBOX=1 benches/retries.sh     # the same with a durable inbox (INBOX_PATH, fresh temp dir):
#                                  # attempts are recorded there; after the SIGTERM a fresh start
#                                  # on the directory must find 0 pending events and print nothing
#
# Environment (all optional):
#   N=1000                   events per case (ids r<case>-0 .. r<case>-(N-1))
#   THREADS=8                sender threads (one keep-alive connection each)
#   WEBHOOK_QUEUE_CAPACITY=4096   passed to the example (must hold N: no 503)
#   RETRY_BACKOFF_MS=50      first backoff (doubles; jitter between half and full)
#   INBOX=                   1: run both cases with a durable inbox
#   CASES="a b"              which cases to run
#   PORT=20950               first port (one per server start, 127.0.0.1 only)
#   OUT=target/retries/<timestamp>   stdout/stderr of each run, sender files, summary.txt
#   RUST_LOG=error           the servers' log filter (stderr): the warning per failed attempt is
#                            left out (set RUST_LOG=warn to see them)
#
# Requirements: Linux, bash, cargo, python3 (standard library only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-1000}
THREADS=${THREADS:-8}
export WEBHOOK_QUEUE_CAPACITY=${WEBHOOK_QUEUE_CAPACITY:-4096}
RETRY_BACKOFF_MS=${RETRY_BACKOFF_MS:-50}
INBOX=${INBOX:-}
CASES=${CASES:-"a b"}
PORT=${PORT:-20950}
OUT=${OUT:-target/retries/$(date +%Y%m%d-%H%M%S)}
export RUST_LOG=${RUST_LOG:-error}
SECRET="retries-secret-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/sender.py

SCRIPT=retries.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"


BIN=$(build_example --features durable) || exit 2

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

SERVER_PID=""
INBOX_DIRS=()
cleanup() {
    [[ -z $SERVER_PID ]] || kill -KILL "$SERVER_PID" 2>/dev/null || true
    local d
    for d in "${INBOX_DIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'echo "retries.sh: interrupted" >&2; exit 130' INT TERM

# Starts the example as run $1 on $PORT with the environment in "${@:2}"; waits until it listens
# (probing the port; RUST_LOG=error hides the "listening" line). Bumps PORT for the next start.
start_server() {
    local name=$1
    shift
    port_open "$PORT" && die "something already listens on $HOST:$PORT: pick another PORT"
    env ADDR="$HOST:$PORT" CHIRP_WEBHOOK_SECRET="$SECRET" "$@" "$BIN" \
        >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
    SERVER_PID=$!
    SERVER_PORT=$PORT
    PORT=$((PORT + 1))
    local waited=0
    until port_open "$SERVER_PORT"; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited before listening (see $OUT/$name.stderr)"
        ((waited < 3000)) || die "$name did not listen within 30 s"
        sleep 0.01
        waited=$((waited + 1))
    done
}

# SIGTERMs the server and waits; sets STOP_STATUS.
stop_server() {
    kill -TERM "$SERVER_PID"
    STOP_STATUS=0
    wait "$SERVER_PID" || STOP_STATUS=$?
    SERVER_PID=""
}

FAILED=0
SUMMARY=$OUT/summary.txt
{
    echo "retries.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
    echo "N=$N THREADS=$THREADS WEBHOOK_QUEUE_CAPACITY=$WEBHOOK_QUEUE_CAPACITY RETRY_BACKOFF_MS=$RETRY_BACKOFF_MS INBOX=${INBOX:-0}"
} >"$SUMMARY"

run_case() {
    local case=$1 mode env
    case $case in
    a)
        mode=attempt3
        env=(HANDLER_FAIL_FIRST=2 RETRY_BACKOFF_MS="$RETRY_BACKOFF_MS")
        ;;
    b)
        mode=dead3
        env=(HANDLER_FAIL_FIRST=99 RETRY_MAX_ATTEMPTS=3 RETRY_BACKOFF_MS="$RETRY_BACKOFF_MS")
        ;;
    *) die "unknown case '$case' (a b)" ;;
    esac
    local inbox_dir=""
    if [[ -n $INBOX ]]; then
        inbox_dir=$(mktemp -d "${TMPDIR:-/tmp}/retries-inbox.XXXXXX")
        INBOX_DIRS+=("$inbox_dir")
        env+=(INBOX_PATH="$inbox_dir")
    fi
    say "case $case: ${env[*]}, $N events"
    local t0 t1 t2 send=0 check=0 ok=1
    t0=$(date +%s.%N)
    start_server "case-$case" "${env[@]}"
    python3 "$SENDER" burst --port "$SERVER_PORT" --secret "$SECRET" --out "$OUT/case-$case" \
        --threads "$THREADS" --count "$N" --prefix "r$case" >"$OUT/case-$case.sender.log" 2>&1 ||
        send=$?
    t1=$(date +%s.%N)
    stop_server
    t2=$(date +%s.%N)
    python3 "$SENDER" check-retries --mode "$mode" --count "$N" --prefix "r$case" --attempts 3 \
        "$OUT/case-$case.stdout" >"$OUT/case-$case.report.json" 2>"$OUT/case-$case.check.log" ||
        check=$?
    {
        echo
        echo "case $case (${env[*]}):"
        awk -v a="$t0" -v b="$t1" -v c="$t2" \
            'BEGIN { printf "  time: start + send %.2f s, SIGTERM to exit (the drain: retries) %.2f s, total %.2f s\n", b - a, c - b, c - a }'
        echo "  sender: $(cat "$OUT/case-$case.sender.log")"
        echo "  exit status after SIGTERM: $STOP_STATUS"
        sed 's/^/  /' "$OUT/case-$case.report.json"
    } >>"$SUMMARY"
    if ((send != 0)); then
        echo "retries.sh: MISMATCH in case $case: not every POST was answered 200 (see $OUT/case-$case.sender.log)" >&2
        ok=0
    fi
    if ((STOP_STATUS != 0)); then
        echo "retries.sh: MISMATCH in case $case: the server exited with status $STOP_STATUS" >&2
        ok=0
    fi
    if ((check != 0)); then
        echo "retries.sh: MISMATCH in case $case: the stdout lines (see $OUT/case-$case.check.log):" >&2
        head -20 "$OUT/case-$case.check.log" >&2
        ok=0
    fi
    if [[ -n $inbox_dir ]]; then
        # The graceful stop must have completed every stored event.
        start_server "case-$case-restart" INBOX_PATH="$inbox_dir"
        sleep 0.3
        stop_server
        local lines
        lines=$(wc -l <"$OUT/case-$case-restart.stdout")
        echo "  restart on the inbox: $lines lines, exit $STOP_STATUS" >>"$SUMMARY"
        if ((lines != 0 || STOP_STATUS != 0)); then
            echo "retries.sh: MISMATCH in case $case: a restart on the inbox printed $lines lines (exit $STOP_STATUS)" >&2
            ok=0
        fi
    fi
    ((ok == 1)) || FAILED=1
}

for c in $CASES; do run_case "$c"; done
cat "$SUMMARY"
if ((FAILED != 0)); then
    echo "retries.sh: FAILED (output in $OUT)" >&2
    exit 1
fi
say "OK (output in $OUT)"
