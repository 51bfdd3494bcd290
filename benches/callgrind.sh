#!/usr/bin/env bash
# Instructions and heap allocations per request, counted by valgrind (callgrind and dhat count,
# they do not time: the same binary and inputs give the same figures on a busy machine). Each
# server (the `chirp_receiver` example and the bare axum server of `benches/load.sh`, built with
# the same cargo profile) runs under valgrind and answers N_SMALL, then, in a fresh process,
# N_BIG requests with unique ids, sent one after another on one keep-alive connection by
# `benches/sequential_client.py`; then SIGTERM (both drain and exit). Per request =
# (total(N_BIG) - total(N_SMALL)) / (N_BIG - N_SMALL): start-up and shutdown cancel out.
#
#   benches/callgrind.sh                              # example vs bare, both counters
#   EXAMPLE_BIN_B=/path/to/other/chirp_receiver benches/callgrind.sh   # and another build (A/B)
#
# Environment: N_SMALL=200 N_BIG=1200, PROFILE=perf (as load.sh: thin LTO, one codegen unit),
# PAYLOAD=benches/payloads/sms_delivered_390.json, PORT=20600, OUT=target/callgrind/<timestamp>,
# TOOLS="callgrind dhat", DHAT_FIELD=tbk (heap blocks allocated; tb: bytes), DUPLICATE_PCT=0
# (90: nine of every ten requests are redeliveries of the tenth, as load.sh's dup90). Needs valgrind (Debian: valgrind) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

N_SMALL=${N_SMALL:-200}
N_BIG=${N_BIG:-1200}
PROFILE=${PROFILE:-perf}
PAYLOAD=${PAYLOAD:-benches/payloads/sms_delivered_390.json}
PORT=${PORT:-20600}
TOOLS=${TOOLS:-callgrind dhat}
OUT=${OUT:-target/callgrind/$(date +%Y%m%d-%H%M%S)}
SECRET=callgrind-secret-0123456789
mkdir -p "$OUT"

say() { echo "callgrind.sh: $*" >&2; }
die() { say "$*"; exit 1; }
command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)"

executable_of() {
    python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == name:
        print(m["executable"])
' "$1"
}

BUILD=(--profile "$PROFILE")
say "building the example and the bare server (cargo build ${BUILD[*]})"
EXAMPLE_BIN=${EXAMPLE_BIN:-$(cargo build "${BUILD[@]}" --example chirp_receiver --message-format=json-render-diagnostics | executable_of chirp_receiver)}
BARE_BIN=${BARE_BIN:-$(cargo build "${BUILD[@]}" --bench bare_server --message-format=json-render-diagnostics | executable_of bare_server)}
[[ -x $EXAMPLE_BIN && -x $BARE_BIN ]] || die "binaries not found"

# run <tool> <bin> <n> <tag>: prints the tool's total (instructions, or blocks allocated).
run() {
    local tool=$1 bin=$2 n=$3 tag=$4 port=$PORT pid file
    PORT=$((PORT + 1))
    file=$OUT/$tag-$n.$tool
    local args=(--tool="$tool")
    if [[ $tool == callgrind ]]; then
        args+=(--callgrind-out-file="$file" --dump-instr=no)
    else
        args+=(--dhat-out-file="$file")
    fi
    # One worker thread: the same work, without the scheduler's cross-thread wake-ups that
    # vary from run to run.
    TOKIO_WORKER_THREADS=1 ADDR=127.0.0.1:$port CHIRP_WEBHOOK_SECRET=$SECRET RUST_LOG=error \
        valgrind "${args[@]}" "$bin" >"$OUT/$tag-$n.stdout" 2>"$OUT/$tag-$n.log" &
    pid=$!
    local distinct
    distinct=$(python3 benches/sequential_client.py --port "$port" --n "$n" --payload "$PAYLOAD" \
        --secret "$SECRET" --tag "$tag-$n" --duplicate-pct "${DUPLICATE_PCT:-0}") ||
        { kill -KILL $pid; die "client failed ($tag $n)"; }
    kill -TERM $pid
    wait $pid || die "$tag exited with $? (log: $OUT/$tag-$n.log)"
    local lines
    lines=$(wc -l <"$OUT/$tag-$n.stdout")
    # The receiver: one line per distinct id (a redelivery is not handled again), the health
    # check's included. The bare server does not deduplicate: one line per request.
    local expected=$distinct
    [[ $tag == bare ]] && expected=$((n + 1))
    ((lines == expected)) || die "$tag: $lines stdout lines, $expected expected"
    if [[ $tool == callgrind ]]; then
        awk '/^totals:/ {print $2}' "$file"
    else
        # Heap blocks allocated (dhat's `tbk`); `bytes` mode: bytes allocated (`tb`).
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(p[sys.argv[2]] for p in d["pps"]))' "$file" "${DHAT_FIELD:-tbk}"
    fi
}

printf 'tool\tserver\tper_request\ttotal_small\ttotal_big\n' >"$OUT/results.tsv"
servers=("example:$EXAMPLE_BIN" "bare:$BARE_BIN")
[[ -n ${EXAMPLE_BIN_B:-} ]] && servers+=("example_b:$EXAMPLE_BIN_B")
for tool in $TOOLS; do
    for entry in "${servers[@]}"; do
        tag=${entry%%:*} bin=${entry#*:}
        small=$(run "$tool" "$bin" "$N_SMALL" "$tag")
        big=$(run "$tool" "$bin" "$N_BIG" "$tag")
        per=$(python3 -c "print(round(($big - $small) / ($N_BIG - $N_SMALL)))")
        printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$tag" "$per" "$small" "$big" | tee -a "$OUT/results.tsv"
    done
done
unit() { [[ $1 == callgrind ]] && echo "instructions" || echo "heap ${DHAT_FIELD:-tbk} (tbk: blocks, tb: bytes) allocated"; }
for tool in $TOOLS; do
    ex=$(awk -v t="$tool" '$1 == t && $2 == "example" {print $3}' "$OUT/results.tsv")
    bare=$(awk -v t="$tool" '$1 == t && $2 == "bare" {print $3}' "$OUT/results.tsv")
    say "$(unit "$tool") per request: example $ex, bare $bare, example - bare $((ex - bare))"
    if [[ -n ${EXAMPLE_BIN_B:-} ]]; then
        b=$(awk -v t="$tool" '$1 == t && $2 == "example_b" {print $3}' "$OUT/results.tsv")
        say "$(unit "$tool") per request: example_b $b (example / example_b = $(python3 -c "print(round($ex / $b, 3))"))"
    fi
done
say "results in $OUT/results.tsv"
