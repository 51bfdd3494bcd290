# Sourced by the benches that need a PostgreSQL (postgres_inbox.sh, load.sh's postgres scenarios,
# replicas_kill9_postgres.sh): starts a throwaway server with initdb and pg_ctl in a temporary
# directory on a loopback port, as the `postgres` user when run as root (the server refuses to
# run as root). Binaries: PG_BIN, else Debian's /usr/lib/postgresql/<newest>/bin, else PATH.
# Needs `die` and `say` (benches/common.sh). The server keeps PostgreSQL's default durability
# (fsync on, synchronous_commit on) unless PG_OPTIONS adds settings ("-c synchronous_commit=off").

pg_bin_dir() {
    if [[ -n ${PG_BIN:-} ]]; then
        echo "$PG_BIN"
        return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [[ -n $d && -x $d/initdb ]]; then
        echo "$d"
        return
    fi
    d=$(dirname "$(command -v initdb 2>/dev/null)" 2>/dev/null)
    [[ -n $d && -x $d/initdb ]] || die "PostgreSQL's initdb not found (PG_BIN, /usr/lib/postgresql/*/bin, PATH): apt-get install postgresql"
    echo "$d"
}

# pg_as_owner CMD...: runs CMD as the postgres user when root.
pg_as_owner() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

PG_DIR=${PG_DIR:-}
PG_PORT=${PG_PORT:-}
# pg_start PORT [CPU]: initdb into a fresh temporary directory and start the server on
# 127.0.0.1:PORT (pinned to CPU if given); creates the database `bench`. Sets PG_DIR, PG_PORT and
# DATABASE_URL.
pg_start() {
    local port=$1 cpu=${2:-} bin
    bin=$(pg_bin_dir)
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-pg.XXXXXX")
    PG_PORT=$port
    mkdir -p "$PG_DIR/socket"
    if ((EUID == 0)); then
        id postgres >/dev/null 2>&1 || die "no postgres user to run the server as (apt-get install postgresql creates it)"
        chown -R postgres:postgres "$PG_DIR"
    fi
    pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
        die "initdb failed (see $PG_DIR/initdb.log)"
    local pin=()
    [[ -n $cpu ]] && pin=(taskset -c "$cpu")
    pg_as_owner "${pin[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR/socket -c max_connections=300 ${PG_OPTIONS:-}" \
        start >/dev/null || {
        tail -20 "$PG_DIR/server.log" >&2
        die "pg_ctl start failed (its log is above)"
    }
    pg_as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc "CREATE DATABASE bench" >/dev/null ||
        die "CREATE DATABASE failed"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/bench"
    say "PostgreSQL $("$bin/postgres" --version | grep -o '[0-9][0-9.]*' | head -1) on 127.0.0.1:$port ($PG_DIR)${cpu:+, CPU $cpu}"
}

# pg_sql SQL: runs SQL in the database `bench`; prints the result unaligned.
pg_sql() {
    pg_as_owner "$(pg_bin_dir)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -qAtc "$1"
}

# pg_stop: stops the server (fast shutdown) and removes its directory.
pg_stop() {
    [[ -n $PG_DIR ]] || return 0
    pg_as_owner "$(pg_bin_dir)/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}
