#!/usr/bin/env bash
# A throwaway redis-server for the examples (REDIS_URL), on 127.0.0.1, in the foreground:
# Ctrl-C stops it. Its data lives in a temporary directory, removed on exit; nothing is saved.
#   scripts/redis.sh          # port 6379
#   scripts/redis.sh 6380
set -euo pipefail

port="${1:-6379}"
case "$port" in
    '' | *[!0-9]*) echo "usage: scripts/redis.sh [PORT]" >&2; exit 2 ;;
esac
command -v redis-server >/dev/null 2>&1 || {
    echo "scripts/redis.sh: redis-server not found (Debian: apt-get install redis-server; scripts/test installs it)" >&2
    exit 1
}
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
echo "redis-server on 127.0.0.1:$port (Ctrl-C stops it); for the examples:" >&2
echo "  export REDIS_URL=redis://127.0.0.1:$port" >&2
echo "REDIS_URL=redis://127.0.0.1:$port"
# Not exec'd: the trap removes the data directory once the server exits.
redis-server --port "$port" --bind 127.0.0.1 --daemonize no --dir "$dir" \
    --save '' --appendonly no
