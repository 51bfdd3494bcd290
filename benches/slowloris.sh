#!/usr/bin/env bash
# Slowloris against the `chirp_receiver` example: CONNS (1000) connections that send their
# request head one byte per second, while a probe keeps posting normal deliveries. Measures the
# probe's latency (p50/p99/max, before and during the attack), the server's RSS, when the server
# closes the slow connections (after HEADER_TIMEOUT_SECS), and how long SIGTERM takes with a
# second wave of CONNS slow connections still open (bounded by BODY_TIMEOUT_SECS, the grace).
# About 25 s, plus the first build. The driver is benches/slowloris.py (python3 stdlib).
#
#   benches/slowloris.sh
#   CONNS=2000 benches/slowloris.sh
#
# Environment (all optional):
#   CONNS=1000                 slow connections per wave
#   HEADER_TIMEOUT_SECS=10     the server's header timeout (its default)
#   BODY_TIMEOUT_SECS=5        the server's request timeout and shutdown grace (default 30:
#                              shortened here so that the run stays short)
#   BASELINE=3                 seconds of probe alone before the attack
#   WAVE1_SECS=16              how long wave 1 may stay open before the run fails
#   HOLD=3                     seconds wave 2 is open before SIGTERM
#   EXIT_BOUND=10              SIGTERM to exit must take less (else exit 1)
#   PROBE_MS=50                one probe delivery (fresh connection) every this many ms
#   PORT=20950                 127.0.0.1 port of the server
#   PROFILE=release            cargo profile of the example build
#   OUT=target/slowloris/<timestamp>   report.json, server.stdout, server.stderr
#
# Requirements: Linux, bash, cargo, python3. Needs about 2*CONNS+50 file descriptors in both
# processes: the script raises the soft limit to 4096 when it is lower (and fails if it cannot).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONNS=${CONNS:-1000}
PROFILE=${PROFILE:-release}
export CONNS OUT=${OUT:-target/slowloris/$(date +%Y%m%d-%H%M%S)}
export HEADER_TIMEOUT_SECS=${HEADER_TIMEOUT_SECS:-10} BODY_TIMEOUT_SECS=${BODY_TIMEOUT_SECS:-5}

die() {
    echo "slowloris.sh: error: $*" >&2
    exit 2
}
command -v cargo >/dev/null || die "cargo not found"
command -v python3 >/dev/null || die "python3 not found"

need=$((CONNS * 2 + 256))
((need < 4096)) && need=4096
if (($(ulimit -n) < need)); then
    ulimit -n "$need" 2>/dev/null || die "ulimit -n is $(ulimit -n); $need file descriptors are needed"
fi

echo "== building: cargo build --profile $PROFILE --example chirp_receiver" >&2
BIN=$(cargo build --profile "$PROFILE" --example chirp_receiver \
    --message-format=json-render-diagnostics |
    grep '"name":"chirp_receiver"' | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4) ||
    die "cargo build failed"
[[ -x $BIN ]] || die "example binary not found ($BIN)"

echo "== $CONNS slow connections per wave; output in $OUT (ulimit -n $(ulimit -n))" >&2
exec python3 benches/slowloris.py "$BIN"
