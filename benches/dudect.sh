#!/usr/bin/env bash
# Constant time, measured: runs the dudect benches (benches/dudect.rs) for a bounded time and
# prints the final `max t` of each. Not a CI gate: the figures depend on the machine and its load.
#
#   benches/dudect.sh                  # 60 s in all, split evenly over the benches
#   SECS=300 benches/dudect.sh         # longer
#   BENCHES="ctrl_loop secret_check" benches/dudect.sh
#   CPU=1 benches/dudect.sh            # pin to CPU 1 with taskset (default: the last CPU; CPU= no pin)
#
# |t| > 4.5 means the two classes (candidate wrong in its first byte vs in its last) are timed
# differently. The `ctrl_*` benches are leaky on purpose and must show a large |t|, or the run
# proves nothing; `secret_check` and `secret_verify` are the real check.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-60}
BENCHES=${BENCHES:-"ctrl_memcmp ctrl_loop ctrl_loop_sha secret_check secret_verify"}
CPU=${CPU-$(($(nproc) - 1))}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

exe=$(cargo build --release --bench dudect --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*dudect-[^"]*\)".*/\1/p' | tail -1)
[ -x "$exe" ] || { echo "build failed: cargo build --release --bench dudect" >&2; exit 1; }

read -ra list <<<"$BENCHES"
each=$((SECS / ${#list[@]}))
[ "$each" -ge 2 ] || each=2
pin=()
[ -n "$CPU" ] && command -v taskset >/dev/null && pin=(taskset -c "$CPU")

echo "dudect: ${#list[@]} benches, ${each} s each, ${pin[*]:-unpinned}, $(date -u +%FT%TZ)"
for b in "${list[@]}"; do
    # Continuous mode: batches until SIGINT, then it exits after the current batch.
    last=$(timeout -s INT "$each" "${pin[@]}" "$exe" --continuous "$b" | grep 'max t' | tail -1 || true)
    printf '%-14s %s\n' "$b" "${last#*: }"
done
