#!/usr/bin/env bash
# Weir's whole test suite, on a fresh machine: installs what the tests need (idempotently), then
# runs every unit and end-to-end test. This is the command the README shows and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

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

say "cargo test --workspace"
cargo test --workspace --locked
