#!/usr/bin/env bash
# Unit tests of the JavaScript plugin SDK and the js-* example plugins, with Node's built-in test
# runner: no npm, no network, no build (the fake host is in testing/). Run from anywhere:
#   bash plugins/js/test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import ./plugins/js/testing/register.mjs --test plugins/js/test/
