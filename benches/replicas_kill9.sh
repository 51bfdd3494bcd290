#!/usr/bin/env bash
# Many replicas, one Redis inbox: nothing acknowledged is lost when replicas die. Three replicas
# of the `chirp_receiver` example (`--features redis`) on three ports share one redis-server
# (REDIS_URL, INBOX=redis); a sender (benches/sender.py, python3 stdlib) posts unique events
# spread over the three, moving to another replica on a connection error, as a load balancer
# would. ITER times a random replica is SIGKILLed at a random moment and restarted after
# RESTART_AFTER seconds (a new consumer). Then the sender stops, the replicas are left to
# finish (the dead consumers' entries are taken over once idle for INBOX_VISIBILITY_SECS), the
# stream must be empty, and every replica must exit 0 on SIGTERM. Every id answered 200 must
# appear in at least one stdout line of some replica; the script exits 1 if one is missing.
#
#   benches/replicas_kill9.sh            # 20 kills, about 1-2 minutes (plus the first build)
#   ITER=5 benches/replicas_kill9.sh     # a quick one
#
# Environment (all optional):
#   ITER=20                  kills
#   KILL_MIN=0.5 KILL_MAX=2.5  seconds between two kills (uniform)
#   RESTART_AFTER=1          seconds a killed replica stays down
#   THREADS=6                sender threads (one keep-alive connection each)
#   HANDLER_DELAY_MS=100     handler sleep (events are in flight when a replica dies)
#   INBOX_VISIBILITY_SECS=3  how long a dead replica's entries wait before the others take them
#   SETTLE=3                 seconds with an empty stream before the final SIGTERMs
#   BASE_PORT=20950          replicas listen on BASE_PORT, +1, +2; redis-server on BASE_PORT+10
#   OUT=target/replicas_kill9/<timestamp>   every run's stdout/stderr, the sender's files,
#                            report.json, summary.txt
#
# Requirements: Linux, bash, cargo, python3, redis-server and redis-cli (Debian: redis-server).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ITER=${ITER:-20}
KILL_MIN=${KILL_MIN:-0.5}
KILL_MAX=${KILL_MAX:-2.5}
RESTART_AFTER=${RESTART_AFTER:-1}
THREADS=${THREADS:-6}
HANDLER_DELAY_MS=${HANDLER_DELAY_MS:-100}
export INBOX_VISIBILITY_SECS=${INBOX_VISIBILITY_SECS:-3}
SETTLE=${SETTLE:-3}
BASE_PORT=${BASE_PORT:-20950}
OUT=${OUT:-target/replicas_kill9/$(date +%Y%m%d-%H%M%S)}
export RUST_LOG=${RUST_LOG:-info,webhook_receiver::receiver=error}
[[ -z ${SEED:-} ]] || RANDOM=$SEED
SECRET="replicas-secret-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/sender.py
REPLICAS=3
REDIS_PORT=$((BASE_PORT + 10))

SCRIPT=replicas_kill9.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || die "redis-server not found (Debian: apt-get install redis-server)"
command -v redis-cli >/dev/null || die "redis-cli not found (Debian: apt-get install redis-tools)"
for ((r = 0; r < REPLICAS; r++)); do
    port_open $((BASE_PORT + r)) && die "something already listens on $HOST:$((BASE_PORT + r)): pick another BASE_PORT"
done
port_open "$REDIS_PORT" && die "something already listens on $HOST:$REDIS_PORT: pick another BASE_PORT"

BIN=$(build_example --features redis) || exit 2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/replicas-redis.XXXXXX")
export REDIS_URL="redis://$HOST:$REDIS_PORT"
export INBOX=redis

PIDS=()
SENDER_PID=""
REDIS_PID=""
cleanup() {
    local pid
    for pid in $SENDER_PID "${PIDS[@]}" $REDIS_PID; do
        [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$REDIS_DIR"
}
trap cleanup EXIT
trap 'echo "replicas_kill9.sh: interrupted" >&2; exit 130' INT TERM

redis-server --port "$REDIS_PORT" --bind "$HOST" --dir "$REDIS_DIR" --save "" --appendonly no \
    >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$REDIS_PORT" ping >/dev/null || die "redis-server did not start (see $OUT/redis.log)"

RUN=0
# start_replica R: starts replica R as the next run; waits until it listens.
start_replica() {
    local r=$1 name
    RUN=$((RUN + 1))
    name=$(printf 'run-%03d' "$RUN")
    ADDR="$HOST:$((BASE_PORT + r))" CHIRP_WEBHOOK_SECRET="$SECRET" HANDLER_DELAY_MS="$HANDLER_DELAY_MS" \
        "$BIN" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
    PIDS[r]=$!
    echo -e "$RUN\treplica $r" >>"$OUT/runs.tsv"
    local waited=0
    until grep -q 'listening' "$OUT/$name.stderr" 2>/dev/null; do
        kill -0 "${PIDS[r]}" 2>/dev/null || die "run $RUN exited before listening (see $OUT/$name.stderr)"
        ((waited < 3000)) || die "run $RUN did not listen within 30 s"
        sleep 0.01
        waited=$((waited + 1))
    done
}

delay() {
    awk -v r="$RANDOM" -v a="$KILL_MIN" -v b="$KILL_MAX" 'BEGIN { printf "%.3f", a + (b - a) * r / 32767 }'
}
backlog() { redis-cli -p "$REDIS_PORT" XLEN webhook:inbox:stream; }

T0=$(date +%s.%N)
say "output: $OUT; $REPLICAS replicas on $HOST:$BASE_PORT..$((BASE_PORT + REPLICAS - 1)), $REDIS_URL; $ITER kills"
: >"$OUT/runs.tsv"
for ((r = 0; r < REPLICAS; r++)); do start_replica "$r"; done
ports=$(seq -s, "$BASE_PORT" $((BASE_PORT + REPLICAS - 1)))
python3 "$SENDER" load --port "$ports" --secret "$SECRET" --out "$OUT" --threads "$THREADS" \
    >"$OUT/sender.log" 2>&1 &
SENDER_PID=$!

: >"$OUT/kills.tsv"
for ((i = 1; i <= ITER; i++)); do
    sleep "$(delay)"
    kill -0 "$SENDER_PID" 2>/dev/null || die "the sender died (see $OUT/sender.log)"
    r=$((RANDOM % REPLICAS))
    kill -KILL "${PIDS[r]}"
    wait "${PIDS[r]}" 2>/dev/null || true
    printf '%d\t%d\t%s\n' "$i" "$r" "$(backlog)" >>"$OUT/kills.tsv"
    ((i % 5 == 0)) && say "kill $i/$ITER (replica $r; backlog $(backlog))"
    sleep "$RESTART_AFTER"
    start_replica "$r"
done

say "stopping the sender"
kill -TERM "$SENDER_PID"
wait "$SENDER_PID" || die "the sender failed (see $OUT/sender.log)"
SENDER_PID=""

say "waiting for the stream to empty (dead consumers' entries are taken over after ${INBOX_VISIBILITY_SECS}s)"
empty=0
for ((t = 0; t < 1200 && empty < SETTLE * 10; t++)); do
    if [[ $(backlog) == 0 ]]; then empty=$((empty + 1)); else empty=0; fi
    sleep 0.1
done
final_backlog=$(backlog)
pending_summary=$(redis-cli -p "$REDIS_PORT" XPENDING webhook:inbox:stream webhook-receiver | head -1)
statuses=""
for ((r = 0; r < REPLICAS; r++)); do
    kill -TERM "${PIDS[r]}"
    s=0
    wait "${PIDS[r]}" || s=$?
    statuses+="$s "
    PIDS[r]=""
done
T_END=$(date +%s.%N)

say "checking"
check=0
python3 "$SENDER" check-kill9 --acked "$OUT/acked.tsv" --sender "$OUT/sender.json" \
    --missing-out "$OUT/missing.tsv" --max-unacked "$THREADS" \
    "$OUT"/run-*.stdout >"$OUT/report.json" || check=$?
dead_letters=$(redis-cli -p "$REDIS_PORT" XLEN webhook:inbox:dead)
taken=$(grep -h -c 'taking over a Redis inbox entry' "$OUT"/run-*.stderr | awk '{ s += $1 } END { print s + 0 }')
{
    echo "replicas_kill9.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
    echo "ITER=$ITER KILL_MIN=$KILL_MIN KILL_MAX=$KILL_MAX RESTART_AFTER=$RESTART_AFTER THREADS=$THREADS HANDLER_DELAY_MS=$HANDLER_DELAY_MS INBOX_VISIBILITY_SECS=$INBOX_VISIBILITY_SECS"
    awk -v a="$T0" -v b="$T_END" 'BEGIN { printf "time: %.1f s\n", b - a }'
    echo "entries taken over from dead replicas: $taken"
    echo "at the end: stream length $final_backlog, pending $pending_summary, dead letters $dead_letters, exit statuses: $statuses"
    echo "report:"
    cat "$OUT/report.json"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"

bad=$check
[[ $final_backlog == 0 && $pending_summary == 0 && $dead_letters == 0 && $statuses == "0 0 0 " ]] || {
    echo "replicas_kill9.sh: MISMATCH: the stream was not emptied, something was dead-lettered, or a replica did not exit 0" >&2
    bad=1
}
if ((bad != 0)); then
    echo "replicas_kill9.sh: FAILED (see $OUT)" >&2
    exit 1
fi
echo "replicas_kill9.sh: ok ($OUT)"
