#!/usr/bin/env bash
# Measures the example plugins of every language (examples/plugins/<lang>-<kind>) through the
# real host: component size, the wall time of a whole `weir plugin test` run that compiles it
# and of one that finds it in the compiled-code cache, one load from the cache, and the time
# per call: a 1,000-span batch for the env-mask processors, a 20-span trace for the
# tier-policy samplers. Prints a Markdown table (docs/plugins/README.md keeps one).
#
#   bash scripts/test.sh            # once: installs the toolchains
#   bash benches/plugin-languages.sh [CALLS]     # WEIR=path/to/weir to skip building it
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
calls=${1:-200}
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"
weir=${WEIR:-}
if [ -z "$weir" ]; then
  cargo build --release --quiet --bin weir
  weir="$root/target/release/weir"
fi
rust_target="$root/target/example-plugins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The inputs: 1,000 spans (half with user.email) in 10 resources; one 20-span trace.
python3 - "$work" <<'PY'
import json, sys
def span(t, i, attrs):
    return {"traceId": f"{t:032x}", "spanId": f"{i + 1:016x}", "name": f"op-{i % 7}", "kind": 2,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs]}
def batch(spans_per_resource, resources, trace_of):
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": f"svc-{r}"}}]},
        "scopeSpans": [{"scope": {"name": "bench"}, "spans": [
            span(trace_of(r, i), r * spans_per_resource + i,
                 [("http.route", "/api/orders"), ("customer.tier", "free")]
                 + ([("user.email", f"user{i}@example.com")] if i % 2 == 0 else []))
            for i in range(spans_per_resource)]}]} for r in range(resources)]}
json.dump(batch(100, 10, lambda r, i: r * 100 + i // 5 + 1), open(f"{sys.argv[1]}/processor.json", "w"))
json.dump(batch(20, 1, lambda r, i: 1), open(f"{sys.argv[1]}/sampler.json", "w"))
PY

build() { # lang kind -> path of the component
  local dir="examples/plugins/$1-$2" file
  [ "$2" = processor ] && file=env_mask || file=tier_policy
  case $1 in
    rust) (cd "$dir" && CARGO_TARGET_DIR="$rust_target" cargo build --release --quiet) >&2
          echo "$rust_target/wasm32-wasip2/release/$file.wasm" ;;
    python) (cd "$dir" && ./build.sh) >/dev/null 2>&1; echo "$dir/target/$file.wasm" ;;
    js) (cd "$dir" && npm install --no-audit --no-fund --prefer-offline && npm run build) >/dev/null 2>&1
        echo "$dir/target/$file.wasm" ;;
    c) (cd "$dir" && make) >/dev/null; echo "$dir/target/$file.wasm" ;;
  esac
}

echo "| plugin | size | first run (compiles) | later run (cached) | load from cache | per call: median (p90) |"
echo "|---|---|---|---|---|---|"
for kind in processor sampler; do
  for lang in rust python js c; do
    wasm=$(build $lang $kind)
    config="examples/plugins/fixtures/$kind-config.json"
    cache="$work/cache-$lang-$kind"
    run() { XDG_CACHE_HOME="$cache" "$weir" plugin test "$wasm" --input "$work/$kind.json" --config "$config" "$@" 2>&1 >/dev/null; }
    # Whole `weir plugin test` runs: the first compiles the component, the second finds the
    # compiled code in the cache.
    t0=$(date +%s%N); run >/dev/null; t1=$(date +%s%N); run >/dev/null; t2=$(date +%s%N)
    cold="$(((t1 - t0) / 1000000)) ms"
    warm="$(((t2 - t1) / 1000000)) ms"
    out=$(run --repeat "$calls")
    inst=$(sed -n 's/.*load from cache \([^;]*\);.*/\1/p' <<<"$out")
    median=$(sed -n 's/.*median \([^,]*\),.*/\1/p' <<<"$out")
    p90=$(sed -n 's/.*p90 //p' <<<"$out")
    size=$(stat -c %s "$wasm")
    printf '| %s %s | %s KB | %s | %s | %s | %s (%s) |\n' "$lang" "$kind" "$((size / 1024))" \
      "$cold" "$warm" "$inst" "$median" "$p90"
  done
done
