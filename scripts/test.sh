#!/usr/bin/env bash
# Weir's whole test suite, on a fresh machine: installs what the tests need (idempotently), then
# runs every unit and end-to-end test. This is the command the README shows and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# Golden files are rewritten by a separate command a person runs, never by the suite.
if [ -n "${WEIR_BLESS:-}" ]; then
  echo "WEIR_BLESS is set: the suite does not bless golden files; unset it (and use" >&2
  echo "'cargo run -p weir-tests --bin bless-golden' to rewrite them)" >&2
  exit 2
fi

# A suite run gains nothing from incremental compilation's caches (gigabytes under target/ on a
# small CI disk); a caller who wants them sets CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Formatting first: it is the cheapest check and needs nothing installed.
say "cargo fmt --check (engine and plugins)"
cargo fmt --all -- --check
(cd plugins && cargo fmt --all -- --check)

# The OpenTelemetry Python SDK the end-to-end tests drive, in a venv of its own (.venv/).
req=tests/python/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating .venv with the OpenTelemetry Python SDK"
  if ! python3 -m venv .venv 2>/dev/null; then
    # Debian's python3 lacks venv until python3-venv is installed.
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# Headless Chromium renders the policy lab's HTML report in tests/lab.rs.
if ! command -v chromium >/dev/null 2>&1; then
  say "apt-get install chromium (headless, for the lab report test)"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
fi

# Toolchains of the example plugins in examples/plugins/, which tests/plugin_languages.rs and
# tests/plugin_new.rs build from source: Node.js and npm (JavaScript), clang 19 with wasi-libc
# (C). componentize-py (Python) and wasm-tools come with the venv above.
need=()
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
command -v make >/dev/null 2>&1 || need+=(make)
# Prometheus scrapes Weir's /metrics and receives remote writes (tests/prometheus_*.rs);
# ClickHouse receives the clickhouse exporter plugin's rows (tests/clickhouse_export.rs).
for p in clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc prometheus clickhouse-server; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]} (plugin toolchains, Prometheus, ClickHouse)"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"
  # Debian's prometheus package enables a system service on :9090 (all interfaces) where
  # systemd runs; the tests start their own on 127.0.0.1.
  # The same for clickhouse-server (:8123 and :9000).
  if command -v systemctl >/dev/null 2>&1; then
    [[ " ${need[*]} " == *" prometheus "* ]] && { systemctl disable --now prometheus >/dev/null 2>&1 || true; }
    [[ " ${need[*]} " == *" clickhouse-server "* ]] && { systemctl disable --now clickhouse-server >/dev/null 2>&1 || true; }
  fi
fi
# wit-bindgen's C generator (not packaged by Debian, PyPI or npm): built once into ~/.cargo/bin.
if [ "$(wit-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "0.63.0" ]; then
  say "cargo install wit-bindgen-cli 0.63.0 (C generator only; a few minutes, once)"
  cargo install --locked --quiet wit-bindgen-cli@0.63.0 --no-default-features --features c
fi

# Plugins are WebAssembly components built for wasm32-wasip2.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  say "rustup target add wasm32-wasip2"
  rustup target add wasm32-wasip2
fi

say "building plugins/ (wasm32-wasip2)"
(cd plugins && cargo build --release --locked)

say "plugin SDK and first-party plugin tests (native, on fixtures)"
host=$(rustc -vV | sed -n 's/^host: //p')
(cd plugins && cargo test --locked --target "$host" --workspace --exclude not-a-processor)

say "Python plugin SDK tests (plain Python, on fixtures)"
.venv/bin/python -m unittest discover -s plugins/python

say "JavaScript plugin SDK tests (Node's test runner, on fixtures)"
bash plugins/js/test.sh

say "clippy: engine, plugins (wasm32-wasip2) and plugin tests (native)"
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd plugins && cargo clippy --locked -- -D warnings)
(cd plugins && cargo clippy --locked --target "$host" --workspace --exclude not-a-processor --all-targets -- -D warnings)

say "cargo test --workspace"
cargo test --workspace --locked

say "the criterion benches build (dev profile; they are not run here)"
cargo build --workspace --benches --locked
