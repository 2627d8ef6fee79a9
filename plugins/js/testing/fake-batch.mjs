// A fake of the batch resource Weir lends a JavaScript plugin (`telemetry.batch` in
// wit/plugin.wit, as componentize-js presents it: camelCase methods, enums as kebab-case strings,
// `list<u8>` as Uint8Array, variants as {tag, val}, u64/s64 as BigInt, none as undefined).
//
// It serves the columns from a plain list of items with the host's encodings (packed little-endian
// numbers written byte by byte, not through the platform's typed arrays), records writes in
// `writes` and every read in `reads`, and applies the writes only on `commit()`, as the host does
// when a call returns ok. A malformed call throws the host's message at once (the host records
// it and fails the call when it returns). `unaligned: true` serves every column as a view at an
// odd byte offset, which wasm memory may hand out.

const TEXT_FIELDS = ["name", "status-message", "trace-state", "severity-text", "body", "unit", "description", "scope-name"];
const NUMBER_FIELDS = ["time-unix-nano", "end-time-unix-nano", "kind", "status-code", "value", "flags"];
const ID_FIELDS = ["trace-id", "span-id", "parent-span-id"];
const LEVELS = ["resource", "item"];
const SIGNALS = ["traces", "metrics", "logs"];
const ITEM_NAMES = { traces: "spans", metrics: "data points", logs: "log records" };
const KIND = { str: 1, boolean: 2, int: 3, double: 4, bytes: 5, json: 6 };
const S64 = 2n ** 63n;

const encoder = new TextEncoder();

/** Packed little-endian u32s, `shift` bytes into their buffer. */
export function packU32(values, shift = 0) {
  const out = new Uint8Array(shift + values.length * 4).subarray(shift);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  values.forEach((v, i) => view.setUint32(i * 4, v, true));
  return out;
}

/** The u32s of a packed column. */
export function unpackU32(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
}

/** `strings` of wit/plugin.wit: one blob plus packed u32 offsets. */
export function strings(rows, shift = 0) {
  const parts = rows.map((r) => (typeof r === "string" ? encoder.encode(r) : r));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  const offsets = [0];
  for (const p of parts) {
    data.set(p, offsets.at(-1));
    offsets.push(offsets.at(-1) + p.length);
  }
  return { data, offsets: packU32(offsets, shift) };
}

function check(ok, what) {
  if (!ok) throw new TypeError(what);
}

/** Throws unless `v` is an `any-value` the component boundary would lower. */
export function checkAnyValue(v) {
  check(v !== null && typeof v === "object" && v.tag in KIND, `not an any-value: ${v?.tag}`);
  const { tag, val } = v;
  const ok = {
    str: () => typeof val === "string",
    boolean: () => typeof val === "boolean",
    int: () => typeof val === "bigint" && val >= -S64 && val < S64,
    double: () => typeof val === "number",
    bytes: () => val instanceof Uint8Array,
    json: () => typeof val === "string",
  }[tag]();
  check(ok, `any-value ${tag}: bad payload ${typeof val} ${String(val)}`);
}

export class FakeBatch {
  /**
   * `items`: [{resource, text: {field: string}, numbers: {field: BigInt or number}, ids: {field:
   * hex}, attributes: {key: any-value}}]; `resources`: [{attributes}]. Attributes may be Maps.
   */
  constructor({ signal = "traces", items = [], resources = [{}], unaligned = false } = {}) {
    check(SIGNALS.includes(signal), `signal ${signal}`);
    this.kind = signal;
    this.shift = unaligned ? 1 : 0;
    const attrs = (a) => new Map(a instanceof Map ? a : Object.entries(a ?? {}));
    this.items = items.map((x) => ({ resource: 0, ...x, attributes: attrs(x.attributes) }));
    this.resources = resources.map((r) => ({ ...r, attributes: attrs(r.attributes) }));
    this.reads = [];
    this.writes = [];
    this.dropped = new Set();
  }

  /** A column as the host lends it: a fresh copy, at an odd offset when `unaligned`. */
  lend(bytes) {
    const out = new Uint8Array(this.shift + bytes.length).subarray(this.shift);
    out.set(bytes);
    return out;
  }

  signal() {
    return this.kind;
  }
  len() {
    return this.items.length;
  }
  resourceCount() {
    return this.resources.length;
  }
  itemResources() {
    return this.lend(packU32(this.items.map((x) => x.resource)));
  }

  text(field) {
    check(TEXT_FIELDS.includes(field), `text-field ${field}`);
    this.reads.push(`text:${field}`);
    const s = strings(this.items.map((x) => x.text?.[field] ?? ""), this.shift);
    return { data: this.lend(s.data), offsets: s.offsets };
  }

  numbers(field) {
    check(NUMBER_FIELDS.includes(field), `number-field ${field}`);
    this.reads.push(`numbers:${field}`);
    const out = new Uint8Array(this.items.length * 8);
    const view = new DataView(out.buffer);
    this.items.forEach((x, i) => {
      const v = x.numbers?.[field] ?? 0;
      if (field === "value") view.setFloat64(i * 8, v, true);
      else if (field === "kind" || field === "status-code") view.setBigInt64(i * 8, BigInt(v), true);
      else view.setBigUint64(i * 8, BigInt(v), true);
    });
    return this.lend(out);
  }

  ids(field) {
    check(ID_FIELDS.includes(field), `id-field ${field}`);
    this.reads.push(`ids:${field}`);
    const width = field === "trace-id" ? 16 : 8;
    const out = new Uint8Array(this.items.length * width);
    this.items.forEach((x, i) => {
      const hex = x.ids?.[field] ?? "";
      if (hex) out.set(Buffer.from(hex, "hex"), i * width);
    });
    return this.lend(out);
  }

  owners(level) {
    check(LEVELS.includes(level), `attribute-level ${level}`);
    return level === "item" ? this.items : this.resources;
  }

  /** `value-column` of one key: one row per owner, kind 0 where it is absent. */
  attribute(level, key) {
    const owners = this.owners(level);
    this.reads.push(`attribute:${level}:${key}`);
    const kinds = new Uint8Array(owners.length);
    const numbers = new Uint8Array(owners.length * 8);
    const view = new DataView(numbers.buffer);
    const text = owners.map((o, i) => {
      const v = o.attributes.get(key);
      if (v === undefined) return "";
      kinds[i] = KIND[v.tag];
      if (v.tag === "boolean") view.setBigUint64(i * 8, v.val ? 1n : 0n, true);
      if (v.tag === "int") view.setBigInt64(i * 8, v.val, true);
      if (v.tag === "double") view.setFloat64(i * 8, v.val, true);
      return ["str", "bytes", "json"].includes(v.tag) ? v.val : "";
    });
    const s = strings(text, this.shift);
    return { kinds: this.lend(kinds), numbers: this.lend(numbers), text: { data: this.lend(s.data), offsets: s.offsets } };
  }

  /**
   * `find`, as the host answers it for string attributes and text fields (JavaScript RegExp
   * stands in for Rust regex; items may set `shared: true` to stand for a resource match).
   * A pattern with `^`, `$` or `\b` is refused with its index, as the host does.
   */
  find(patterns, cards) {
    this.reads.push(`find:${patterns.join("|")}:${cards}`);
    patterns.forEach((p, i) => {
      if (/[\^$]|\\b/.test(p)) {
        // As the component binding throws a host error: an Error with the string as `payload`.
        const why = `patterns[${i}]: ${JSON.stringify(p)} uses an anchor or word boundary`;
        throw Object.assign(new Error(why), { payload: why });
      }
    });
    const res = patterns.map((p) => new RegExp(p));
    const texts = (x) => [
      ...Object.values(x.text ?? {}),
      ...[...x.attributes].flatMap(([k, v]) => [k, ["str", "json"].includes(v.tag) ? v.val : ""]),
    ];
    const hit = this.items.flatMap((x, i) => (texts(x).some((t) => res.some((r) => r.test(t))) ? [i] : []));
    return { items: this.lend(packU32(hit)), shared: this.items.some((x) => x.shared) };
  }

  /** The owner indices of a packed list (undefined: every owner), checked like the host. */
  selection(call, level, packed) {
    if (packed === undefined) return undefined;
    check(packed instanceof Uint8Array, `${call}: owners must be a Uint8Array`);
    if (packed.length % 4 !== 0) throw `${call}: an index list must be packed u32 (a multiple of 4 bytes)`;
    const count = this.owners(level).length;
    const what = level === "item" ? ITEM_NAMES[this.kind] : "resources";
    const list = unpackU32(packed);
    for (const o of list) {
      if (o >= count) throw `${call}: index ${o} is out of range (the batch has ${count} ${what})`;
    }
    return list;
  }

  setAttribute(level, key, value, owners) {
    checkAnyValue(value);
    const list = this.selection("set-attribute", level, owners);
    if (key === "") throw "set-attribute: attribute keys must not be empty";
    if (value.tag === "json") {
      let parsed;
      try {
        parsed = JSON.parse(value.val);
      } catch (e) {
        throw `set-attribute: json value is not OTLP/JSON: ${e.message}`;
      }
      if (!(parsed?.arrayValue || parsed?.kvlistValue)) {
        throw "set-attribute: a json value must be an arrayValue or a kvlistValue";
      }
    }
    this.writes.push({ op: "set", level, key, value, owners: list });
  }

  removeAttribute(level, key, owners) {
    const list = this.selection("remove-attribute", level, owners);
    this.writes.push({ op: "remove", level, key, owners: list });
  }

  dropItems(packed) {
    check(packed !== undefined, "drop-items: items is not optional");
    this.writes.push({ op: "drop", items: this.selection("drop-items", "item", packed) });
  }

  /** Applies the recorded writes in order, as the host does when the call returned ok. */
  commit() {
    for (const w of this.writes) {
      if (w.op === "drop") {
        w.items.forEach((i) => this.dropped.add(i));
        continue;
      }
      const owners = this.owners(w.level);
      for (const o of w.owners ?? owners.keys()) {
        // Map.set keeps an existing key's place and appends a new one, like the host.
        if (w.op === "set") owners[o].attributes.set(w.key, w.value);
        else owners[o].attributes.delete(w.key);
      }
    }
    this.writes = [];
  }
}
