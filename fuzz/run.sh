#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer on the stable toolchain and runs them for a bounded
# time, each on a copy of its seed corpus (new inputs go to a scratch folder; the committed
# corpus is only read).
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer options...]   one target (rrule_text, schedule_json,
#                                                       draft_json, deal_json,
#                                                       invoice_options_json)
#   fuzz/run.sh all SECONDS [libFuzzer options...]      each target in turn
#   fuzz/run.sh build                                   only build
#
# An input that fails (a panic, a failed check, a timeout, running out of memory) is copied
# into fuzz/regressions/TARGET/, where `cargo test --test fuzz_regressions` replays it, and
# the script fails. Set FUZZ_KEEP_CORPUS=DIR to keep the inputs a run found in DIR/TARGET.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
targets=(rrule_text schedule_json draft_json deal_json invoice_options_json)

usage() {
    sed -n '2,12p' "$0" >&2
    exit 2
}

[ $# -ge 1 ] || usage
what=$1
shift

host=$(rustc -vV | sed -n 's/^host: //p')
# libFuzzer's coverage feedback from rustc's sanitizer-coverage pass, which stable rustc runs
# when asked through -C flags (no -Z flag, so no nightly): 8-bit edge counters, the PC table
# libFuzzer maps them with, and comparison tracing (how it gets past `FREQ=` and friends).
# `--cfg fuzzing` is what libfuzzer-sys and cargo-fuzz set. An explicit `--target` keeps the
# flags off build scripts and proc macros and the artifacts apart from the host build's.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/../target}

echo "== building the fuzz targets (libFuzzer, sanitizer coverage, $host)"
cargo build --release --locked --manifest-path "$here/Cargo.toml" --target "$host" --bins

[ "$what" = build ] && exit 0
[ $# -ge 1 ] || usage
seconds=$1
shift
case $seconds in
    '' | *[!0-9]*) usage ;;
esac

run_one() {
    local target=$1
    shift
    local bin=$CARGO_TARGET_DIR/$host/release/$target
    [ -x "$bin" ] || { echo "no fuzz target $target" >&2; exit 2; }
    local work
    work=$(mktemp -d)
    mkdir -p "$work/corpus" "$work/artifacts"
    local inputs=("$here/corpus/$target")
    [ -d "$here/regressions/$target" ] && inputs+=("$here/regressions/$target")
    local dict=()
    [ -f "$here/dict/$target.dict" ] && dict=("-dict=$here/dict/$target.dict")
    echo "== fuzzing $target for ${seconds}s"
    local status=0
    # -timeout: an input that takes this long is a failure ("refused fast"); -max_len: RFC
    # 5545 text and JSON of a few kilobytes say everything the formats can.
    "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=20 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "$@" \
        "$work/corpus" "${inputs[@]}" >"$work/log" 2>&1 || status=$?
    # The start, the last progress line, and the totals.
    grep -E '^(INFO: seed corpus|#[0-9]+\s+INITED)' "$work/log" || true
    grep -E '^#[0-9]+\s' "$work/log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|slowest_unit_time_sec|peak_rss_mb)' "$work/log" || true
    local found=("$work"/artifacts/*)
    if [ "$status" -ne 0 ] || [ -e "${found[0]}" ]; then
        tail -n 60 "$work/log" >&2
        mkdir -p "$here/regressions/$target"
        for file in "${found[@]}"; do
            [ -e "$file" ] || continue
            cp "$file" "$here/regressions/$target/"
            echo "FAILED: $target: kept $(basename "$file") in fuzz/regressions/$target/ (base64: $(base64 -w0 "$file" | head -c 2000))" >&2
        done
        rm -rf "$work"
        return 1
    fi
    if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
        mkdir -p "$FUZZ_KEEP_CORPUS/$target"
        cp "$work"/corpus/* "$FUZZ_KEEP_CORPUS/$target/" 2>/dev/null || true
    fi
    rm -rf "$work"
}

if [ "$what" = all ]; then
    failed=()
    for target in "${targets[@]}"; do
        run_one "$target" "$@" || failed+=("$target")
    done
    if [ ${#failed[@]} -ne 0 ]; then
        echo "fuzzing failed: ${failed[*]}" >&2
        exit 1
    fi
else
    run_one "$what" "$@"
fi
