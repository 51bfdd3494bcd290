#!/usr/bin/env bash
# HTTP load test: the `chirp_receiver` example against a bare axum POST server
# (`benches/bare_server.rs`), over loopback, server and load generator pinned to different CPUs.
# Both servers are built with the same cargo profile and do the same per-event output: one JSON
# line on stdout per handled event, written by a task after the response. Each server's stdout
# goes to a file, whose lines are counted once the server has exited (SIGTERM: both drain
# their pending lines first) and checked against what wrk sent and was answered.
#
#   benches/load.sh                 # the two budget lines, about 7 minutes (plus the first build)
#   QUICK=1 benches/load.sh         # one repetition of 4 s runs, about 1 minute
#
# Scenarios (each run is a fresh server, a warm-up, then a measured wrk run):
#   throughput   example vs bare, unique `data.id` per request, at each of CONNS connections, as
#                fast as the server answers (closed loop: wrk sends the next request on a
#                connection as soon as the previous one is answered)
#   slow         example with HANDLER_DELAY_MS=0 vs 1000 (queue and concurrency raised so that
#                acks stay 200), 64 connections, as fast as the server answers
#   slow_paced   the same pair at a fixed offered load of RATE requests/s (each connection waits
#                connections*1000/RATE ms on average, jittered, between requests), at each of
#                CONNS connections: the ack latency must not move
#   dup90        example vs bare, 90% of requests redeliver an id already sent (64 connections)
#   aa           the example against itself (same binary, unique ids, 64 connections): the noise
#                floor of a pair ratio on this machine, whose truth is 1.0; with EXAMPLE_BIN_B set
#                (a prebuilt chirp_receiver, e.g. of an older commit, same profile and features:
#                --features durable,redis), example/b runs that binary: an A/B of two builds
#   durable      the example with the durable inbox (INBOX_PATH, a fresh directory per run: every
#                event fsync'd before its 200, concurrent requests sharing a commit) vs the same
#                binary in memory, unique ids, 64 connections (goal: durable/memory >= 0.5)
#   redis        the example with its dedup on Redis (REDIS_URL: a redis-server this script
#                starts on REDIS_PORT, pinned to REDIS_CPU, flushed before each run) vs the same
#                binary in memory, unique ids, 64 connections (goal: redis/memory >= 0.5)
#   redis_inbox  the example with the Redis inbox (REDIS_URL and INBOX=redis: every event in the
#                stream before its 200, handlers fed from it) vs the same binary in memory;
#                before each SIGTERM the script waits for the stream to empty
#   postgres_inbox  the example with the Postgres inbox (DATABASE_URL and INBOX=postgres: every
#                event committed to a PostgreSQL this script starts, pinned to PG_CPU, before its
#                200; handlers fed from it) vs the same binary in memory (goal >= 0.5); before
#                each SIGTERM the script waits for the events table to empty; with
#                EXAMPLE_BIN_B set (a prebuilt chirp_receiver of another commit, same profile,
#                --features durable,redis,postgres), that build's Postgres inbox runs too (in
#                the schema webhook_inbox_b), interleaved: an A/B of two builds
#   postgres_tx  the Postgres inbox with HANDLER_SINK=postgres (each handler inserts its row in
#                the inbox's transaction: a transactional handler) vs with plain handlers
# Pairs are measured back to back and repeated REPS times; budget lines use the median of the
# per-pair ratios, so that machine noise cancels. The budget lines (the default scenarios):
# throughput example/bare >= 0.85 and dup90 example/bare >= 0.95, at 64 connections.
#
# Line counts: a run's stdout file must hold one line per request the server handled (the
# health-check POST, the warm-up and the measured run): for the bare server one per 2xx wrk read;
# for the example one per accepted distinct id, i.e. one per 2xx with unique ids and, with
# duplicates, the number of distinct ids the wrk script sent (`new_ids`). Requests still in
# flight when wrk stops (at most one per connection; `sent` minus answered) may or may not have
# been handled, so they widen the accepted range by that much. Outside the range, or with a
# malformed line, the run is flagged MISMATCH (on stderr, in results.tsv and in the summary)
# and the script exits with status 3 after the report.
#
# Environment (all optional):
#   DURATION=10 WARMUP=1 REPS=9     seconds per measured run, warm-up seconds, repetitions
#   PACED_REPS=3*REPS               pairs of the paced scenario per connection count, spread over
#                                   the repetitions (its sub-millisecond p99s are the noisiest
#                                   figures here: the median needs more pairs)
#   CONNS="64"                      connection counts for the throughput and paced scenarios
#                                   (dup90 and slow always use 64)
#   RATE=8000                       offered load of the paced scenario (requests/s)
#   SCENARIOS="throughput dup90"    which scenarios to run, out of
#                                   "throughput slow slow_paced dup90 aa durable redis redis_inbox postgres_inbox postgres_tx"
#   REDIS_PORT=20399 REDIS_CPU=$SERVER_CPU   the redis scenario's redis-server (its CPU time
#                                   counts against the receiver's core by default, as the worst
#                                   case; a real Redis is on another machine)
#   PG_PORT=20398 PG_CPU=$SERVER_CPU   the postgres scenarios' PostgreSQL (default durability:
#                                   fsync and synchronous_commit on; PG_OPTIONS adds settings;
#                                   its CPU time counts against the receiver's core by default)
#   SERVER_CPU=0 LOAD_CPU=1         CPUs for the server and for wrk (taskset)
#   WRK_THREADS=1                   wrk threads (all on LOAD_CPU)
#   PAYLOAD=benches/payloads/sms_delivered_390.json   body template (`__ID__` = message id):
#                                   a ~390-byte `messages.sms.delivered` with fields the typed
#                                   payload does not know (`createdAt`, `direction`, `metadata`)
#   PORT=20400                      first port (one per run, 127.0.0.1 only); keep the ports
#                                   below the kernel's ephemeral range (ip_local_port_range),
#                                   where wrk's own sockets could already hold them
#   OUT=target/load/<timestamp>     where raw results, server logs and stdout samples go
#   PROFILE=perf                    cargo profile both servers are built with (Cargo.toml)
#   LTO=thin CODEGEN_UNITS=1        set on that profile for this build with cargo's `--config`
#                                   (profile.$PROFILE.lto / .codegen-units), whatever Cargo.toml
#                                   says; set one empty (LTO=) to keep Cargo.toml's value
#   KEEP_STDOUT=                    1: keep each server's whole stdout file (up to ~200 MB per
#                                   run); by default it is deleted once counted (before the kernel
#                                   writes it back to disk), and its first and last lines are
#                                   kept in <server>-<port>.stdout.sample
#
# Requirements: Linux, 2+ CPUs, cargo, taskset (util-linux). wrk is installed with apt-get if
# missing (Debian/Ubuntu; needs root or sudo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

if [[ -n "${QUICK:-}" ]]; then
    DURATION=${DURATION:-4}
    WARMUP=${WARMUP:-1}
    REPS=${REPS:-1}
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
REPS=${REPS:-9}
PACED_REPS=${PACED_REPS:-$((3 * REPS))}
# Paced pairs per repetition (rounded up).
PACED_PER_REP=$(((PACED_REPS + REPS - 1) / REPS))
PROFILE=${PROFILE:-perf}
LTO=${LTO-thin}
CODEGEN_UNITS=${CODEGEN_UNITS-1}
KEEP_STDOUT=${KEEP_STDOUT:-}
CONNS=${CONNS:-64}
RATE=${RATE:-8000}
SCENARIOS=${SCENARIOS:-"throughput dup90"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WRK_THREADS=${WRK_THREADS:-1}
PAYLOAD=${PAYLOAD:-benches/payloads/sms_delivered_390.json}
PORT=${PORT:-20400}
OUT=${OUT:-target/load/$(date +%Y%m%d-%H%M%S)}
SECRET="load-test-secret-0123456789abcdef"
LUA=benches/wrk/chirp.lua
HOST=127.0.0.1

die() {
    echo "load.sh: error: $*" >&2
    exit 1
}
say() { echo "== $*" >&2; }

# ----- prerequisites ---------------------------------------------------------------------------

[[ "$(uname -s)" == Linux ]] || die "Linux only (taskset, /proc)"
command -v cargo >/dev/null || die "cargo not found"
command -v taskset >/dev/null || die "taskset not found (package util-linux)"
ncpu=$(nproc --all)
((ncpu >= 2)) || die "needs 2 CPUs (one for the server, one for wrk); found $ncpu"
((SERVER_CPU != LOAD_CPU)) || die "SERVER_CPU and LOAD_CPU must differ"
[[ -f "$PAYLOAD" ]] || die "payload $PAYLOAD not found"
for s in $SCENARIOS; do
    [[ " throughput slow slow_paced dup90 aa durable redis redis_inbox postgres_inbox postgres_tx " == *" $s "* ]] || die "unknown scenario '$s' (throughput slow slow_paced dup90 aa durable redis redis_inbox postgres_inbox postgres_tx)"
done
REDIS_PORT=${REDIS_PORT:-20399}
REDIS_CPU=${REDIS_CPU:-$SERVER_CPU}
if [[ " $SCENARIOS " == *" redis "* || " $SCENARIOS " == *" redis_inbox "* ]]; then
    command -v redis-server >/dev/null || die "the redis scenario needs redis-server (7.0 or later; Debian: apt-get install redis-server)"
fi
grep -q __ID__ "$PAYLOAD" || die "payload $PAYLOAD has no __ID__ placeholder"
if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
    read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range
    # One port per measured run: per repetition, two per connection count for throughput, two
    # per paced pair and connection count, and two each for slow, dup90, durable, aa and redis,
    # at most.
    nconns=$(wc -w <<<"$CONNS")
    last_port=$((PORT + (2 * nconns * (1 + PACED_PER_REP) + 10) * REPS + 1))
    if ((last_port >= eph_lo && PORT <= eph_hi)); then
        die "ports $PORT-$last_port overlap the ephemeral range $eph_lo-$eph_hi, where client sockets can already hold a port (AddrInUse); pick a lower PORT"
    fi
fi

if ! command -v wrk >/dev/null; then
    say "wrk not found: installing the Debian package"
    command -v apt-get >/dev/null || die "wrk is missing and apt-get is not available: install wrk"
    sudo=""
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "wrk is missing: run as root or install wrk"
        sudo=sudo
    fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null ||
        die "apt-get install wrk failed"
fi

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
printf 'scenario\tconns\tserver\trep\trps\tp50_us\tp99_us\tnon2xx\tsocket_errors\trequests\trss_peak_kib\tserver_cpu_pct\tserver_cpu_us_per_req\twrk_cpu_pct\tlines_expected\tlines_seen\tlines_min\tlines_max\tlines_malformed\tlines_check\n' >"$RESULTS"
MISMATCHES=$OUT/line-count-mismatches.txt
: >"$MISMATCHES"

# ----- build -----------------------------------------------------------------------------------

# The path of the executable cargo reports for target `$1` on stdin (JSON messages).
executable_of() {
    grep "\"name\":\"$1\"" | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4
}

# The same profile and the same overrides for both binaries.
BUILD=(--profile "$PROFILE")
BUILD_DESC="cargo profile \`$PROFILE\`"
if [[ -n $LTO ]]; then
    case $LTO in
    true | false) BUILD+=(--config "profile.$PROFILE.lto=$LTO") ;;
    *) BUILD+=(--config "profile.$PROFILE.lto=\"$LTO\"") ;;
    esac
    lto_desc="lto = \"$LTO\""
else
    lto_desc="lto as in Cargo.toml"
fi
if [[ -n $CODEGEN_UNITS ]]; then
    BUILD+=(--config "profile.$PROFILE.codegen-units=$CODEGEN_UNITS")
    cgu_desc="codegen-units = $CODEGEN_UNITS"
else
    cgu_desc="codegen-units as in Cargo.toml"
fi
BUILD_DESC="$BUILD_DESC with $lto_desc and $cgu_desc"
say "building the example and the bare server: $BUILD_DESC (cargo ${BUILD[*]}; LTO: a few minutes the first time)"
# The example with the `durable`, `redis` and `postgres` features, so that each inbox scenario's
# two servers are one binary (without INBOX_PATH, REDIS_URL or INBOX=postgres it never touches
# that code).
EXAMPLE_BIN=$(cargo build "${BUILD[@]}" --features durable,redis,postgres --example chirp_receiver --message-format=json-render-diagnostics |
    executable_of chirp_receiver) || die "cargo build --example chirp_receiver failed"
BARE_BIN=$(cargo build "${BUILD[@]}" --bench bare_server --message-format=json-render-diagnostics |
    executable_of bare_server) || die "cargo build --bench bare_server failed"
[[ -x "$EXAMPLE_BIN" ]] || die "example binary not found ($EXAMPLE_BIN)"
[[ -x "$BARE_BIN" ]] || die "bare_server binary not found ($BARE_BIN)"

# ----- servers ---------------------------------------------------------------------------------

SERVER_PID=""
WRK_PID=""
REDIS_PID=""
cleanup() {
    local pid
    for pid in $WRK_PID $SERVER_PID $REDIS_PID; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    [[ -z ${PG_DIR:-} ]] || pg_stop
}
trap cleanup EXIT
trap 'echo "load.sh: interrupted" >&2; exit 130' INT TERM

# Whether something accepts connections on $1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# POSTs $2 to port $1 with secret $3; prints the status code.
post_status() {
    local port=$1 body=$2 secret=$3 line=""
    exec 3<>"/dev/tcp/$HOST/$port" || return 1
    printf 'POST /webhooks/chirp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Webhook-Secret: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$HOST" "$secret" "${#body}" "$body" >&3
    IFS= read -r -t 5 line <&3 || true
    exec 3<&- 3>&-
    echo "$line" | awk '{print $2}'
}

# start_server <example|bare>[/variant] <port> [VAR=value...]: starts it pinned to SERVER_CPU,
# its stdout to $OUT/<kind>-<port>.stdout, waits for its port and checks it answers (the one
# valid POST is one stdout line).
start_server() {
    local kind=${1%%/*} variant=$1 port=$2 bin log
    shift 2
    bin=$EXAMPLE_BIN
    [[ $kind == bare ]] && bin=$BARE_BIN
    # The aa scenario's second server, and the postgres_inbox scenario's third, are another
    # build when EXAMPLE_BIN_B is set (an A/B).
    [[ ($variant == example/b || $variant == example/b_*) && -n ${EXAMPLE_BIN_B:-} ]] && bin=$EXAMPLE_BIN_B
    log=$OUT/$kind-$port.log
    # stdout carries each server's one JSON line per handled event: to a file, counted once the
    # server has exited (a real file, not /dev/null: the write(2) per event stays in the
    # measurement at its real cost, and every handled event must be seen).
    env "$@" ADDR="$HOST:$port" CHIRP_WEBHOOK_SECRET="$SECRET" \
        taskset -c "$SERVER_CPU" "$bin" >"$OUT/$kind-$port.stdout" 2>"$log" &
    SERVER_PID=$!
    local waited=0
    until port_open "$port"; do
        kill -0 "$SERVER_PID" 2>/dev/null || {
            tail -5 "$log" >&2
            die "$kind server exited at startup (log: $log)"
        }
        ((waited++ < 300)) || die "$kind server did not open port $port within 15 s (log: $log)"
        sleep 0.05
    done
    local body status
    body=$(sed "s/__ID__/msg_healthcheck_$port/" "$PAYLOAD")
    status=$(post_status "$port" "$body" "$SECRET")
    [[ $status == 200 ]] || die "$kind server answered '$status' to a valid event, expected 200 (log: $log)"
    if [[ $kind == example ]]; then
        status=$(post_status "$port" "$body" "wrong-secret")
        [[ $status == 401 ]] || die "example answered '$status' to a wrong secret, expected 401"
    fi
}

# Stops the server with SIGTERM (both drain their pending lines, then exit) and waits for it to
# exit; sets SERVER_EXIT to its exit status ("killed" if it had to be killed).
SERVER_EXIT=""
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0 killed=""
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        if ((waited++ > 300)); then
            echo "load.sh: server $SERVER_PID did not stop within 30 s: killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
            killed=1
            break
        fi
        sleep 0.1
    done
    SERVER_EXIT=0
    wait "$SERVER_PID" 2>/dev/null || SERVER_EXIT=$?
    [[ -z $killed ]] || SERVER_EXIT=killed
    SERVER_PID=""
}

# CPU time (utime + stime, clock ticks) of process $1.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Peak resident set (VmHWM, KiB) of process $1.
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)

# run_wrk <port> <conns> <seconds> <tag> <dup percent> <pace ms>: runs wrk pinned to LOAD_CPU;
# prints its WRK_RESULT line followed by `wrk_cpu_ticks=<n>`.
run_wrk() {
    local port=$1 conns=$2 seconds=$3 tag=$4 dup=$5 pace=$6 out
    out=$(mktemp)
    WRK_PACE_MS=$pace taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"${seconds}s" --timeout 10s --latency \
        -s "$LUA" "http://$HOST:$port/webhooks/chirp" -- "$PAYLOAD" "$SECRET" "$tag" "$dup" >"$out" 2>&1 &
    WRK_PID=$!
    local ticks=0 t
    # Sample wrk's CPU time while it runs (it is gone from /proc once reaped).
    while kill -0 "$WRK_PID" 2>/dev/null; do
        t=$(cpu_ticks "$WRK_PID")
        [[ -n $t && $t -gt $ticks ]] && ticks=$t
        sleep 0.2
    done
    wait "$WRK_PID" || {
        cat "$out" >&2
        die "wrk failed"
    }
    WRK_PID=""
    grep '^WRK_RESULT' "$out" || {
        cat "$out" >&2
        die "wrk printed no result"
    }
    echo "wrk_cpu_ticks=$ticks"
    rm -f "$out"
}

field() { grep -o "$1=[0-9.]*" <<<"$2" | head -1 | cut -d= -f2; }

# check_lines <server kind> <dup percent> <warm-up WRK_RESULT> <measured WRK_RESULT>: counts the
# lines of the exited server's stdout file ($STDOUT_FILE) and checks them against what wrk sent
# and read (see the top of this file); sets LINES="expected seen min max malformed check" and
# removes the file unless KEEP_STDOUT (keeping its first and last lines).
check_lines() {
    local kind=$1 dup=$2 warm=$3 meas=$4 answered=0 inflight=0 new_ids=0 non2xx=0 r n
    for r in "$warm" "$meas"; do
        n=$(field requests "$r")
        answered=$((answered + n - $(field non2xx "$r")))
        non2xx=$((non2xx + $(field non2xx "$r")))
        inflight=$((inflight + $(field sent "$r") - n))
        new_ids=$((new_ids + $(field new_ids "$r")))
    done
    ((inflight >= 0)) || inflight=0
    local expected lo hi seen malformed check=ok
    if [[ $kind == example* && $dup -gt 0 ]]; then
        # One line per distinct id the script sent (plus the health check); an id whose only
        # requests were still in flight, or refused, may not have been handled.
        expected=$((1 + new_ids))
        hi=$expected
        lo=$((expected - inflight - non2xx))
    else
        # One line per 2xx read (plus the health check), and perhaps one per request in flight.
        expected=$((1 + answered))
        lo=$expected
        hi=$((expected + inflight))
    fi
    seen=$(wc -l <"$STDOUT_FILE")
    malformed=$(grep -cv '^{.*}$' "$STDOUT_FILE" || true)
    if ((seen < lo || seen > hi || malformed > 0)) || [[ $SERVER_EXIT != 0 ]]; then
        check=MISMATCH
    fi
    if [[ -z $KEEP_STDOUT ]]; then
        { head -n 3 "$STDOUT_FILE"; echo "..."; tail -n 3 "$STDOUT_FILE"; } >"$STDOUT_FILE.sample"
        rm -f "$STDOUT_FILE"
    fi
    LINES="$expected $seen $lo $hi $malformed $check"
}

RUN=0
# measure <scenario> <server kind> <conns> <rep> <dup percent> <pace ms> [VAR=value...]
measure() {
    local scenario=$1 kind=$2 conns=$3 rep=$4 dup=$5 pace=$6 port warm result before after cpu_pct us_per_req rss wrk_pct
    shift 6
    RUN=$((RUN + 1))
    port=$((PORT + RUN))
    start_server "$kind" "$port" "$@"
    STDOUT_FILE=$OUT/${kind%%/*}-$port.stdout
    warm=$(run_wrk "$port" "$conns" "$WARMUP" "w$RUN" "$dup" "$pace")
    before=$(cpu_ticks "$SERVER_PID")
    result=$(run_wrk "$port" "$conns" "$DURATION" "m$RUN" "$dup" "$pace")
    after=$(cpu_ticks "$SERVER_PID")
    rss=$(peak_rss_kib "$SERVER_PID")
    kill -0 "$SERVER_PID" 2>/dev/null || die "$kind server died during the run (log: $OUT/${kind%%/*}-$port.log)"
    if [[ $kind == */postgres* ]]; then
        local waited=0 schema=webhook_inbox
        [[ $kind == */b_postgres* ]] && schema=webhook_inbox_b
        until [[ $(pg_sql "SELECT count(*) FROM $schema.events") == 0 ]]; do
            # Accepts can outrun the handlers (up to the backlog bound, 100,000 events by
            # default): the backlog then drains here.
            ((waited++ < 30000)) || die "the Postgres inbox's events table did not empty within 300 s"
            sleep 0.01
        done
    fi
    if [[ $kind == */redis_inbox ]]; then
        # Its handlers run from the stream: let them finish before the SIGTERM (a drain leaves
        # what it has not taken for other replicas), so that the line check holds.
        local waited=0
        until [[ $(redis_cmd "XLEN webhook:inbox:stream") == ":0" ]]; do
            ((waited++ < 6000)) || die "the Redis inbox's stream did not empty within 60 s"
            sleep 0.01
        done
    fi
    stop_server
    local rps p50 p99 non2xx errors requests seconds wrk_ticks
    rps=$(field rps "$result")
    p50=$(field p50_us "$result")
    p99=$(field p99_us "$result")
    non2xx=$(field non2xx "$result")
    errors=$(field socket_errors "$result")
    requests=$(field requests "$result")
    seconds=$(field seconds "$result")
    wrk_ticks=$(field wrk_cpu_ticks "$result")
    cpu_pct=$(awk -v d=$((after - before)) -v t="$TICKS" -v s="$seconds" 'BEGIN {printf "%.0f", 100 * d / t / s}')
    us_per_req=$(awk -v d=$((after - before)) -v t="$TICKS" -v n="$requests" 'BEGIN {printf "%.2f", n ? 1e6 * d / t / n : 0}')
    wrk_pct=$(awk -v d="$wrk_ticks" -v t="$TICKS" -v s="$((DURATION))" 'BEGIN {printf "%.0f", 100 * d / t / s}')
    check_lines "$kind" "$dup" "$warm" "$result"
    local l_exp l_seen l_lo l_hi l_bad l_check
    read -r l_exp l_seen l_lo l_hi l_bad l_check <<<"$LINES"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$conns" "$kind" "$rep" \
        "$rps" "$p50" "$p99" "$non2xx" "$errors" "$requests" "$rss" "$cpu_pct" "$us_per_req" "$wrk_pct" \
        "$l_exp" "$l_seen" "$l_lo" "$l_hi" "$l_bad" "$l_check" >>"$RESULTS"
    say "$(printf '%-10s c=%-3s %-12s rep %s: %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s  peak RSS %5.1f MiB  server CPU %s%% (%s us/req)  wrk CPU %s%%  stdout lines %s (expected %s, accepted %s-%s): %s' \
        "$scenario" "$conns" "$kind" "$rep" "$rps" "$(awk -v v="$p50" 'BEGIN{print v/1000}')" \
        "$(awk -v v="$p99" 'BEGIN{print v/1000}')" "$non2xx" "$(awk -v v="$rss" 'BEGIN{print v/1024}')" \
        "$cpu_pct" "$us_per_req" "$wrk_pct" "$l_seen" "$l_exp" "$l_lo" "$l_hi" "$l_check")"
    if [[ $l_check != ok ]]; then
        local why="$l_seen lines, expected $l_exp (accepted $l_lo-$l_hi), $l_bad malformed, server exit status $SERVER_EXIT"
        printf '%s c=%s %s rep %s (port %s): %s\n' "$scenario" "$conns" "$kind" "$rep" "$port" "$why" >>"$MISMATCHES"
        echo "load.sh: !!!!!!!! LINE COUNT MISMATCH: $scenario c=$conns $kind rep $rep: $why (stdout: $STDOUT_FILE*, log: $OUT/${kind%%/*}-$port.log) !!!!!!!!" >&2
    fi
}

# ----- redis ----------------------------------------------------------------------------------

# Sends one inline command to the redis scenario's server; prints its first reply line.
redis_cmd() {
    local line=""
    { exec 4<>"/dev/tcp/$HOST/$REDIS_PORT"; } 2>/dev/null || return 1
    printf '%s\r\n' "$1" >&4
    IFS= read -r -t 5 line <&4 || true
    exec 4<&- 4>&-
    echo "${line%$'\r'}"
}

if [[ " $SCENARIOS " == *" redis "* ]]; then
    port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken: pick another REDIS_PORT"
    mkdir -p "$OUT/redis"
    taskset -c "$REDIS_CPU" redis-server --port "$REDIS_PORT" --bind "$HOST" --save '' --appendonly no \
        --dir "$ROOT/$OUT/redis" --daemonize no >"$OUT/redis/redis.log" 2>&1 &
    REDIS_PID=$!
    waited=0
    until [[ $(redis_cmd PING) == +PONG ]]; do
        kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at startup (log: $OUT/redis/redis.log)"
        ((waited++ < 100)) || die "redis-server did not answer on $REDIS_PORT within 5 s"
        sleep 0.05
    done
    say "redis-server $(redis-server --version | grep -o 'v=[0-9.]*') on $HOST:$REDIS_PORT, CPU $REDIS_CPU"
fi
REDIS_ENV=(REDIS_URL="redis://$HOST:$REDIS_PORT")

# ----- postgres -------------------------------------------------------------------------------

PG_PORT=${PG_PORT:-20398}
PG_CPU=${PG_CPU:-$SERVER_CPU}
if [[ " $SCENARIOS " == *" postgres_"* ]]; then
    SCRIPT=load.sh
    # shellcheck source=benches/postgres.sh
    source benches/postgres.sh
    port_open "$PG_PORT" && die "port $PG_PORT is taken: pick another PG_PORT"
    pg_start "$PG_PORT" "$PG_CPU"
fi
# pg_reset: empties the inbox's tables and the sink between runs.
pg_reset() {
    # webhook_inbox_b: EXAMPLE_BIN_B's tables (another build may use another schema version).
    pg_sql "SET client_min_messages = warning; DO \$\$ BEGIN
        IF to_regclass('webhook_inbox.events') IS NOT NULL THEN
            TRUNCATE webhook_inbox.events, webhook_inbox.routes, webhook_inbox.keys, webhook_inbox.effects,
                webhook_inbox.dead_letters CASCADE;
        END IF;
        IF to_regclass('webhook_inbox_b.events') IS NOT NULL THEN
            TRUNCATE webhook_inbox_b.events, webhook_inbox_b.routes, webhook_inbox_b.keys,
                webhook_inbox_b.effects, webhook_inbox_b.dead_letters CASCADE;
        END IF;
        IF to_regclass('public.handled') IS NOT NULL THEN TRUNCATE handled; END IF;
    END \$\$" >/dev/null || die "resetting the Postgres tables failed"
}
PG_ENV=(DATABASE_URL="${DATABASE_URL:-}" INBOX=postgres)

# ----- scenarios -------------------------------------------------------------------------------

say "server on CPU $SERVER_CPU, wrk ($WRK_THREADS thread) on CPU $LOAD_CPU; ${DURATION}s runs after ${WARMUP}s warm-up; $REPS repetition(s), $PACED_REPS paced pair(s); results in $OUT"

# Raised so that 1 s handlers never fill the queue or the worker pool: acks stay 200.
BIG=(WEBHOOK_CONCURRENCY=1000000 WEBHOOK_QUEUE_CAPACITY=1000000)

# Each connection's pause for the paced scenario: RATE requests/s in all.
pace_for() { awk -v c="$1" -v r="$RATE" 'BEGIN {p = int(c * 1000 / r + 0.5); print p < 1 ? 1 : p}'; }

# The order within a pair alternates with the repetition, so that drift does not favour a side.
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }

for rep in $(seq 1 "$REPS"); do
    wanted throughput && for conns in $CONNS; do
        if ((rep % 2)); then
            measure throughput bare "$conns" "$rep" 0 0
            measure throughput example "$conns" "$rep" 0 0
        else
            measure throughput example "$conns" "$rep" 0 0
            measure throughput bare "$conns" "$rep" 0 0
        fi
    done
    if ! wanted slow; then
        :
    elif ((rep % 2)); then
        measure slow "example/0ms" 64 "$rep" 0 0 "${BIG[@]}" HANDLER_DELAY_MS=0
        measure slow "example/1s" 64 "$rep" 0 0 "${BIG[@]}" HANDLER_DELAY_MS=1000
    else
        measure slow "example/1s" 64 "$rep" 0 0 "${BIG[@]}" HANDLER_DELAY_MS=1000
        measure slow "example/0ms" 64 "$rep" 0 0 "${BIG[@]}" HANDLER_DELAY_MS=0
    fi
    wanted slow_paced && for conns in $CONNS; do
        pace=$(pace_for "$conns")
        for sub in $(seq 1 "$PACED_PER_REP"); do
            prep=$(((rep - 1) * PACED_PER_REP + sub))
            ((prep <= PACED_REPS)) || break
            if ((prep % 2)); then
                measure slow_paced "example/0ms" "$conns" "$prep" 0 "$pace" "${BIG[@]}" HANDLER_DELAY_MS=0
                measure slow_paced "example/1s" "$conns" "$prep" 0 "$pace" "${BIG[@]}" HANDLER_DELAY_MS=1000
            else
                measure slow_paced "example/1s" "$conns" "$prep" 0 "$pace" "${BIG[@]}" HANDLER_DELAY_MS=1000
                measure slow_paced "example/0ms" "$conns" "$prep" 0 "$pace" "${BIG[@]}" HANDLER_DELAY_MS=0
            fi
        done
    done
    if ! wanted dup90; then
        :
    elif ((rep % 2)); then
        measure dup90 bare 64 "$rep" 90 0
        measure dup90 example 64 "$rep" 90 0
    else
        measure dup90 example 64 "$rep" 90 0
        measure dup90 bare 64 "$rep" 90 0
    fi
    if ! wanted durable; then
        :
    elif ((rep % 2)); then
        measure durable "example/memory" 64 "$rep" 0 0
        measure durable "example/durable" 64 "$rep" 0 0 INBOX_PATH="$OUT/inbox-$rep"
    else
        measure durable "example/durable" 64 "$rep" 0 0 INBOX_PATH="$OUT/inbox-$rep"
        measure durable "example/memory" 64 "$rep" 0 0
    fi
    if ! wanted redis; then
        :
    elif ((rep % 2)); then
        measure redis "example/memory" 64 "$rep" 0 0
        [[ $(redis_cmd FLUSHALL) == +OK ]] || die "redis FLUSHALL failed"
        measure redis "example/redis" 64 "$rep" 0 0 "${REDIS_ENV[@]}"
    else
        [[ $(redis_cmd FLUSHALL) == +OK ]] || die "redis FLUSHALL failed"
        measure redis "example/redis" 64 "$rep" 0 0 "${REDIS_ENV[@]}"
        measure redis "example/memory" 64 "$rep" 0 0
    fi
    if ! wanted redis_inbox; then
        :
    elif ((rep % 2)); then
        measure redis_inbox "example/memory" 64 "$rep" 0 0
        [[ $(redis_cmd FLUSHALL) == +OK ]] || die "redis FLUSHALL failed"
        measure redis_inbox "example/redis_inbox" 64 "$rep" 0 0 "${REDIS_ENV[@]}" INBOX=redis
    else
        [[ $(redis_cmd FLUSHALL) == +OK ]] || die "redis FLUSHALL failed"
        measure redis_inbox "example/redis_inbox" 64 "$rep" 0 0 "${REDIS_ENV[@]}" INBOX=redis
        measure redis_inbox "example/memory" 64 "$rep" 0 0
    fi
    if ! wanted postgres_inbox; then
        :
    elif ((rep % 2)); then
        measure postgres_inbox "example/memory" 64 "$rep" 0 0
        pg_reset
        measure postgres_inbox "example/postgres" 64 "$rep" 0 0 "${PG_ENV[@]}"
        if [[ -n ${EXAMPLE_BIN_B:-} ]]; then
            pg_reset
            measure postgres_inbox "example/b_postgres" 64 "$rep" 0 0 "${PG_ENV[@]}" INBOX_SCHEMA=webhook_inbox_b
        fi
    else
        if [[ -n ${EXAMPLE_BIN_B:-} ]]; then
            pg_reset
            measure postgres_inbox "example/b_postgres" 64 "$rep" 0 0 "${PG_ENV[@]}" INBOX_SCHEMA=webhook_inbox_b
        fi
        pg_reset
        measure postgres_inbox "example/postgres" 64 "$rep" 0 0 "${PG_ENV[@]}"
        measure postgres_inbox "example/memory" 64 "$rep" 0 0
    fi
    if ! wanted postgres_tx; then
        :
    elif ((rep % 2)); then
        pg_reset
        measure postgres_tx "example/postgres_plain" 64 "$rep" 0 0 "${PG_ENV[@]}"
        pg_reset
        measure postgres_tx "example/postgres_tx" 64 "$rep" 0 0 "${PG_ENV[@]}" HANDLER_SINK=postgres
    else
        pg_reset
        measure postgres_tx "example/postgres_tx" 64 "$rep" 0 0 "${PG_ENV[@]}" HANDLER_SINK=postgres
        pg_reset
        measure postgres_tx "example/postgres_plain" 64 "$rep" 0 0 "${PG_ENV[@]}"
    fi
    if ! wanted aa; then
        :
    elif ((rep % 2)); then
        measure aa "example/a" 64 "$rep" 0 0
        measure aa "example/b" 64 "$rep" 0 0
    else
        measure aa "example/b" 64 "$rep" 0 0
        measure aa "example/a" 64 "$rep" 0 0
    fi
done

# ----- report ----------------------------------------------------------------------------------

# Medians per (scenario, conns, server) and of the per-pair ratios, from results.tsv.
report() {
    # The body's size with a typical id (`msg_m12_1_1234567`, 17 characters) in place of `__ID__`.
    printf '\nBoth servers built with %s; %d s runs after %d s of warm-up; body `%s` (~%d bytes); each server'"'"'s stdout to a file, its lines counted after exit.\n' \
        "$BUILD_DESC" "$DURATION" "$WARMUP" "$PAYLOAD" "$(($(wc -c <"$PAYLOAD") - 6 + 17))"
    awk -F'\t' -v reps="$REPS" -v preps="$PACED_REPS" '
    # Splits a space-separated list into a[1..n], sorted; returns n.
    function sort_into(list, a,   n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n
    }
    function median(list,   n, a) {
        n = sort_into(list, a)
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    # The values of a list, sorted and rounded, for the record.
    function sorted(list,   n, a, i, out) {
        n = sort_into(list, a)
        out = ""
        for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") sprintf("%.2f", a[i])
        return out
    }
    NR == 1 { next }
    {
        k = $1 SUBSEP $2 SUBSEP $3
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        rps[k] = rps[k] " " $5; p50[k] = p50[k] " " $6; p99[k] = p99[k] " " $7
        non2xx[k] += $8; errs[k] += $9; rss[k] = rss[k] " " $11; cpu[k] = cpu[k] " " $12
        usr[k] = usr[k] " " $13; wrk[k] = wrk[k] " " $14
        if ($1 == "slow_paced") paced = 1
        lexp[k] += $15; lseen[k] += $16; lruns[k]++; if ($20 == "ok") lok[k]++; else bad++
        v_rps[$1, $2, $3, $4] = $5; v_p99[$1, $2, $3, $4] = $7; v_us[$1, $2, $3, $4] = $13
    }
    END {
        printf "\n| scenario | conns | server | req/s | p50 ms | p99 ms | non-2xx | peak RSS MiB | server CPU %% | server CPU us/req | wrk CPU %% |\n"
        printf "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for (i = 1; i <= nk; i++) {
            k = order[i]; split(k, f, SUBSEP)
            printf "| %s | %s | %s | %.0f | %.2f | %.2f | %d | %.1f | %.0f | %.2f | %.0f |\n", f[1], f[2], f[3],
                median(rps[k]), median(p50[k]) / 1000, median(p99[k]) / 1000, non2xx[k] + errs[k],
                median(rss[k]) / 1024, median(cpu[k]), median(usr[k]), median(wrk[k])
        }
        printf "\nMedians of %d repetition(s)%s; non-2xx counts responses >= 400 plus socket errors, summed.\n", reps, (paced ? sprintf(" (slow_paced: %d pairs)", preps) : "")
        printf "\nStdout lines (summed over the runs; each run also counts its health check and warm-up):\n\n"
        printf "| scenario | conns | server | lines expected | lines seen | runs within the accepted range |\n|---|---:|---|---:|---:|---:|\n"
        for (i = 1; i <= nk; i++) {
            k = order[i]; split(k, f, SUBSEP)
            printf "| %s | %s | %s | %d | %d | %d of %d%s |\n", f[1], f[2], f[3], lexp[k], lseen[k], lok[k], lruns[k], (lok[k] < lruns[k] ? " **MISMATCH**" : "")
        }
        if (bad) printf "\n**LINE COUNT MISMATCH in %d run(s)**: see line-count-mismatches.txt and the lines_* columns of results.tsv.\n", bad
        else printf "\nEvery run'"'"'s line count is within its accepted range (expected, plus up to one per request still in flight when wrk stopped).\n"
        printf "\nBudget (median of per-pair ratios):\n"
        for (c = 16; c <= 64; c *= 4) {
            l = ""; u = ""
            for (r = 1; r <= reps; r++) if ((("throughput", c, "bare", r) in v_rps) && v_rps["throughput", c, "bare", r] > 0) {
                l = l " " v_rps["throughput", c, "example", r] / v_rps["throughput", c, "bare", r]
                if (v_us["throughput", c, "example", r] > 0) u = u " " v_us["throughput", c, "bare", r] / v_us["throughput", c, "example", r]
            }
            if (l == "") continue
            m = median(l)
            if (c == 64) printf "  throughput example/bare, %d connections: %.3f (budget >= 0.85): %s\n", c, m, (m >= 0.85 ? "MET" : "NOT MET")
            else printf "  throughput example/bare, %d connections: %.3f (for information)\n", c, m
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
            if (u != "") printf "    server CPU per request, bare/example, %d connections: %.3f (the same ratio, independent of wrk)\n", c, median(u)
        }
        for (c = 16; c <= 64; c *= 4) {
            l = ""
            for (r = 1; r <= preps; r++) if ((("slow_paced", c, "example/0ms", r) in v_p99) && v_p99["slow_paced", c, "example/0ms", r] > 0)
                l = l " " v_p99["slow_paced", c, "example/1s", r] / v_p99["slow_paced", c, "example/0ms", r]
            if (l != "") {
                m = median(l); printf "  ack p99 with 1 s handlers / 0 ms, paced, %d connections: %.3f (budget <= 1.2): %s\n", c, m, (m <= 1.2 ? "MET" : "NOT MET")
                printf "    the pairs, sorted: %s\n", sorted(l)
            }
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("slow", 64, "example/0ms", r) in v_p99) && v_p99["slow", 64, "example/0ms", r] > 0)
            l = l " " v_p99["slow", 64, "example/1s", r] / v_p99["slow", 64, "example/0ms", r]
        if (l != "") {
            m = median(l); printf "  ack p99 with 1 s handlers / 0 ms, saturated, 64 connections: %.3f (budget <= 1.2): %s\n", m, (m <= 1.2 ? "MET" : "NOT MET")
            printf "    the pairs, sorted: %s\n", sorted(l)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("aa", 64, "example/a", r) in v_rps) && v_rps["aa", 64, "example/a", r] > 0)
            l = l " " v_rps["aa", 64, "example/b", r] / v_rps["aa", 64, "example/a", r]
        if (l != "") {
            if (ENVIRON["EXAMPLE_BIN_B"] != "") printf "  A/B of two builds: EXAMPLE_BIN_B / the example, 64 connections: %.3f\n", median(l)
            else printf "  noise floor: the example against itself (A/A), 64 connections: %.3f (truth 1.0)\n", median(l)
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("durable", 64, "example/memory", r) in v_rps) && v_rps["durable", 64, "example/memory", r] > 0)
            l = l " " v_rps["durable", 64, "example/durable", r] / v_rps["durable", 64, "example/memory", r]
        if (l != "") {
            m = median(l); printf "  throughput durable inbox / in memory, 64 connections: %.3f (goal >= 0.5): %s\n", m, (m >= 0.5 ? "MET" : "NOT MET")
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("redis", 64, "example/memory", r) in v_rps) && v_rps["redis", 64, "example/memory", r] > 0)
            l = l " " v_rps["redis", 64, "example/redis", r] / v_rps["redis", 64, "example/memory", r]
        if (l != "") {
            m = median(l); printf "  throughput Redis dedup / in memory, 64 connections: %.3f (goal >= 0.5): %s\n", m, (m >= 0.5 ? "MET" : "NOT MET")
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
            u = ""
            for (r = 1; r <= reps; r++) if ((("redis", 64, "example/redis", r) in v_us) && v_us["redis", 64, "example/redis", r] > 0)
                u = u " " v_us["redis", 64, "example/memory", r] / v_us["redis", 64, "example/redis", r]
            if (u != "") printf "    server CPU per request, memory/redis, 64 connections: %.3f (the receiver only; Redis has its own process)\n", median(u)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("redis_inbox", 64, "example/memory", r) in v_rps) && v_rps["redis_inbox", 64, "example/memory", r] > 0)
            l = l " " v_rps["redis_inbox", 64, "example/redis_inbox", r] / v_rps["redis_inbox", 64, "example/memory", r]
        if (l != "") {
            m = median(l); printf "  throughput Redis inbox / in memory, 64 connections: %.3f\n", m
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("postgres_inbox", 64, "example/memory", r) in v_rps) && v_rps["postgres_inbox", 64, "example/memory", r] > 0)
            l = l " " v_rps["postgres_inbox", 64, "example/postgres", r] / v_rps["postgres_inbox", 64, "example/memory", r]
        if (l != "") {
            m = median(l); printf "  throughput Postgres inbox / in memory, 64 connections: %.3f (goal >= 0.5): %s\n", m, (m >= 0.5 ? "MET" : "NOT MET")
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
        }
        l = ""; lb = ""
        for (r = 1; r <= reps; r++) if ((("postgres_inbox", 64, "example/b_postgres", r) in v_rps) && v_rps["postgres_inbox", 64, "example/b_postgres", r] > 0) {
            l = l " " v_rps["postgres_inbox", 64, "example/postgres", r] / v_rps["postgres_inbox", 64, "example/b_postgres", r]
            lb = lb " " v_rps["postgres_inbox", 64, "example/b_postgres", r] / v_rps["postgres_inbox", 64, "example/memory", r]
        }
        if (l != "") {
            printf "  Postgres inbox, the example / EXAMPLE_BIN_B (A/B of two builds), 64 connections: %.3f\n", median(l)
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
            printf "  the Postgres inbox of EXAMPLE_BIN_B / in memory: %.3f\n", median(lb)
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(lb)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("postgres_tx", 64, "example/postgres_plain", r) in v_rps) && v_rps["postgres_tx", 64, "example/postgres_plain", r] > 0)
            l = l " " v_rps["postgres_tx", 64, "example/postgres_tx", r] / v_rps["postgres_tx", 64, "example/postgres_plain", r]
        if (l != "") {
            printf "  throughput Postgres inbox, transactional handlers / plain, 64 connections: %.3f\n", median(l)
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
        }
        l = ""
        for (r = 1; r <= reps; r++) if ((("dup90", 64, "bare", r) in v_rps) && v_rps["dup90", 64, "bare", r] > 0)
            l = l " " v_rps["dup90", 64, "example", r] / v_rps["dup90", 64, "bare", r]
        if (l != "") {
            m = median(l); printf "  throughput example/bare, 90%% duplicates, 64 connections: %.3f (budget >= 0.95): %s\n", m, (m >= 0.95 ? "MET" : "NOT MET")
            if (reps > 1) printf "    the pairs, sorted: %s\n", sorted(l)
            u = ""
            for (r = 1; r <= reps; r++) if ((("dup90", 64, "example", r) in v_us) && v_us["dup90", 64, "example", r] > 0)
                u = u " " v_us["dup90", 64, "bare", r] / v_us["dup90", 64, "example", r]
            if (u != "") printf "    server CPU per request, bare/example, 64 connections: %.3f (the same ratio, independent of wrk)\n", median(u)
        }
    }' "$RESULTS"
}

report | tee "$OUT/summary.md"
echo
echo "raw results: $RESULTS; summary: $OUT/summary.md; server logs and stdout samples: $OUT/"
if [[ -s $MISMATCHES ]]; then
    echo
    echo "load.sh: !!!!!!!! LINE COUNT MISMATCH in $(wc -l <"$MISMATCHES") run(s): the servers did not print one line per handled event !!!!!!!!" >&2
    cat "$MISMATCHES" >&2
    exit 3
fi
