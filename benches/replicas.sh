#!/usr/bin/env bash
# Many replicas, one Redis: one redis-server and three `chirp_receiver` replicas (built with
# `--features redis`) on three ports sharing one REDIS_URL. Each of N events is posted to all
# three replicas: at once for the even-numbered events (three threads), one replica after the
# other for the odd ones. Every answer that is not a 200 must be a 503 with `Retry-After`; it is
# retried (after RETRY_MS, not the full Retry-After) until a 200. Then the replicas are stopped
# with SIGTERM (exit 0 required) and their stdout counted.
#
# Checked (the script exits 1 if one fails):
#   - exactly one stdout line per event across the three replicas (none missing, none doubled,
#     no dead letter, no malformed line)
#   - of each event's three final 200s, exactly one is {"received":true}; the others are
#     {"received":true,"duplicate":true}
#   - every non-200 was a 503 with Retry-After >= 1 (the counts by `code` are reported:
#     `claim_in_flight` while another replica confirms its claim)
#
#   benches/replicas.sh             # 1,000 events, well under a minute (plus the first build)
#   N=100 benches/replicas.sh
#
# Environment (all optional):
#   N=1000                   events
#   RETRY_MS=20              pause before retrying a 503
#   PORT=20950               first replica's port (the others: PORT+1, PORT+2); REDIS_PORT=20949
#   OUT=target/replicas/<timestamp>   stdout and stderr of every replica, redis.log, summary.txt
#   BIN=                     a chirp_receiver binary built with `--features redis` to use
#                            instead of building one
#
# Requirements: Linux, bash, cargo, python3 (standard library only), redis-server 7.0 or later.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-1000}
RETRY_MS=${RETRY_MS:-20}
PORT=${PORT:-20950}
REDIS_PORT=${REDIS_PORT:-20949}
OUT=${OUT:-target/replicas/$(date +%Y%m%d-%H%M%S)}
SECRET="replicas-secret-0123456789abcdef"
HOST=127.0.0.1
export RUST_LOG=${RUST_LOG:-warn}

SCRIPT=replicas.sh
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"
command -v redis-server >/dev/null || die "redis-server not found (7.0 or later; Debian: apt-get install redis-server; scripts/test installs it)"
for p in "$REDIS_PORT" "$PORT" $((PORT + 1)) $((PORT + 2)); do
    port_open "$p" && die "something already listens on $HOST:$p: pick another PORT / REDIS_PORT"
done

if [[ -z ${BIN:-} ]]; then
    BIN=$(build_example --features redis) || exit 2
fi
[[ -x $BIN ]] || die "BIN=$BIN is not an executable"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PIDS=()
REDIS_PID=""
cleanup() {
    local pid
    for pid in "${PIDS[@]}" $REDIS_PID; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

say "redis-server on $HOST:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind "$HOST" --save '' --appendonly no --dir "$OUT" \
    --daemonize no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
waited=0
until port_open "$REDIS_PORT"; do
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at startup (log: $OUT/redis.log)"
    ((waited++ < 200)) || die "redis-server did not listen within 10 s"
    sleep 0.05
done

PORTS=("$PORT" $((PORT + 1)) $((PORT + 2)))
for i in 0 1 2; do
    ADDR="$HOST:${PORTS[$i]}" CHIRP_WEBHOOK_SECRET="$SECRET" REDIS_URL="redis://$HOST:$REDIS_PORT" \
        REDIS_PREFIX="replicas:" "$BIN" >"$OUT/replica-$i.stdout" 2>"$OUT/replica-$i.stderr" &
    PIDS+=($!)
done
for i in 0 1 2; do
    waited=0
    until port_open "${PORTS[$i]}"; do
        kill -0 "${PIDS[$i]}" 2>/dev/null || die "replica $i exited at startup (log: $OUT/replica-$i.stderr)"
        ((waited++ < 300)) || die "replica $i did not listen within 15 s"
        sleep 0.05
    done
done
say "three replicas on ${PORTS[*]}; posting $N events to each"

python3 - "$N" "$RETRY_MS" "$SECRET" "$OUT/answers.json" "${PORTS[@]}" <<'PY'
import http.client, json, sys, threading, time
n, retry_ms, secret, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ports = [int(p) for p in sys.argv[5:]]
codes, problems, lock = {}, [], threading.Lock()
finals = {}

def deliver(port, i):
    body = json.dumps({"event": "messages.sms.delivered", "data": {"id": f"replica-{i}", "status": "delivered"}})
    for _ in range(2000):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/webhooks/chirp", body, {"Content-Type": "application/json", "X-Webhook-Secret": secret})
        res = conn.getresponse()
        reply = res.read().decode()
        retry_after = res.getheader("Retry-After")
        conn.close()
        if res.status == 200:
            with lock:
                finals.setdefault(i, []).append(reply)
            return
        with lock:
            if res.status != 503 or not retry_after or int(retry_after) < 1:
                problems.append(f"event {i} on {port}: {res.status} Retry-After={retry_after!r}: {reply}")
                return
            code = json.loads(reply)["error"]["code"]
            codes[code] = codes.get(code, 0) + 1
        time.sleep(retry_ms / 1000)
    with lock:
        problems.append(f"event {i} on {port}: not accepted after 2000 tries")

for i in range(n):
    if i % 2 == 0:
        threads = [threading.Thread(target=deliver, args=(p, i)) for p in ports]
        for t in threads: t.start()
        for t in threads: t.join()
    else:
        for p in ports: deliver(p, i)

new = '{"received":true}'
dup = '{"received":true,"duplicate":true}'
for i in range(n):
    got = finals.get(i, [])
    if len(got) != 3 or got.count(new) != 1 or got.count(dup) != 2:
        problems.append(f"event {i}: final answers {got}")
json.dump({"events": n, "non_200_by_code": codes, "problems": problems}, open(out, "w"), indent=1)
PY

say "stopping the replicas (SIGTERM)"
status=0
for i in 0 1 2; do
    kill -TERM "${PIDS[$i]}"
done
for i in 0 1 2; do
    code=0
    wait "${PIDS[$i]}" || code=$?
    ((code == 0)) || { echo "replica $i exited with status $code" >&2; status=1; }
done
PIDS=()

check=0
python3 - "$N" "$OUT" >"$OUT/summary.txt" <<'PY' || check=1
import json, sys, collections
n, out = int(sys.argv[1]), sys.argv[2]
answers = json.load(open(f"{out}/answers.json"))
lines, malformed, dead = collections.Counter(), 0, 0
per_replica = []
for i in range(3):
    count = 0
    for line in open(f"{out}/replica-{i}.stdout"):
        count += 1
        try:
            v = json.loads(line)
        except ValueError:
            malformed += 1
            continue
        if v.get("dead_letter"):
            dead += 1
        lines[v.get("id")] += 1
    per_replica.append(count)
missing = [i for i in range(n) if lines[f"replica-{i}"] == 0]
doubled = [i for i in range(n) if lines[f"replica-{i}"] > 1]
extra = [k for k in lines if not (isinstance(k, str) and k.startswith("replica-"))]
print(f"events: {n}; stdout lines per replica: {per_replica} (sum {sum(per_replica)})")
print(f"missing: {len(missing)}, doubled: {len(doubled)}, unknown ids: {len(extra)}, dead letters: {dead}, malformed: {malformed}")
print(f"non-200 answers (all 503 + Retry-After unless listed below), by code: {answers['non_200_by_code']}")
for p in answers["problems"][:20]:
    print("PROBLEM:", p)
ok = not (missing or doubled or extra or dead or malformed or answers["problems"])
print("replicas check:", "OK" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
cat "$OUT/summary.txt"
((status == 0 && check == 0)) || exit 1
