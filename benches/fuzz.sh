#!/usr/bin/env bash
# Fuzzes the decoders and the signature header parsers with cargo-fuzz (libFuzzer): builds the
# targets of the separate `fuzz/` crate, then runs each one for a bounded time, starting from the
# committed seeds (`fuzz/seeds/<target>`) plus whatever corpus earlier runs left in
# `fuzz/corpus/<target>`. Prints executions, coverage and corpus size per target, and for a crash
# the artifact path, its bytes (base64) and the panic message. Exits 1 if any target crashed (or
# hit a timeout or out-of-memory), 0 otherwise.
#
#   benches/fuzz.sh                                  # every target, 60 s each
#   FUZZ_SECS=30 benches/fuzz.sh                     # shorter
#   TARGETS="chirp_decode json_decode" benches/fuzz.sh
#
# Environment (all optional):
#   FUZZ_SECS=60        seconds per target (libFuzzer -max_total_time)
#   TARGETS=<all>       targets to run, space-separated (default: `cargo fuzz list`)
#   TOOLCHAIN=<auto>    rustup toolchain: `nightly` when installed, else the default toolchain
#                       with RUSTC_BOOTSTRAP=1 (cargo-fuzz's -Zsanitizer flags need nightly
#                       features; libfuzzer-sys builds on stable that way)
#   SANITIZER=address   cargo-fuzz sanitizer (`none` is faster, finds panics only)
#   MAX_LEN=16384       longest input libFuzzer generates, in bytes
#   FUZZ_ARGS=          extra libFuzzer flags, e.g. "-jobs=2 -workers=2" or "-dict=..."
#
# Requirements: Linux x86_64, cargo, `cargo install cargo-fuzz` (the script installs it when it
# is missing), a C++ compiler (libfuzzer-sys builds libFuzzer). The first build takes ~1-2 min
# on 2 cores. Logs go to fuzz/target/fuzz-logs/<target>.log, crashes to
# fuzz/artifacts/<target>/ (both git-ignored).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_SECS=${FUZZ_SECS:-60}
SANITIZER=${SANITIZER:-address}
MAX_LEN=${MAX_LEN:-16384}
FUZZ_ARGS=${FUZZ_ARGS:-}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [[ -z "${TOOLCHAIN:-}" ]]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        TOOLCHAIN=nightly
    else
        TOOLCHAIN=$(rustup show active-toolchain | cut -d' ' -f1)
        export RUSTC_BOOTSTRAP=1
        echo "fuzz.sh: no nightly toolchain; using $TOOLCHAIN with RUSTC_BOOTSTRAP=1" >&2
    fi
fi
CARGO=(cargo "+$TOOLCHAIN" fuzz)
# -a: debug assertions and overflow checks on, in the optimized build.
BUILD_FLAGS=(-a --sanitizer "$SANITIZER")

if [[ -z "${TARGETS:-}" ]]; then
    TARGETS=$("${CARGO[@]}" list | tr '\n' ' ')
fi

echo "fuzz.sh: $("${CARGO[@]}" --version), $(rustc "+$TOOLCHAIN" --version)"
echo "fuzz.sh: building ${TARGETS% } (sanitizer $SANITIZER)"
"${CARGO[@]}" build "${BUILD_FLAGS[@]}"

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
failed=()
printf '\n%-18s %12s %8s %8s %7s  %s\n' target executions exec/s cov corpus result
for target in $TARGETS; do
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
    log="$logs/$target.log"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    "${CARGO[@]}" run "${BUILD_FLAGS[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -- -max_total_time="$FUZZ_SECS" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 $FUZZ_ARGS >"$log" 2>&1 || status=$?
    # A crash while loading the seeds leaves no stats and no coverage line: hence the || true.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$({ grep -oE 'cov: [0-9]+' "$log" || true; } | tail -1 | cut -d' ' -f2)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    if [[ $status -eq 0 ]]; then
        result=ok
    else
        result="FAILED (exit $status)"
        failed+=("$target")
    fi
    line=$(printf '%-18s %12s %8s %8s %7s  %s' "$target" "${execs:-?}" "${speed:-?}" \
        "${cov:-?}" "$corpus" "$result")
    echo "$line"
    if [[ $status -ne 0 ]]; then
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "  log:      $log"
        echo "  artifact: ${artifact:-none}"
        if [[ -n "$artifact" && -f "$artifact" ]]; then
            echo "  base64:   $(base64 -w0 "$artifact")"
            echo "  hex:      $(od -An -tx1 -v "$artifact" | tr -d ' \n' | head -c 2048)"
        fi
        { grep -E "panicked at|^==[0-9]+==ERROR|deadly signal|ERROR: libFuzzer" -A3 "$log" \
            || true; } | head -20 | sed 's/^/  | /'
    fi
done

echo
echo "fuzz.sh: ${FUZZ_SECS} s per target, sanitizer $SANITIZER, toolchain $TOOLCHAIN"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (artifacts in fuzz/artifacts/; reproduce with"
    echo "  cargo +$TOOLCHAIN fuzz run ${BUILD_FLAGS[*]} <target> <artifact>)"
    exit 1
fi
echo "fuzz.sh: no crash"
