#!/usr/bin/env bash
# Fuzz smoke test: builds every cargo-fuzz target in fuzz/ once and runs
# each for TALLY_FUZZ_SECONDS seconds (default 10), starting from its
# committed seeds (fuzz/seeds/<target>/, read only: new inputs go to a
# throwaway corpus), and fails on the first crash, printing the crashing
# input's path.
#
# Stable toolchain: `--sanitizer none` builds libFuzzer's coverage
# instrumentation (-Cpasses=sancov-module, stable rustc flags) without
# AddressSanitizer, which would need nightly's -Zsanitizer. Debug
# assertions stay on (`-a`): some checks are debug_assert!s.
#
# The build goes to fuzz/target (fuzz/ is a workspace of its own), never
# to the main workspace's target dir.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
unset CARGO_TARGET_DIR

seconds="${TALLY_FUZZ_SECONDS:-10}"
# TALLY_FUZZ_PROFILE=release builds optimised targets (several times the
# executions per second, for long runs); the default, dev, compiles in a
# fraction of the time, which is what a short smoke run is bound by.
profile="${TALLY_FUZZ_PROFILE:-dev}"
case "$profile" in
    dev) flags=(--sanitizer none --dev --debug-assertions); profile_dir=debug ;;
    release) flags=(--sanitizer none --release --debug-assertions); profile_dir=release ;;
    *) echo "TALLY_FUZZ_PROFILE must be dev or release, not $profile" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

mapfile -t targets < <(cargo fuzz list)
echo "targets (${#targets[@]}): ${targets[*]}"

build_start=$(date +%s)
cargo fuzz build "${flags[@]}"
build_seconds=$(($(date +%s) - build_start))
echo "fuzz build: ${build_seconds}s"

# Run the built binaries directly: `cargo fuzz run` would re-check the
# build once per target.
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="target/$host/$profile_dir"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
run_start=$(date +%s)
for target in "${targets[@]}"; do
    seeds="seeds/$target"
    if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
        echo "fuzz smoke: $target has no seeds in fuzz/$seeds" >&2
        exit 1
    fi
    corpus="$scratch/corpus/$target"
    artifacts="$scratch/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$scratch/$target.log"
    printf '%-16s ' "$target"
    if "$bin_dir/$target" "$corpus" "$seeds" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | sed 's/$/ runs/' || echo "ran"
    else
        echo "FAILED"
        tail -n 60 "$log" >&2
        # Keep the crashing inputs where they can be read after the run.
        kept="${TALLY_FUZZ_ARTIFACTS:-$PWD/artifacts}/$target"
        mkdir -p "$kept"
        for input in "$artifacts"/*; do
            [ -e "$input" ] || continue
            cp "$input" "$kept/"
            echo "fuzz smoke: $target crashed on $kept/$(basename "$input")" >&2
        done
        echo "fuzz smoke: reproduce with: cd fuzz && cargo fuzz run ${flags[*]} $target <input>" >&2
        exit 1
    fi
done
run_seconds=$(($(date +%s) - run_start))
echo "fuzz smoke: ${#targets[@]} targets, build ${build_seconds}s, runs ${run_seconds}s, ${seconds}s each"
