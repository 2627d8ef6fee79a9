// The fake Weir host's `log` and `metrics` interfaces (wit/plugin.wit), which hooks.mjs gives the
// SDK for `weir:plugin/log@0.1.2` and `weir:plugin/metrics@0.1.2`. It records every call in
// `calls` for tests to check, and rejects what the component boundary would refuse to lower.

const LEVELS = ["trace", "debug", "info", "warn", "error"];
const U64 = 2n ** 64n;

/** Everything the plugin asked of the host since the last `reset()`. */
export const calls = { logs: [], counters: [] };

export function reset() {
  calls.logs.length = 0;
  calls.counters.length = 0;
}

/** `log: func(level: log-level, message: string)`. */
export function log(level, message) {
  if (!LEVELS.includes(level)) throw new TypeError(`log: level ${level} is not one of ${LEVELS}`);
  if (typeof message !== "string") throw new TypeError(`log: message ${message} is not a string`);
  calls.logs.push([level, message]);
}

/** `counter-add: func(name: string, label: string, delta: u64)`: the delta must be a BigInt. */
export function counterAdd(name, label, delta) {
  if (typeof name !== "string" || typeof label !== "string") {
    throw new TypeError("counter-add: name and label must be strings");
  }
  if (typeof delta !== "bigint" || delta < 0n || delta >= U64) {
    throw new TypeError(`counter-add: delta ${delta} (${typeof delta}) is not a u64 BigInt`);
  }
  calls.counters.push([name, label, delta]);
}
