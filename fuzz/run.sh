#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 30) and fails if
# any of them finds a crash. Usage: fuzz/run.sh [SECONDS]
#
# Works on a stable toolchain: the default build has no sanitizer
# (FUZZ_SANITIZER=none), which needs no -Z flag. FUZZ_SANITIZER=address adds
# AddressSanitizer, which needs nightly; on stable the script sets
# RUSTC_BOOTSTRAP=1 for it. Crashes are saved under fuzz/artifacts/<target>/,
# new corpus entries under fuzz/corpus/<target>/ (both ignored by git); the
# committed seeds are read from fuzz/seeds/<target>/.
set -euo pipefail

seconds="${1:-30}"
sanitizer="${FUZZ_SANITIZER:-none}"
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
if [ "$sanitizer" != none ] && ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

# -a: debug assertions, so an arithmetic overflow is a crash too. A
# sanitizer build gets a target directory of its own, so switching between
# the two does not rebuild everything.
flags=(--sanitizer "$sanitizer" --debug-assertions)
if [ "$sanitizer" != none ]; then
    flags+=(--target-dir "target/$sanitizer")
fi
cargo fuzz build "${flags[@]}"

failed=()
for target in $(cargo fuzz list); do
    echo "== $target: ${seconds}s"
    mkdir -p "corpus/$target" "seeds/$target"
    # The request_validation target keeps its store under target/fuzz-data.
    # -detect_leaks=0: with AddressSanitizer, libFuzzer would otherwise run
    # a leak scan after every input that grows the heap (the store's caches
    # do), which slows request_validation from ~1,300 to ~80 inputs/s.
    if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=30 -detect_leaks=0 -print_final_stats=1; then
        failed+=("$target")
    fi
done
rm -rf target/fuzz-data

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crashes"
