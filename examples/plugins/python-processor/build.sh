#!/usr/bin/env bash
# Builds env-mask into target/env_mask.wasm with componentize-py (from PyPI). Uses $COMPONENTIZE_PY, or
# componentize-py on PATH, or installs it once into a venv under ~/.cache/weir.
set -euo pipefail
cd "$(dirname "$0")"
py=${COMPONENTIZE_PY:-$(command -v componentize-py || true)}
if [ -z "$py" ]; then
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/weir/componentize-py-0.25.1"
  if [ ! -x "$venv/bin/componentize-py" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1
  fi
  py="$venv/bin/componentize-py"
fi
# The SDK (weir_plugin.py, _weir_host.py) sits beside app.py in a project made by `weir plugin new`;
# the examples in Weir's source tree use plugins/python.
sdk=.
[ -f weir_plugin.py ] || sdk=../../../plugins/python
mkdir -p target
# --stub-wasi: the component imports only what Weir grants (CPython's filesystem, clock and
# socket imports are stubbed out); print() goes to Weir's log through weir_plugin.
"$py" -d wit -w processor componentize --stub-wasi -p . -p "$sdk" app -o target/env_mask.wasm
echo "built target/env_mask.wasm"
