// Registers hooks.mjs so that `weir:plugin/...` imports reach the fake host. Load it before the
// tests: `node --import ./plugins/js/testing/register.mjs --test plugins/js/test/` (plugins/js/test.sh).
import { register } from "node:module";

register("./hooks.mjs", import.meta.url);
