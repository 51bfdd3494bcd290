#!/usr/bin/env bash
# Many replicas, one Postgres inbox: nothing acknowledged is lost when replicas die, and the
# transactional handlers' rows are committed exactly once. Three replicas of the `chirp_receiver`
# example (`--features postgres`) on three ports share one PostgreSQL that this script starts
# (DATABASE_URL, INBOX=postgres, HANDLER_SINK=postgres: each handler inserts (key, handler) into
# `handled` in the inbox's transaction and prints its line after the commit); a sender
# (benches/sender.py) posts unique events spread over the three, moving to another replica on a
# connection error. ITER times a random replica is SIGKILLed at a random moment and restarted
# after RESTART_AFTER seconds. Then the sender stops, the replicas finish (a dead replica's
# events are claimed by the others once their lease, INBOX_LEASE_SECS, expires), the events
# table must be empty, and every replica must exit 0 on SIGTERM.
#
# Checks (exit 1 on a failure):
#   - every id answered 200 has its row in `handled` (its dedup key, computed as the example
#     computes it: sha256 of the length-prefixed parts [event, id, ""], first 16 bytes; checked
#     against the keys the stdout lines print);
#   - `handled` has exactly one row per (key, handler): no effect doubled by a kill;
#   - no dead letters, an empty events table, exit status 0 for the last runs.
# Reported: stdout lines repeated (none expected: a line is printed only by the run that
# committed) and acknowledged ids without a line (a kill between a commit and its print).
#
#   benches/replicas_kill9_postgres.sh          # 100 kills, about 5 minutes (plus the build)
#   ITER=20 benches/replicas_kill9_postgres.sh  # a quicker one
#
# Environment (all optional): ITER=100, KILL_MIN=0.5 KILL_MAX=2.5 (seconds between kills),
# RESTART_AFTER=1, THREADS=6, HANDLER_DELAY_MS=100, INBOX_LEASE_SECS=3, SETTLE=3,
# BASE_PORT=20960 (replicas on BASE_PORT..+2, PostgreSQL on BASE_PORT+10), EXAMPLE_BIN (a
# prebuilt chirp_receiver with the `postgres` feature: not built), OUT, SEED, PG_BIN.
# Requirements: Linux, bash, cargo, python3, PostgreSQL 12+ (Debian: postgresql).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ITER=${ITER:-100}
KILL_MIN=${KILL_MIN:-0.5}
KILL_MAX=${KILL_MAX:-2.5}
RESTART_AFTER=${RESTART_AFTER:-1}
THREADS=${THREADS:-6}
HANDLER_DELAY_MS=${HANDLER_DELAY_MS:-100}
export INBOX_LEASE_SECS=${INBOX_LEASE_SECS:-3}
SETTLE=${SETTLE:-3}
BASE_PORT=${BASE_PORT:-20960}
OUT=${OUT:-target/replicas_kill9_postgres/$(date +%Y%m%d-%H%M%S)}
export RUST_LOG=${RUST_LOG:-info,webhook_receiver::receiver=error}
[[ -z ${SEED:-} ]] || RANDOM=$SEED
SECRET="replicas-secret-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/sender.py
REPLICAS=3

SCRIPT=replicas_kill9_postgres.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=benches/postgres.sh
source "$(dirname "$0")/postgres.sh"
for ((r = 0; r < REPLICAS; r++)); do
    port_open $((BASE_PORT + r)) && die "something already listens on $HOST:$((BASE_PORT + r)): pick another BASE_PORT"
done
port_open $((BASE_PORT + 10)) && die "something already listens on $HOST:$((BASE_PORT + 10)): pick another BASE_PORT"

BIN=$(build_example --features postgres) || exit 2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

PIDS=()
SENDER_PID=""
cleanup() {
    local pid
    for pid in $SENDER_PID "${PIDS[@]}"; do
        [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
    done
    pg_stop
}
trap cleanup EXIT
trap 'echo "replicas_kill9_postgres.sh: interrupted" >&2; exit 130' INT TERM

pg_start $((BASE_PORT + 10))
export INBOX=postgres HANDLER_SINK=postgres

RUN=0
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
backlog() { pg_sql "SELECT count(*) FROM webhook_inbox.events"; }

T0=$(date +%s.%N)
say "output: $OUT; $REPLICAS replicas on $HOST:$BASE_PORT..$((BASE_PORT + REPLICAS - 1)); $ITER kills"
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
    ((i % 10 == 0)) && say "kill $i/$ITER (replica $r; backlog $(backlog))"
    sleep "$RESTART_AFTER"
    start_replica "$r"
done

say "stopping the sender"
kill -TERM "$SENDER_PID"
wait "$SENDER_PID" || die "the sender failed (see $OUT/sender.log)"
SENDER_PID=""

say "waiting for the events table to empty (a dead replica's events are claimed after ${INBOX_LEASE_SECS}s)"
empty=0
for ((t = 0; t < 1200 && empty < SETTLE * 10; t++)); do
    if [[ $(backlog) == 0 ]]; then empty=$((empty + 1)); else empty=0; fi
    sleep 0.1
done
final_backlog=$(backlog)
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
pg_sql "COPY (SELECT key, handler FROM handled) TO STDOUT" >"$OUT/handled.tsv"
dead_letters=$(pg_sql "SELECT count(*) FROM webhook_inbox.dead_letters")
python3 "$SENDER" check-kill9 --acked "$OUT/acked.tsv" --sender "$OUT/sender.json" \
    --missing-out "$OUT/missing.tsv" --max-unacked "$THREADS" \
    "$OUT"/run-*.stdout >"$OUT/report.json" 2>"$OUT/report.stderr" || true
check=0
python3 - "$OUT" >"$OUT/handled-check.json" <<'PY' || check=$?
import glob, hashlib, json, struct, sys, collections
out = sys.argv[1]
def key_of(event_id):
    h = hashlib.sha256()
    for part in (b"messages.sms.delivered", event_id.encode(), b""):
        h.update(struct.pack("<Q", len(part)))
        h.update(part)
    return h.digest()[:16].hex()
acked = {row.split("\t")[0] for row in open(f"{out}/acked.tsv") if row.strip()}
rows = collections.Counter(tuple(l.rstrip("\n").split("\t")) for l in open(f"{out}/handled.tsv") if l.strip())
keys = {k for k, _ in rows}
printed = collections.Counter()
mismatched_keys = 0
for path in glob.glob(f"{out}/run-*.stdout"):
    for line in open(path):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("dead_letter") or "id" not in obj:
            continue
        printed[obj["id"]] += 1
        if obj.get("key") != key_of(obj["id"]):
            mismatched_keys += 1
lost = sorted(i for i in acked if key_of(i) not in keys)
report = {
    "acked_ids": len(acked),
    "handled_rows": sum(rows.values()),
    "handled_distinct_key_handler": len(rows),
    "rows_doubled": sum(1 for n in rows.values() if n > 1),
    "acked_without_a_row": len(lost),
    "handled_not_acked": len(keys - {key_of(i) for i in acked}),
    "stdout_ids_printed_more_than_once": sum(1 for n in printed.values() if n > 1),
    "acked_ids_without_a_line": sum(1 for i in acked if printed[i] == 0),
    "stdout_keys_not_matching_the_computed_key": mismatched_keys,
    "lost_first": lost[:20],
}
print(json.dumps(report, indent=1))
sys.exit(1 if lost or report["rows_doubled"] or mismatched_keys else 0)
PY
taken=$(grep -h -c 'taking over an event' "$OUT"/run-*.stderr | awk '{ s += $1 } END { print s + 0 }')
{
    echo "replicas_kill9_postgres.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
    echo "ITER=$ITER KILL_MIN=$KILL_MIN KILL_MAX=$KILL_MAX RESTART_AFTER=$RESTART_AFTER THREADS=$THREADS HANDLER_DELAY_MS=$HANDLER_DELAY_MS INBOX_LEASE_SECS=$INBOX_LEASE_SECS"
    awk -v a="$T0" -v b="$T_END" 'BEGIN { printf "time: %.1f s\n", b - a }'
    echo "events claimed again after a kill or a drain: $taken"
    echo "at the end: events table $final_backlog, dead letters $dead_letters, exit statuses: $statuses"
    echo "handled (the transactional sink):"
    cat "$OUT/handled-check.json"
    echo "stdout report (sender.py check-kill9):"
    cat "$OUT/report.json"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"

bad=$check
[[ $final_backlog == 0 && $dead_letters == 0 && $statuses == "0 0 0 " ]] || {
    echo "replicas_kill9_postgres.sh: MISMATCH: the events table was not emptied, something was dead-lettered, or a replica did not exit 0" >&2
    bad=1
}
if ((bad != 0)); then
    echo "replicas_kill9_postgres.sh: FAILED (see $OUT)" >&2
    exit 1
fi
echo "replicas_kill9_postgres.sh: ok ($OUT)"
