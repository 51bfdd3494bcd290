#!/usr/bin/env bash
# Dead letters replayed by an operator, from outside, for each store that keeps events: the
# `chirp_receiver` example with ADMIN_ADDR/ADMIN_TOKEN, the `webhook-receiver` tool, and the
# admin router over curl.
#
# For each store (redb: INBOX_PATH; redis: INBOX=redis on a redis-server this script starts;
# postgres: INBOX=postgres on a PostgreSQL this script starts with initdb/pg_ctl, benches/postgres.sh):
#   1. HANDLER_FAIL_FIRST=99 RETRY_MAX_ATTEMPTS=2: N events are sent (benches/sender.py burst);
#      every id prints exactly one dead-letter line ("attempts":2); SIGTERM
#   2. redb only: the tool on the stopped file: `--inbox DIR replay --state dead --dry-run --json`
#      prints {"matched": N}
#   3. a restart without the failure (HANDLER_FAIL_FIRST=0): nothing is printed by itself
#   4. the tool (redb: --admin-url/--token, the file being held by the receiver; redis: --redis;
#      postgres: --postgres):
#      `replay --state dead --dry-run --json` prints {"matched": N}; `replay --state dead
#      --json` prints {"matched": N, "replayed": N}; the receiver prints each id's line exactly
#      once; a second `replay --state dead --json` prints {"matched": 0, "replayed": 0} and
#      nothing more is printed
#   5. the same over the admin router with curl, on a second batch of N events (ids b-*):
#      POST /replay?state=dead&dry_run=true, POST /replay?state=dead (twice)
# The script exits 1 on any mismatch, and writes the figures to OUT/summary.txt.
#
#   benches/admin_replay.sh            # N=100, the three stores (plus the first build)
#   STORES=redb benches/admin_replay.sh
#
# Environment (all optional): N=100, STORES="redb redis postgres", PORT=21950 (the receiver's; the
# admin router listens on PORT+1, redis-server on PORT+2, PostgreSQL on PORT+3),
# OUT=target/admin_replay/<timestamp>,
# RUST_LOG=error, PROFILE=release (or dev, for a quicker build).
#
# Requirements: Linux, bash, cargo, curl, python3 (standard library only), redis-server (for
# the redis store), PostgreSQL's server binaries (for the postgres store: Debian's postgresql).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-100}
STORES=${STORES:-"redb redis postgres"}
PORT=${PORT:-21950}
ADMIN_PORT=$((PORT + 1))
REDIS_PORT=$((PORT + 2))
PG_PORT_FOR_BENCH=$((PORT + 3))
PROFILE=${PROFILE:-release}
OUT=${OUT:-target/admin_replay/$(date +%Y%m%d-%H%M%S)}
export RUST_LOG=${RUST_LOG:-error}
SECRET="admin-replay-secret-0123456789"
TOKEN="admin-replay-token-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/sender.py
SCRIPT=admin_replay.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=benches/postgres.sh
source "$(dirname "$0")/postgres.sh"
command -v curl >/dev/null || die "curl not found"

say "building (profile $PROFILE): the example and the tool, --features admin,durable,redis,postgres,cli"
ARTIFACTS=$(cargo build --profile "$PROFILE" --features admin,durable,redis,postgres,cli \
    --example chirp_receiver --bin webhook-receiver --message-format=json-render-diagnostics) ||
    die "cargo build failed"
BIN=$(grep '"name":"chirp_receiver"' <<<"$ARTIFACTS" | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
TOOL=$(grep '"name":"webhook-receiver"' <<<"$ARTIFACTS" | grep '"kind":\["bin"\]' | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
[[ -x $BIN && -x $TOOL ]] || die "binaries not found ($BIN, $TOOL)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SERVER_PID=""
REDIS_PID=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/admin-replay.XXXXXX")
cleanup() {
    [[ -z $SERVER_PID ]] || kill -KILL "$SERVER_PID" 2>/dev/null || true
    [[ -z $REDIS_PID ]] || kill -KILL "$REDIS_PID" 2>/dev/null || true
    pg_stop
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "$SCRIPT: interrupted" >&2; exit 130' INT TERM

FAILED=0
SUMMARY=$OUT/summary.txt
echo "admin_replay.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs, N=$N, profile $PROFILE" >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY" >&2; }
mismatch() {
    echo "$SCRIPT: MISMATCH: $*" | tee -a "$SUMMARY" >&2
    FAILED=1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# start_server NAME ENV...: the example on PORT (admin router on ADMIN_PORT), until it listens.
start_server() {
    local name=$1
    shift
    port_open "$PORT" && die "something already listens on $HOST:$PORT: pick another PORT"
    env ADDR="$HOST:$PORT" CHIRP_WEBHOOK_SECRET="$SECRET" ADMIN_ADDR="$HOST:$ADMIN_PORT" \
        ADMIN_TOKEN="$TOKEN" RETRY_BACKOFF_MS=10 "$@" "$BIN" \
        >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
    SERVER_PID=$!
    local waited=0
    until port_open "$PORT" && port_open "$ADMIN_PORT"; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited before listening (see $OUT/$name.stderr)"
        ((waited < 3000)) || die "$name did not listen within 30 s"
        sleep 0.01
        waited=$((waited + 1))
    done
}

stop_server() {
    kill -TERM "$SERVER_PID"
    STOP_STATUS=0
    wait "$SERVER_PID" || STOP_STATUS=$?
    SERVER_PID=""
}

# wait_lines FILE PATTERN COUNT: until FILE has COUNT lines matching PATTERN (30 s at most).
wait_lines() {
    local waited=0
    until (($(grep -c -- "$2" "$1" || true) >= $3)); do
        ((waited < 3000)) || return 1
        sleep 0.01
        waited=$((waited + 1))
    done
}

# check_once FILE PREFIX: every id PREFIX-0..PREFIX-(N-1) printed exactly one handler line (and
# nothing else was printed). Prints the problems, returns 1 on any.
check_once() {
    python3 - "$1" "$2" "$N" <<'EOF'
import collections, json, sys
path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(l) for l in open(path) if l.strip()]
ids = collections.Counter(l.get("id") for l in lines if not l.get("dead_letter"))
dead = [l for l in lines if l.get("dead_letter")]
want = {f"{prefix}-{i}" for i in range(n)}
problems = []
if dead:
    problems.append(f"{len(dead)} dead-letter line(s)")
if set(ids) != want:
    problems.append(f"ids: {len(set(ids) - want)} unexpected, {len(want - set(ids))} missing")
twice = [i for i, c in ids.items() if c > 1]
if twice:
    problems.append(f"{len(twice)} id(s) printed more than once, e.g. {twice[:3]}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}

# expect WHAT GOT WANT: compares two JSON texts.
expect() {
    if python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$2" "$3"; then
        note "  $1: $2"
    else
        mismatch "$1: got $2, want $3"
    fi
}

# dead_letter_batch NAME PREFIX ENV...: a failing receiver, N events, every one dead-lettered.
dead_letter_batch() {
    local name=$1 prefix=$2
    shift 2
    local t0
    t0=$(now)
    start_server "$name" HANDLER_FAIL_FIRST=99 RETRY_MAX_ATTEMPTS=2 "$@"
    python3 "$SENDER" burst --port "$PORT" --secret "$SECRET" --out "$OUT/$name" \
        --threads 8 --count "$N" --prefix "$prefix" >"$OUT/$name.sender.log" 2>&1 ||
        mismatch "$name: not every POST was answered 200 (see $OUT/$name.sender.log)"
    wait_lines "$OUT/$name.stdout" '"dead_letter":true' "$N" ||
        mismatch "$name: not $N dead letters within 30 s"
    stop_server
    python3 "$SENDER" check-retries --mode dead3 --count "$N" --prefix "$prefix" --attempts 2 \
        "$OUT/$name.stdout" >"$OUT/$name.report.json" 2>"$OUT/$name.check.log" ||
        mismatch "$name: the dead-letter lines (see $OUT/$name.check.log)"
    note "  $name: $N events sent and dead-lettered (2 attempts each) in $(since "$t0") s; exit $STOP_STATUS"
}

# replay_phase NAME PREFIX HOW ENV...: a healthy receiver; the dry run, the replay, its lines,
# the second replay. HOW is `tool` (the tool, with TOOL_TARGET) or `curl` (the admin router).
replay_phase() {
    local name=$1 prefix=$2 how=$3
    shift 3
    start_server "$name" HANDLER_FAIL_FIRST=0 "$@"
    sleep 0.5
    local before
    before=$(wc -l <"$OUT/$name.stdout")
    ((before == 0)) || mismatch "$name: $before line(s) printed before any replay (dead events must wait)"
    local dry replay again t0
    local url="http://$HOST:$ADMIN_PORT"
    case $how in
    tool)
        dry=$("$TOOL" "${TOOL_TARGET[@]}" replay --state dead --dry-run --json)
        t0=$(now)
        replay=$("$TOOL" "${TOOL_TARGET[@]}" replay --state dead --json)
        ;;
    curl)
        local auth=(-sS -f -X POST -H "Authorization: Bearer $TOKEN")
        local refused
        refused=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/replay?state=dead")
        [[ $refused == 401 ]] || mismatch "$name: the admin router without the token answered $refused, not 401"
        note "  $name: POST /replay without the token: $refused"
        dry=$(curl "${auth[@]}" "$url/replay?state=dead&dry_run=true")
        t0=$(now)
        replay=$(curl "${auth[@]}" "$url/replay?state=dead")
        ;;
    esac
    expect "$name ($how) dry run" "$dry" "{\"matched\": $N}"
    expect "$name ($how) replay" "$replay" "{\"matched\": $N, \"replayed\": $N}"
    wait_lines "$OUT/$name.stdout" '"handler"' "$N" || mismatch "$name: not $N handler lines within 30 s"
    note "  $name: the replay call and its $N handler lines took $(since "$t0") s"
    case $how in
    tool) again=$("$TOOL" "${TOOL_TARGET[@]}" replay --state dead --json) ;;
    curl) again=$(curl -sS -f -X POST -H "Authorization: Bearer $TOKEN" "$url/replay?state=dead") ;;
    esac
    expect "$name ($how) second replay" "$again" '{"matched": 0, "replayed": 0}'
    sleep 0.5
    stop_server
    local problems
    problems=$(check_once "$OUT/$name.stdout" "$prefix") ||
        mismatch "$name: the replay's lines: $problems"
    note "  $name: $(wc -l <"$OUT/$name.stdout") lines, each id exactly once; exit $STOP_STATUS"
}

for store in $STORES; do
    case $store in
    redb)
        note "store redb (INBOX_PATH)"
        dir=$TMP/inbox
        dead_letter_batch redb-fail-a a INBOX_PATH="$dir"
        dry=$("$TOOL" --inbox "$dir" replay --state dead --dry-run --json)
        expect "redb stopped file (--inbox) dry run" "$dry" "{\"matched\": $N}"
        TOOL_TARGET=(--admin-url "http://$HOST:$ADMIN_PORT" --token "$TOKEN")
        replay_phase redb-replay-a a tool INBOX_PATH="$dir"
        dead_letter_batch redb-fail-b b INBOX_PATH="$dir"
        replay_phase redb-replay-b b curl INBOX_PATH="$dir"
        ;;
    redis)
        note "store redis (INBOX=redis)"
        command -v redis-server >/dev/null || die "redis-server not found"
        redis-server --port "$REDIS_PORT" --bind "$HOST" --save '' --appendonly no \
            >"$OUT/redis.log" 2>&1 &
        REDIS_PID=$!
        waited=0
        until port_open "$REDIS_PORT"; do
            ((waited < 1000)) || die "redis-server did not listen"
            sleep 0.01
            waited=$((waited + 1))
        done
        redis_env=(INBOX=redis REDIS_URL="redis://$HOST:$REDIS_PORT" INBOX_VISIBILITY_SECS=5)
        dead_letter_batch redis-fail-a a "${redis_env[@]}"
        TOOL_TARGET=(--redis "redis://$HOST:$REDIS_PORT")
        replay_phase redis-replay-a a tool "${redis_env[@]}"
        dead_letter_batch redis-fail-b b "${redis_env[@]}"
        replay_phase redis-replay-b b curl "${redis_env[@]}"
        kill -TERM "$REDIS_PID"
        wait "$REDIS_PID" || true
        REDIS_PID=""
        ;;
    postgres)
        note "store postgres (INBOX=postgres)"
        pg_start "$PG_PORT_FOR_BENCH"
        pg_env=(INBOX=postgres DATABASE_URL="$DATABASE_URL" INBOX_LEASE_SECS=5)
        dead_letter_batch postgres-fail-a a "${pg_env[@]}"
        TOOL_TARGET=(--postgres "$DATABASE_URL")
        replay_phase postgres-replay-a a tool "${pg_env[@]}"
        dead_letter_batch postgres-fail-b b "${pg_env[@]}"
        replay_phase postgres-replay-b b curl "${pg_env[@]}"
        pg_stop
        ;;
    *) die "unknown store '$store' (redb redis postgres)" ;;
    esac
done

if ((FAILED != 0)); then
    echo "$SCRIPT: FAILED (output in $OUT)" >&2
    exit 1
fi
note "OK (output in $OUT)"
