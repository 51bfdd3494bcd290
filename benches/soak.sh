#!/usr/bin/env bash
# Soak (issue item 7): a bounded run of the `chirp_receiver` example at a steady rate, with a
# dedup capacity small enough that the store keeps evicting ids while new ones arrive (and a
# short TTL behind it), and redeliveries of recent ids that must be answered duplicate. The server's RSS (VmRSS of /proc/<pid>/status)
# is sampled every SAMPLE seconds; after WARMUP it must not grow by MAX_GROWTH_PCT or more.
#
#   benches/soak.sh                   # 120 s (plus the first build)
#   benches/soak.sh 600               # 10 minutes (or DURATION=600)
#
# What it does (the sender is benches/overload.py soak, python3 stdlib):
#   - the example runs with DEDUP_CAPACITY=5000, DEDUP_TTL_SECS=30 and instant handlers
#     (HANDLER_DELAY_MS=0), the default queue (1024) and concurrency (64)
#   - RATE requests/s (500), paced and split over WORKERS keep-alive connections; DUP_PCT % of
#     them (20) resend an id acknowledged as new in the last WINDOW seconds (5, well inside the
#     TTL): each must be answered 200 `"duplicate":true` and not printed again; the others are new
#     ids, which must be answered 200 (new)
#   - at 400 new ids/s a 30 s TTL would keep ~12,000 ids: the capacity of 5,000 forces the
#     least recently used ids out after ~12.5 s (5,000 / 400), before their TTL. The redeliveries'
#     WINDOW (5 s: ~2,000 new ids) stays well inside what the capacity keeps, so each must still
#     be answered duplicate; the script refuses a WINDOW whose new ids would exceed half the
#     capacity, where a redelivery could legitimately be answered new. The server logs each
#     power-of-two count of early evictions at warn; the largest is reported, and a run with a
#     capacity that logged none fails (the eviction path was not exercised). DEDUP_CAPACITY=
#     (empty) keeps the library's default (1,000,000): expiry only, as the first runs did
#   - after DURATION, SIGTERM: the server must drain and exit 0
#   - checks (exit 1 if one fails): every id answered 200 (new) printed exactly once (0 lost,
#     0 doubled), no id printed that was not answered 200, no redelivery answered as new, no new
#     id answered duplicate, no status other than 200, no connection error, no dead letter; RSS
#     at the end < (1 + MAX_GROWTH_PCT/100) x RSS at WARMUP
#
# Environment (all optional):
#   DURATION=120 (or the first argument)   seconds of load
#   RATE=500 DUP_PCT=20 WINDOW=5 WORKERS=8
#   DEDUP_TTL_SECS=30 DEDUP_CAPACITY=5000
#   WARMUP=40                the RSS baseline: the first sample at or after WARMUP s (expiry only,
#                            DEDUP_CAPACITY=, needs WARMUP=200: see benches/README.md). The store
#                            only reaches its steady size once the TTL has turned it over once
#                            (30 s), so the default baseline is after that; the RSS at 20 s is
#                            reported too
#   SAMPLE=2                 seconds between RSS samples (target/soak/<ts>/rss.tsv)
#   MAX_GROWTH_PCT=10
#   PORT=21100               127.0.0.1 port
#   OUT=target/soak/<timestamp>
#   RUST_LOG=warn            the server's log filter (stderr)
#
# Requirements: Linux (/proc), bash, cargo, python3 (standard library only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${1:-${DURATION:-120}}
RATE=${RATE:-500}
DUP_PCT=${DUP_PCT:-20}
WINDOW=${WINDOW:-5}
WORKERS=${WORKERS:-8}
DEDUP_TTL_SECS=${DEDUP_TTL_SECS:-30}
DEDUP_CAPACITY=${DEDUP_CAPACITY-5000}
WARMUP=${WARMUP:-40}
SAMPLE=${SAMPLE:-2}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-10}
PORT=${PORT:-21100}
OUT=${OUT:-target/soak/$(date +%Y%m%d-%H%M%S)}
export RUST_LOG=${RUST_LOG:-warn}
SECRET="soak-secret-0123456789abcdef"
HOST=127.0.0.1
SENDER=benches/overload.py

SCRIPT=soak.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
port_open "$PORT" && die "something already listens on $HOST:$PORT: pick another PORT"
awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN { exit !(w < d) }' || die "WARMUP ($WARMUP) must be below DURATION ($DURATION)"
if [[ -n $DEDUP_CAPACITY ]]; then
    # New ids acknowledged within WINDOW must all still be remembered: keep them under half the
    # capacity (LRU; a redelivery's hit only keeps its id longer).
    awk -v r="$RATE" -v p="$DUP_PCT" -v w="$WINDOW" -v c="$DEDUP_CAPACITY" \
        'BEGIN { exit !(r * (100 - p) / 100 * w <= c / 2) }' ||
        die "WINDOW=$WINDOW s holds more new ids than half of DEDUP_CAPACITY=$DEDUP_CAPACITY: redeliveries could be evicted and answered new"
fi

BIN=$(build_example) || exit 2

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

SERVER_PID=""
cleanup() { [[ -z $SERVER_PID ]] || kill -KILL "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT
trap 'echo "soak.sh: interrupted" >&2; exit 130' INT TERM

# RUST_LOG=warn hides the "listening" line: wait for the port instead.
ADDR="$HOST:$PORT" CHIRP_WEBHOOK_SECRET="$SECRET" HANDLER_DELAY_MS=0 \
    DEDUP_TTL_SECS="$DEDUP_TTL_SECS" DEDUP_CAPACITY="$DEDUP_CAPACITY" "$BIN" >"$OUT/server.stdout" 2>"$OUT/server.stderr" &
SERVER_PID=$!
waited=0
until port_open "$PORT"; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited before listening (see $OUT/server.stderr)"
    ((waited < 3000)) || die "the server did not listen within 30 s"
    sleep 0.01
    waited=$((waited + 1))
done

say "output: $OUT; $RATE req/s for $DURATION s, $DUP_PCT% redeliveries (last $WINDOW s), DEDUP_TTL_SECS=$DEDUP_TTL_SECS DEDUP_CAPACITY=${DEDUP_CAPACITY:-default}"
T0=$(date +%s.%N)
python3 "$SENDER" soak --port "$PORT" --secret "$SECRET" --out "$OUT" --pid "$SERVER_PID" \
    --rate "$RATE" --duration "$DURATION" --dup-pct "$DUP_PCT" --window "$WINDOW" \
    --workers "$WORKERS" --warmup "$WARMUP" --sample "$SAMPLE" \
    >"$OUT/sender.log" 2>&1 || die "the sender failed (see $OUT/sender.log)"
T_SENT=$(date +%s.%N)
cpu=$(awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$SERVER_PID/stat" 2>/dev/null || echo "?")

kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
T_END=$(date +%s.%N)

# The server logs "dedup capacity reached" at each power-of-two count of early evictions.
evicted=$({ grep -o 'evicted_before_ttl=[0-9]*' "$OUT/server.stderr" || true; } | cut -d= -f2 | sort -n | tail -1)
evicted=${evicted:-0}

check=0
python3 "$SENDER" check --acked "$OUT/acked.tsv" "$OUT/server.stdout" >"$OUT/report.json" \
    2>"$OUT/check.stderr" || check=$?

verdict=$(python3 - "$OUT/sender.json" "$OUT/report.json" "$MAX_GROWTH_PCT" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
limit = float(sys.argv[3]) / 100
mib = lambda kb: f"{kb / 1024:.1f} MiB" if kb is not None else "?"
g = s["rss_growth_after_warmup"]
print(f"requests: {s['requests']} ({s['requests_fresh']} new ids, {s['requests_redelivery']} "
      f"redeliveries), {s['achieved_rate_per_s']}/s achieved, sender max lag {s['max_lag_s']} s")
print(f"200 new: {s['ok_new']}; 200 duplicate (redeliveries): {s['ok_dup_redelivery']}; "
      f"redeliveries answered new: {s['fail_redelivery_answered_new']}; new ids answered "
      f"duplicate: {s['fail_fresh_answered_duplicate']}; other statuses: {s['fail_status']}; "
      f"connection errors: {s['fail_conn_error']}")
print(f"stdout lines: {r['lines']}; lost: {r['lost']}; doubled: {r['doubled']}; printed but "
      f"never answered 200: {r['printed_never_acked']}; dead letters: {r['dead_letter_lines']}; "
      f"malformed: {r['malformed_lines']}")
print(f"RSS: {mib(s['rss_kb_at_20s'])} at 20 s, {mib(s['rss_kb_at_warmup'])} at "
      f"{s['rss_warmup_s']} s (baseline), {mib(s['rss_kb_end'])} at {s['rss_end_s']} s (end); "
      f"after the baseline min {mib(s['rss_kb_min_after_warmup'])}, max "
      f"{mib(s['rss_kb_max_after_warmup'])}; growth {g * 100:+.2f}% (limit {limit * 100:.0f}%)")
ok_rss = g is not None and g < limit
ok_send = (s["fail_redelivery_answered_new"] == 0 and s["fail_fresh_answered_duplicate"] == 0
           and not s["fail_status"] and s["fail_conn_error"] == 0)
print(f"VERDICT rss={'ok' if ok_rss else 'FAIL'} answers={'ok' if ok_send else 'FAIL'}")
PY
)

{
    echo "soak.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
    echo "server: DEDUP_TTL_SECS=$DEDUP_TTL_SECS, DEDUP_CAPACITY=${DEDUP_CAPACITY:-default (1000000)}, HANDLER_DELAY_MS=0, default queue and concurrency; sender: $RATE req/s for $DURATION s, $DUP_PCT% redeliveries of ids acknowledged in the last $WINDOW s, $WORKERS workers"
    awk -v a="$T0" -v b="$T_SENT" -v c="$T_END" -v cpu="$cpu" \
        'BEGIN { printf "time: load %.1f s, drain after SIGTERM %.2f s; server CPU %s s\n", b - a, c - b, cpu }'
    echo "$verdict" | grep -v '^VERDICT'
    echo "early evictions (capacity): at least $evicted (the largest power of two logged)"
    echo "server exit status after SIGTERM: $status"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"

bad=0
((check == 0)) || { echo "soak.sh: MISMATCH in the stdout check (see $OUT/report.json)" >&2; cat "$OUT/check.stderr" >&2; bad=1; }
grep -q 'answers=ok' <<<"$verdict" || { echo "soak.sh: FAILED: wrong answers (see $OUT/sender.json)" >&2; bad=1; }
grep -q 'rss=ok' <<<"$verdict" || { echo "soak.sh: FAILED: RSS grew by $MAX_GROWTH_PCT% or more after the warm-up (see $OUT/rss.tsv)" >&2; bad=1; }
if [[ -n $DEDUP_CAPACITY ]] && ((evicted == 0)); then
    echo "soak.sh: FAILED: DEDUP_CAPACITY=$DEDUP_CAPACITY but the server logged no early eviction" >&2
    bad=1
fi
((status == 0)) || { echo "soak.sh: FAILED: the server exited with status $status after SIGTERM" >&2; bad=1; }
((bad == 0)) || exit 1
say "OK (output in $OUT)"
