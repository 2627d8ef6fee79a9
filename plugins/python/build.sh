#!/usr/bin/env bash
# Builds the Python plugins (bench/, tag/) into components with componentize-py:
# plugins/python/target/<name>.wasm. Uses the repository's .venv (scripts/test.sh creates it);
# installs componentize-py into it if missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="$root/.venv/bin"
[ -x "$py/componentize-py" ] || "$py/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1
mkdir -p "$here/target"
for app in "${@:-bench tag}"; do
  for name in $app; do
    out="$here/target/$name.wasm"
    # Rebuild only when the app, the SDK or the WIT changed.
    if [ -f "$out" ] && [ -z "$(find "$here/$name" "$here/weir_plugin.py" "$here/_weir_host.py" "$root/wit" -newer "$out" -print -quit)" ]; then
      continue
    fi
    echo "componentize-py: $name"
    # --stub-wasi: CPython imports filesystem, sockets and clocks it never needs here; stubbing
    # them leaves a component whose only imports are Weir's, which the host's import policy
    # accepts. print() and tracebacks go to Weir's log through weir_plugin instead of stdout.
    "$py/componentize-py" -d "$root/wit" -w processor componentize --stub-wasi -p "$here" -p "$here/$name" app -o "$out"
  done
done
