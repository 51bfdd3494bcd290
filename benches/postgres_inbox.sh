#!/usr/bin/env bash
# The Postgres inbox's own figures (benches/postgres_inbox.rs): accepts/s and events per commit
# with 1, 8 and 64 callers, and the cost per event of a transactional handler against plain
# ones; on a throwaway PostgreSQL this script starts (default durability: fsync and
# synchronous_commit on), built with the `perf` profile.
#
#   benches/postgres_inbox.sh                 # REPS=5, SECS=3, EVENTS=5000
#   REPS=3 SECS=2 benches/postgres_inbox.sh   # quicker
#
# Environment: REPS, SECS, EVENTS (passed to the bench), PG_PORT_BENCH=20590, PG_OPTIONS (extra
# server settings), PG_BIN. Requirements: Linux, cargo, PostgreSQL 12+ (Debian: postgresql).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=postgres_inbox.sh
HOST=127.0.0.1
# shellcheck source=benches/common.sh
source benches/common.sh
# shellcheck source=benches/postgres.sh
source benches/postgres.sh

port=${PG_PORT_BENCH:-20590}
port_open "$port" && die "port $port is taken: pick another PG_PORT_BENCH"
say "building: cargo build --profile perf --features postgres,chirp --bench postgres_inbox"
cargo build --profile perf --features postgres,chirp --bench postgres_inbox >&2
trap pg_stop EXIT
pg_start "$port"
echo "postgres_inbox.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs"
cargo bench --profile perf --features postgres,chirp --bench postgres_inbox 2>/dev/null
