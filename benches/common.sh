# Sourced by the proof scripts in benches/ (kill9.sh, retries.sh, overload.sh, soak.sh): the
# preamble they share. Set SCRIPT (the script's name, for messages) and HOST before sourcing.

die() {
    echo "$SCRIPT: error: $*" >&2
    exit 2
}
say() { echo "== $*" >&2; }

command -v cargo >/dev/null || die "cargo not found"
command -v python3 >/dev/null || die "python3 not found"

# Whether something accepts connections on $HOST:<port>.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# build_example [cargo args...]: builds the Chirp example in release with the given extra
# arguments (e.g. --features durable) and prints the path of its binary. EXAMPLE_BIN=path skips
# the build and uses that binary instead (e.g. one built from another commit, for an A/B run).
build_example() {
    if [[ -n ${EXAMPLE_BIN:-} ]]; then
        [[ -x $EXAMPLE_BIN ]] || die "EXAMPLE_BIN=$EXAMPLE_BIN is not an executable"
        say "using EXAMPLE_BIN=$EXAMPLE_BIN (not built)"
        echo "$EXAMPLE_BIN"
        return
    fi
    say "building: cargo build --release $* --example chirp_receiver"
    local bin
    bin=$(cargo build --release "$@" --example chirp_receiver \
        --message-format=json-render-diagnostics |
        grep '"name":"chirp_receiver"' | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4) ||
        die "cargo build failed"
    [[ -x $bin ]] || die "example binary not found ($bin)"
    echo "$bin"
}
