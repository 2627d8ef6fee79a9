#!/usr/bin/env bash
# Runs Weir's libFuzzer targets (fuzz/fuzz_targets, bodies in tests/fuzz) for a bounded time
# each, growing the corpus in fuzz/corpus/<target>/ (shrink it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz cmin --fuzz-dir fuzz <target>` before committing). Crashes land in
# fuzz/artifacts/<target>/: once fixed, add each to fuzz/regressions/<target>/ under a name that
# says what it found (cargo test replays both folders; cmin never touches regressions).
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
status=0
for t in "${targets[@]}"; do
  printf '\n==> fuzzing %s for %ss\n' "$t" "$seconds"
  log="fuzz/artifacts/$t.log"
  mkdir -p fuzz/artifacts
  # -max_len 64 KiB: larger bodies only exercise the size limits, which have their own seeds.
  if cargo fuzz run --fuzz-dir fuzz "$t" -- -max_total_time="$seconds" -max_len=65536 \
       -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  else
    echo "$t FAILED (log: $log; crash inputs: fuzz/artifacts/$t/):" >&2
    grep -E 'panicked|ERROR|SUMMARY|error' "$log" | head -20 >&2 || tail -20 "$log" >&2
    status=1
  fi
done
exit $status
