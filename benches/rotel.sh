#!/usr/bin/env bash
# Builds Rotel (https://github.com/streamfold/rotel) from source, to measure Weir against it
# with `weir-load --peer` (see benches/README.md). Prints the binary's path.
#
#   bash benches/rotel.sh [SOURCE_DIR]
#
# SOURCE_DIR is a Rotel checkout (cloned from GitHub into target/peer/rotel when not given).
# Rotel depends on three git repositories (an opentelemetry-rust revision that is 0.31.0 plus a
# 32-bit ARM fix, a daemonize fork, and an optional Prometheus exporter); this script replaces
# them with their crates.io releases and builds without optional features, so only crates.io
# is needed. Daemon mode, which the fork serves, is not used by the harness. The checkout is
# changed in place.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-$here/target/peer/rotel}
if [ ! -d "$src" ]; then
  git clone --depth 1 https://github.com/streamfold/rotel "$src"
fi
# Rotel's build needs protoc (its Datadog protos) and cmake (zlib-ng).
if ! command -v protoc >/dev/null || ! command -v cmake >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq protobuf-compiler cmake >/dev/null
fi
cd "$src"
python3 - <<'EOF'
import pathlib, re
for toml in pathlib.Path('.').rglob('Cargo.toml'):
    s = toml.read_text()
    t = s.replace('git = "https://github.com/open-telemetry/opentelemetry-rust", rev = "0948c61"',
                  'version = "=0.31.0"')
    t = re.sub(r'(?m)^daemonize = .*$', 'daemonize = "0.5"', t)
    t = '\n'.join(l for l in t.split('\n')
                  if not l.startswith('opentelemetry-prometheus-text-exporter')
                  and not l.startswith('prometheus = ["dep:opentelemetry-prometheus'))
    if t != s:
        toml.write_text(t)
main = pathlib.Path('src/bin/rotel/main.rs')
s = main.read_text()
start = s.find('        Err(e) => match e.kind {')
if start >= 0:
    end = s.index('        },\n    }\n}\n', start) + len('        },\n')
    main.write_text(s[:start] + '        Err(e) => Err(format!("{e}").into()),\n' + s[end:])
EOF
rm -f rust-toolchain.toml
if grep -q 'git+https' Cargo.lock 2>/dev/null; then rm -f Cargo.lock; fi
cargo build --release --no-default-features --bin rotel >&2
echo "$src/target/release/rotel"
