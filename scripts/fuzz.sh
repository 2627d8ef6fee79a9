#!/usr/bin/env bash
# Runs Weir's libFuzzer targets (fuzz/fuzz_targets, bodies in tests/fuzz) for a bounded time
# each, growing the corpus in fuzz/corpus/<target>/. Crashes land in fuzz/artifacts/<target>/:
# add each to fuzz/corpus/<target>/ as a regression input once fixed (cargo test replays it).
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   bash scripts/fuzz.sh 300 plugin_abi  # one target, 5 minutes
#
# cargo-fuzz needs nightly-only flags (sanitizers, coverage passes); this machine has only the
# stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable rustc accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz@0.13.2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz/fuzz_targets && ls *.rs | sed 's/\.rs$//')
fi
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  printf '\n==> fuzzing %s for %ss\n' "$t" "$seconds"
  # -max_len 64 KiB: larger bodies only exercise the size limits, which have their own seeds.
  cargo fuzz run --fuzz-dir fuzz "$t" -- -max_total_time="$seconds" -max_len=65536 \
    -print_final_stats=1 2>&1 | grep -E '^(stat::number_of_executed_units|stat::peak_rss|==|#[0-9]+ *DONE|SUMMARY|.*panicked)' || true
  if ls fuzz/artifacts/"$t"/crash-* >/dev/null 2>&1; then
    echo "$t: crashes in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
