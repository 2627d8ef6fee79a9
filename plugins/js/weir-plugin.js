// Weir's JavaScript plugin SDK: a thin module over the batch columns of wit/plugin.wit, for
// components built with componentize-js.
//
//   import { processor, ITEM } from "./weir-plugin.js";
//
//   class Tag {
//     constructor(config) { this.team = config.team; }        // throw to reject the config
//     process(batch) { batch.setAttribute("team", this.team); } // throw to fail the batch
//   }
//
//   const plugin = processor(Tag);
//   export const init = plugin.init, signals = plugin.signals, process = plugin.process;
//
// Columns are read lazily, once per batch and field; strings are decoded only when read.
// Writes take effect when the call returns; if it throws, none of them happen and the batch gets
// the processor's `on_error` policy. Policies (`policy(Class)`) see one trace, read-only, and
// return `keep(reason)`, `drop(reason)` or `NO_OPINION`.

import { log as hostLog } from "weir:plugin/log@0.1.2";
import { counterAdd as hostCounterAdd } from "weir:plugin/metrics@0.1.2";

/** Attribute levels: the item (span, data point, log record) or its resource. */
export const ITEM = "item";
export const RESOURCE = "resource";

const decoder = new TextDecoder();

/** Writes to Weir's log ("trace", "debug", "info", "warn", "error"), tagged with the plugin's name. */
export function log(level, message) {
  hostLog(level, String(message));
}

/**
 * Adds `delta` (a non-negative integer, number or BigInt, below 2^64) to the plugin's counter
 * `name{label}` in Weir's /metrics; keep labels bounded.
 */
export function counterAdd(name, label, delta = 1) {
  hostCounterAdd(String(name), String(label), unsigned64(delta, `counterAdd(${name}): delta`));
}

/** `v` as a BigInt in 0..2^64-1, or a thrown message naming `what`. */
function unsigned64(v, what) {
  if (typeof v === "number" && !Number.isSafeInteger(v)) {
    throw `${what} must be a whole number (a safe integer or a BigInt), got ${v}`;
  }
  if (typeof v !== "number" && typeof v !== "bigint") throw `${what} must be a number or a BigInt, got ${typeof v}`;
  const n = BigInt(v);
  if (n < 0n || n >= 2n ** 64n) throw `${what} must be between 0 and 2^64-1, got ${n}`;
  return n;
}

/** One string per row: one blob plus packed u32 offsets, decoded on access. */
export class Strings {
  constructor(s) {
    this.data = s.data;
    this.offsets = u32(s.offsets);
  }
  get length() {
    return Math.max(this.offsets.length - 1, 0);
  }
  bytes(i) {
    if (!(i >= 0 && i < this.length)) throw `string ${i} out of range (${this.length} rows)`;
    return this.data.subarray(this.offsets[i], this.offsets[i + 1]);
  }
  get(i) {
    return decoder.decode(this.bytes(i));
  }
}

// Value kind bytes (`value-column.kinds` in wit/plugin.wit), as engine/abi defines them;
// engine/abi/tests/sdks.rs checks these lines.
export const KIND_ABSENT = 0;
export const KIND_STRING = 1;
export const KIND_BOOL = 2;
export const KIND_INT = 3;
export const KIND_DOUBLE = 4;
export const KIND_BYTES = 5;
export const KIND_JSON = 6;

/** One attribute value per row (`kinds[i]` 0 means absent); `get(i)` is undefined where absent. */
export class Values {
  constructor(c) {
    this.kinds = c.kinds;
    this.numbers = new DataView(c.numbers.buffer, c.numbers.byteOffset, c.numbers.byteLength);
    this.text = new Strings(c.text);
  }
  get length() {
    return this.kinds.length;
  }
  has(i) {
    return (this.kinds[i] ?? KIND_ABSENT) !== KIND_ABSENT;
  }
  get(i) {
    switch (this.kinds[i]) {
      case KIND_STRING: return this.text.get(i);
      case KIND_BOOL: return this.numbers.getBigUint64(i * 8, true) !== 0n;
      case KIND_INT: return this.numbers.getBigInt64(i * 8, true);
      case KIND_DOUBLE: return this.numbers.getFloat64(i * 8, true);
      case KIND_BYTES: return this.text.bytes(i).slice();
      case KIND_JSON: return JSON.parse(this.text.get(i));
      default: return undefined;
    }
  }
}

/** One span, data point or log record of a batch. */
export class Item {
  constructor(batch, index) {
    this.batch = batch;
    this.index = index;
  }
  get name() {
    return this.batch.text("name").get(this.index);
  }
  /** The item's attribute `key`, or undefined. */
  attribute(key) {
    return this.batch.attribute(key).get(this.index);
  }
  /** OTLP status code: 0 unset, 1 ok, 2 error (spans). */
  get statusCode() {
    return Number(this.batch.number("status-code", this.index));
  }
  setAttribute(key, value) {
    this.batch.setAttribute(key, value, { owners: [this.index] });
  }
  removeAttribute(key) {
    this.batch.removeAttribute(key, { owners: [this.index] });
  }
}

/** One batch lent by Weir for one call. */
export class Batch {
  constructor(handle) {
    this.handle = handle;
    this.signal = handle.signal();
    this.length = handle.len();
    this.cache = new Map();
  }
  cached(key, read) {
    if (!this.cache.has(key)) this.cache.set(key, read());
    return this.cache.get(key);
  }
  *items() {
    for (let i = 0; i < this.length; i++) yield new Item(this, i);
  }
  /** A text field ("name", "status-message", "body", ...) of every item. */
  text(field) {
    return this.cached(`text:${field}`, () => new Strings(this.handle.text(field)));
  }
  /**
   * A number field of item `i`: "value" as a number (f64); "kind" and "status-code" as signed
   * BigInts; "time-unix-nano", "end-time-unix-nano" and "flags" as unsigned BigInts.
   */
  number(field, i) {
    const col = this.cached(`num:${field}`, () => this.handle.numbers(field));
    const view = new DataView(col.buffer, col.byteOffset, col.byteLength);
    if (field === "value") return view.getFloat64(i * 8, true);
    if (field === "kind" || field === "status-code") return view.getBigInt64(i * 8, true);
    return view.getBigUint64(i * 8, true);
  }
  /** An id field ("trace-id", "span-id", "parent-span-id") of item `i`, as a copy of its bytes. */
  id(field, i) {
    const col = this.cached(`id:${field}`, () => this.handle.ids(field));
    const w = field === "trace-id" ? 16 : 8;
    return col.slice(i * w, (i + 1) * w);
  }
  /** Attribute `key` of every owner of `level`, one row per owner. */
  attribute(key, level = ITEM) {
    return this.cached(`attr:${level}:${key}`, () => new Values(this.handle.attribute(level, key)));
  }
  /** Sets `key` on every owner of `level`, or only on `owners` (indices). */
  setAttribute(key, value, { level = ITEM, owners } = {}) {
    this.handle.setAttribute(level, key, anyValue(value), pack(owners, `setAttribute(${key})`));
  }
  /** Removes `key` from every owner of `level`, or only from `owners`. */
  removeAttribute(key, { level = ITEM, owners } = {}) {
    this.handle.removeAttribute(level, key, pack(owners, `removeAttribute(${key})`));
  }
  /** Drops the listed items: indices, or `Item`s of this batch. */
  drop(items) {
    this.handle.dropItems(pack(items, "drop"));
  }
  /**
   * Host kernel: `{ items, shared }`, the indices of the items in which any of `patterns` (Rust
   * regex syntax, no anchors or word boundaries) matches any string — names, attribute keys and
   * values at any depth, events, links, exemplars, log bodies — or, with `cards`, that hold a
   * card number; `shared` when something is in resource or scope attributes or metric metadata.
   * Weir searches natively, so the batch never crosses into the plugin. A pattern Weir refuses
   * is thrown as a message naming its index.
   */
  find(patterns, { cards = false } = {}) {
    if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === "string")) {
      throw `find: expected an array of pattern strings, got ${show(patterns)}`;
    }
    let found;
    try {
      found = this.handle.find(patterns, cards);
    } catch (e) {
      // The component binding throws a host error string as an Error carrying it as `payload`.
      throw typeof e?.payload === "string" ? e.payload : message(e);
    }
    return { items: Array.from(u32(found.items)), shared: found.shared };
  }
}

function u32(bytes) {
  if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Uint32Array(bytes.slice().buffer);
}

/**
 * Indices (or `Item`s) as packed little-endian u32s; anything else is a thrown message, not a
 * silent 0 that would hit the first item. Weir checks the range against the batch.
 */
function pack(indices, what) {
  if (indices === undefined) return undefined;
  if (indices === null || typeof indices[Symbol.iterator] !== "function") {
    throw `${what}: expected an array of indices or Items, got ${indices}`;
  }
  const out = [];
  for (const x of indices) {
    const i = x instanceof Item ? x.index : x;
    if (!(Number.isInteger(i) && i >= 0 && i < 2 ** 32)) {
      throw `${what}: ${show(x)} is not an item index or an Item`;
    }
    out.push(i);
  }
  return new Uint8Array(Uint32Array.from(out).buffer);
}

/** `v` for an error message: JSON where it has one (BigInts as `5n`), else its string form. */
function show(v) {
  try {
    return JSON.stringify(v, (_key, x) => (typeof x === "bigint" ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

function anyValue(v) {
  switch (typeof v) {
    case "string": return { tag: "str", val: v };
    case "boolean": return { tag: "boolean", val: v };
    case "bigint":
      if (v < -(2n ** 63n) || v >= 2n ** 63n) throw `attribute value ${v}n does not fit a 64-bit signed int`;
      return { tag: "int", val: v };
    case "number":
      // Integers a double holds exactly become ints; larger ones (already rounded) stay doubles.
      return Number.isSafeInteger(v) ? { tag: "int", val: BigInt(v) } : { tag: "double", val: v };
    default:
      if (v instanceof Uint8Array) return { tag: "bytes", val: v };
      if (Array.isArray(v)) return { tag: "json", val: JSON.stringify({ arrayValue: { values: v.map(otlpJson) } }) };
      if (v !== null && typeof v === "object") {
        const values = Object.entries(v).map(([key, x]) => ({ key, value: otlpJson(x) }));
        return { tag: "json", val: JSON.stringify({ kvlistValue: { values } }) };
      }
      throw `unsupported attribute value ${v} (${typeof v}): use a string, boolean, number, BigInt, Uint8Array, array or plain object`;
  }
}

/** A JS value as an OTLP/JSON AnyValue, for arrays and maps. */
function otlpJson(v) {
  const a = anyValue(v);
  switch (a.tag) {
    case "str": return { stringValue: a.val };
    case "boolean": return { boolValue: a.val };
    case "int": return { intValue: a.val.toString() };
    case "double": return { doubleValue: a.val };
    case "bytes": return { bytesValue: base64(a.val) };
    default: return JSON.parse(a.val);
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 (OTLP/JSON's encoding of bytes). */
function base64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[n >> 18] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? B64[n & 63] : "=";
  }
  return out;
}

/** The message Weir shows for an exception thrown by plugin code. */
function message(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Where an Error thrown by plugin code was raised: `file.js:LINE:COLUMN` of the innermost
 * stack frame outside this SDK (V8's `at f (file:L:C)` and SpiderMonkey's `f@file:L:C`
 * frames alike), or "" when the stack says nothing usable.
 */
export function where(e) {
  if (!(e instanceof Error) || typeof e.stack !== "string") return "";
  for (const line of e.stack.split("\n")) {
    const m = line.match(/([^\/\s(@]+\.[cm]?js):(\d+)(?::(\d+))?\)?\s*$/);
    if (m && m[1] !== "weir-plugin.js") return m[3] ? `${m[1]}:${m[2]}:${m[3]}` : `${m[1]}:${m[2]}`;
  }
  return "";
}

/**
 * The message of an exception thrown while handling a batch, with where it was raised; the
 * stack (bounded) goes to stderr, which Weir logs under the plugin's name.
 */
function callMessage(e) {
  const at = where(e);
  if (e instanceof Error && typeof e.stack === "string") console.error(e.stack.slice(0, 4000));
  return at ? `${message(e)} (at ${at})` : message(e);
}

/** `init`: builds the plugin's instance from its config JSON; a throw rejects the config. */
function construct(Cls, config) {
  try {
    return new Cls(JSON.parse(config));
  } catch (e) {
    throw message(e);
  }
}

/** The exports of a processor: `init`, `signals` and `process`, running class `Cls`. */
export function processor(Cls) {
  let instance;
  return {
    init(config) {
      instance = construct(Cls, config);
    },
    signals() {
      const s = typeof instance.signals === "function" ? instance.signals() : instance.signals;
      return s ?? ["traces", "metrics", "logs"];
    },
    process(handle) {
      try {
        instance.process(new Batch(handle));
      } catch (e) {
        throw callMessage(e);
      }
    },
  };
}

/** Keep the trace; with the sampler's `record_policy` its spans carry `reason`. */
export const keep = (reason = "") => ({ decision: "sample", reason });
/** Drop the trace whatever other policies say (a veto). */
export const drop = (reason = "") => ({ decision: "drop", reason });
/** Let the other policies decide. */
export const NO_OPINION = Object.freeze({ decision: "no-opinion", reason: "" });

/** The exports of a tail-sampling policy: `init` and `evaluate`, running class `Cls`. */
export function policy(Cls) {
  let instance;
  return {
    init(config) {
      instance = construct(Cls, config);
    },
    evaluate(handle) {
      let v;
      try {
        v = instance.evaluate(new Batch(handle));
      } catch (e) {
        throw callMessage(e);
      }
      if (!v || !["sample", "drop", "no-opinion"].includes(v.decision)) {
        throw `evaluate returned ${show(v)}: return keep(...), drop(...) or NO_OPINION`;
      }
      return { decision: v.decision, reason: String(v.reason ?? "") };
    },
  };
}
