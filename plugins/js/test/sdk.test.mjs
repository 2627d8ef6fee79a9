// Unit tests of the JavaScript plugin SDK (plugins/js/weir-plugin.js) against the fake host in
// plugins/js/testing/: `bash plugins/js/test.sh`.

import { describe, test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import {
  Strings, Values, Batch, Item, ITEM, RESOURCE, processor, policy, keep, drop, NO_OPINION, log, counterAdd, where,
} from "../weir-plugin.js";
import { FakeBatch, packU32, strings } from "../testing/fake-batch.mjs";
import { calls, reset } from "../testing/fake-host.mjs";

const bytes = (...b) => new Uint8Array(b);
const TRACE_ID = "5b8efff798038103d269b633813fc60c";
const TRACE_ID_2 = "00112233445566778899aabbccddeeff";

// One attribute of every kind, one row each, plus an absent row.
const KINDS = [
  undefined,
  { tag: "str", val: "héllo 日本" },
  { tag: "boolean", val: true },
  { tag: "boolean", val: false },
  { tag: "int", val: -(2n ** 63n) },
  { tag: "int", val: 2n ** 63n - 1n },
  { tag: "double", val: -1.5 },
  { tag: "bytes", val: bytes(0, 255, 7) },
  { tag: "json", val: '{"arrayValue":{"values":[{"intValue":"1"}]}}' },
];

function attributeBatch(unaligned) {
  const items = KINDS.map((v) => ({ attributes: v ? { k: v } : {} }));
  return new Batch(new FakeBatch({ items, unaligned }));
}

/** A batch of two spans, and the fake handle behind it. */
function twoSpans(options = {}) {
  const handle = new FakeBatch({
    items: [
      {
        text: { name: "GET /cart" },
        numbers: { kind: 2n, "status-code": 2n, "time-unix-nano": 2n ** 64n - 1n, flags: 2n ** 63n + 1n, value: 0.25 },
        ids: { "trace-id": TRACE_ID, "span-id": "eee19b7ec3c1b174" },
        attributes: { card: { tag: "str", val: "4111" } },
      },
      {
        text: { name: "SELECT" },
        numbers: { kind: -3n, value: -2 },
        ids: { "trace-id": TRACE_ID_2, "span-id": "0102030405060708", "parent-span-id": "eee19b7ec3c1b174" },
      },
    ],
    resources: [{ attributes: { "service.name": { tag: "str", val: "checkout" } } }],
    ...options,
  });
  return { handle, batch: new Batch(handle) };
}

describe("Strings", () => {
  for (const shift of [0, 1, 2, 3]) {
    test(`decodes each row (offsets at byte offset ${shift})`, () => {
      const s = new Strings(strings(["a", "", "héllo", "日本"], shift));
      assert.equal(s.length, 4);
      assert.deepEqual([0, 1, 2, 3].map((i) => s.get(i)), ["a", "", "héllo", "日本"]);
      assert.deepEqual(s.bytes(2), new TextEncoder().encode("héllo"));
      assert.deepEqual([...s.offsets], [0, 1, 1, 7, 13]);
    });
  }

  test("reads the offsets as little-endian u32s", () => {
    const data = new Uint8Array(300).fill(0x61);
    const s = new Strings({ data, offsets: bytes(0, 0, 0, 0, 0x2c, 0x01, 0, 0) });
    assert.equal(s.length, 1);
    assert.equal(s.get(0).length, 300);
  });

  test("throws on rows out of range", () => {
    const s = new Strings(strings(["a", "b"]));
    assert.throws(() => s.get(2), (e) => e === "string 2 out of range (2 rows)");
    assert.throws(() => s.bytes(-1), (e) => e === "string -1 out of range (2 rows)");
  });

  test("has no rows without offsets", () => {
    const s = new Strings({ data: bytes(), offsets: bytes() });
    assert.equal(s.length, 0);
    assert.throws(() => s.get(0), (e) => e === "string 0 out of range (0 rows)");
  });
});

describe("Values", () => {
  for (const unaligned of [false, true]) {
    test(`decodes every kind${unaligned ? " (unaligned columns)" : ""}`, () => {
      const v = attributeBatch(unaligned).attribute("k");
      assert.ok(v instanceof Values);
      assert.equal(v.length, KINDS.length);
      assert.deepEqual([...v.kinds], [0, 1, 2, 2, 3, 3, 4, 5, 6]);
      assert.deepEqual(KINDS.map((_, i) => v.has(i)), [false, true, true, true, true, true, true, true, true]);
      assert.equal(v.get(0), undefined);
      assert.equal(v.get(1), "héllo 日本");
      assert.equal(v.get(2), true);
      assert.equal(v.get(3), false);
      assert.equal(v.get(4), -(2n ** 63n));
      assert.equal(v.get(5), 2n ** 63n - 1n);
      assert.equal(v.get(6), -1.5);
      assert.deepEqual(v.get(7), bytes(0, 255, 7));
      assert.deepEqual(v.get(8), { arrayValue: { values: [{ intValue: "1" }] } });
    });
  }

  test("gives bytes as a copy", () => {
    const v = attributeBatch(false).attribute("k");
    v.get(7)[0] = 9;
    assert.deepEqual(v.get(7), bytes(0, 255, 7));
  });

  test("has nothing past the last row", () => {
    const v = attributeBatch(false).attribute("k");
    assert.equal(v.has(KINDS.length), false);
    assert.equal(v.get(KINDS.length), undefined);
  });
});

describe("Batch reads", () => {
  test("signal and length come from the handle", () => {
    const { batch } = twoSpans();
    assert.equal(batch.signal, "traces");
    assert.equal(batch.length, 2);
    assert.equal(new Batch(new FakeBatch({ signal: "logs" })).length, 0);
  });

  for (const unaligned of [false, true]) {
    test(`number() types each field${unaligned ? " (unaligned columns)" : ""}`, () => {
      const { batch } = twoSpans({ unaligned });
      assert.equal(batch.number("value", 0), 0.25);
      assert.equal(batch.number("value", 1), -2);
      assert.equal(typeof batch.number("value", 1), "number");
      assert.equal(batch.number("kind", 0), 2n);
      assert.equal(batch.number("kind", 1), -3n);
      assert.equal(batch.number("status-code", 0), 2n);
      assert.equal(batch.number("status-code", 1), 0n);
      assert.equal(batch.number("time-unix-nano", 0), 2n ** 64n - 1n);
      assert.equal(batch.number("end-time-unix-nano", 0), 0n);
      assert.equal(batch.number("flags", 0), 2n ** 63n + 1n);
    });

    test(`id() slices 16-byte trace ids and 8-byte span ids${unaligned ? " (unaligned columns)" : ""}`, () => {
      const { batch } = twoSpans({ unaligned });
      const hex = (b) => Buffer.from(b).toString("hex");
      assert.equal(hex(batch.id("trace-id", 0)), TRACE_ID);
      assert.equal(hex(batch.id("trace-id", 1)), TRACE_ID_2);
      assert.equal(hex(batch.id("span-id", 0)), "eee19b7ec3c1b174");
      assert.equal(hex(batch.id("span-id", 1)), "0102030405060708");
      assert.equal(hex(batch.id("parent-span-id", 0)), "0000000000000000");
      assert.equal(hex(batch.id("parent-span-id", 1)), "eee19b7ec3c1b174");
      const id = batch.id("span-id", 0);
      id.fill(0);
      assert.equal(hex(batch.id("span-id", 0)), "eee19b7ec3c1b174", "id() gives a copy");
    });
  }

  test("text() gives a field of every item", () => {
    const { batch } = twoSpans();
    const names = batch.text("name");
    assert.deepEqual([names.get(0), names.get(1)], ["GET /cart", "SELECT"]);
    assert.equal(batch.text("status-message").get(1), "");
  });

  test("attribute() reads items or resources", () => {
    const { batch } = twoSpans();
    assert.equal(batch.attribute("card").get(0), "4111");
    assert.equal(batch.attribute("card", ITEM).has(1), false);
    assert.equal(batch.attribute("service.name", RESOURCE).get(0), "checkout");
    assert.equal(batch.attribute("service.name").has(0), false);
  });

  test("reads each column once per batch", () => {
    const { handle, batch } = twoSpans();
    for (let round = 0; round < 2; round++) {
      batch.text("name").get(0);
      batch.number("kind", 0);
      batch.number("kind", 1);
      batch.id("span-id", 1);
      batch.attribute("card").get(0);
      batch.attribute("card", RESOURCE);
      for (const item of batch.items()) item.name;
    }
    assert.deepEqual(handle.reads, [
      "text:name", "numbers:kind", "ids:span-id", "attribute:item:card", "attribute:resource:card",
    ]);
    new Batch(handle).text("name");
    assert.equal(handle.reads.filter((r) => r === "text:name").length, 2, "a new batch reads again");
  });
});

describe("Batch writes", () => {
  /** What setAttribute(key, value) sends to the host. */
  function sent(value) {
    const { handle, batch } = twoSpans();
    batch.setAttribute("k", value);
    assert.equal(handle.writes.length, 1);
    return handle.writes[0].value;
  }

  test("converts scalars to any-values", () => {
    assert.deepEqual(sent("x"), { tag: "str", val: "x" });
    assert.deepEqual(sent(""), { tag: "str", val: "" });
    assert.deepEqual(sent(true), { tag: "boolean", val: true });
    assert.deepEqual(sent(false), { tag: "boolean", val: false });
    assert.deepEqual(sent(-(2n ** 63n)), { tag: "int", val: -(2n ** 63n) });
    assert.deepEqual(sent(7), { tag: "int", val: 7n });
    assert.deepEqual(sent(-7), { tag: "int", val: -7n });
    assert.deepEqual(sent(2.5), { tag: "double", val: 2.5 });
    assert.deepEqual(sent(bytes(1, 2)), { tag: "bytes", val: bytes(1, 2) });
  });

  test("writes arrays and objects as OTLP/JSON", () => {
    assert.deepEqual(sent([1, "a", true, 2.5, 3n, bytes(255)]), {
      tag: "json",
      val: '{"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"a"},{"boolValue":true},{"doubleValue":2.5},{"intValue":"3"},{"bytesValue":"/w=="}]}}',
    });
    assert.deepEqual(sent({ a: 1, b: { c: [false] } }), {
      tag: "json",
      val: '{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"1"}},{"key":"b","value":{"kvlistValue":{"values":[{"key":"c","value":{"arrayValue":{"values":[{"boolValue":false}]}}}]}}}]}}',
    });
    assert.deepEqual(sent([]), { tag: "json", val: '{"arrayValue":{"values":[]}}' });
  });

  test("encodes bytes inside arrays as standard base64", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (const b of [bytes(), bytes(0x66), bytes(0x66, 0x6f), bytes(0x66, 0x6f, 0x6f), bytes(0xfb, 0xff, 0xbf, 0x01), all]) {
      const json = JSON.parse(sent([b]).val);
      assert.equal(json.arrayValue.values[0].bytesValue, Buffer.from(b).toString("base64"), `bytes ${b}`);
    }
    assert.equal(JSON.parse(sent([bytes(0x66)]).val).arrayValue.values[0].bytesValue, "Zg==");
    assert.equal(JSON.parse(sent([bytes(0x66, 0x6f)]).val).arrayValue.values[0].bytesValue, "Zm8=");
  });

  test("refuses values that have no attribute type", () => {
    const { handle, batch } = twoSpans();
    const hint = ": use a string, boolean, number, BigInt, Uint8Array, array or plain object";
    assert.throws(() => batch.setAttribute("k", null), (e) => e === `unsupported attribute value null (object)${hint}`);
    assert.throws(() => batch.setAttribute("k", undefined), (e) => e === `unsupported attribute value undefined (undefined)${hint}`);
    assert.throws(() => batch.setAttribute("k", [1, null]), (e) => e === `unsupported attribute value null (object)${hint}`);
    assert.equal(handle.writes.length, 0);
  });

  test("refuses BigInts outside a 64-bit signed int", () => {
    const { handle, batch } = twoSpans();
    assert.deepEqual(sent(2n ** 63n - 1n), { tag: "int", val: 2n ** 63n - 1n });
    assert.throws(() => batch.setAttribute("k", 2n ** 63n), (e) => e === `attribute value ${2n ** 63n}n does not fit a 64-bit signed int`);
    assert.throws(() => batch.setAttribute("k", -(2n ** 63n) - 1n), (e) => typeof e === "string" && e.includes("does not fit"));
    assert.throws(() => batch.setAttribute("k", [2n ** 64n]), (e) => typeof e === "string" && e.includes("does not fit"));
    assert.equal(handle.writes.length, 0);
  });

  test("numbers past 2^53 stay doubles: they are already rounded", () => {
    assert.deepEqual(sent(2 ** 53 - 1), { tag: "int", val: 2n ** 53n - 1n });
    assert.deepEqual(sent(2 ** 53), { tag: "double", val: 2 ** 53 });
    assert.deepEqual(sent(1e20), { tag: "double", val: 1e20 });
    assert.deepEqual(sent(-1e300), { tag: "double", val: -1e300 });
    assert.deepEqual(sent(Infinity), { tag: "double", val: Infinity });
  });

  test("packs owners as little-endian u32s", () => {
    const { handle, batch } = twoSpans();
    batch.setAttribute("a", "x");
    batch.setAttribute("b", "y", { owners: [1, 0] });
    batch.setAttribute("c", "z", { level: RESOURCE, owners: [0] });
    batch.removeAttribute("d");
    batch.removeAttribute("e", { owners: [1] });
    batch.removeAttribute("f", { level: RESOURCE });
    assert.deepEqual(handle.writes, [
      { op: "set", level: "item", key: "a", value: { tag: "str", val: "x" }, owners: undefined },
      { op: "set", level: "item", key: "b", value: { tag: "str", val: "y" }, owners: [1, 0] },
      { op: "set", level: "resource", key: "c", value: { tag: "str", val: "z" }, owners: [0] },
      { op: "remove", level: "item", key: "d", owners: undefined },
      { op: "remove", level: "item", key: "e", owners: [1] },
      { op: "remove", level: "resource", key: "f", owners: undefined },
    ]);
  });

  test("drop() sends the packed indices", () => {
    const handle = new FakeBatch({ items: Array.from({ length: 300 }, () => ({})) });
    let packed;
    handle.dropItems = (p) => { packed = p; };
    new Batch(handle).drop([258, 0]);
    assert.deepEqual(packed, bytes(2, 1, 0, 0, 0, 0, 0, 0));
    assert.deepEqual(packed, packU32([258, 0]));
  });

  test("drop() takes Items as well as indices", () => {
    const { handle, batch } = twoSpans();
    batch.drop([...batch.items()].filter((item) => item.name === "SELECT"));
    handle.commit();
    assert.deepEqual([...handle.dropped], [1]);
  });

  test("owners that are not indices are refused, not packed as item 0", () => {
    const { handle, batch } = twoSpans();
    for (const bad of [["1"], [-1], [1.5], [NaN], [null], [{ index: 1n }], [2 ** 32]]) {
      assert.throws(() => batch.drop(bad), (e) => typeof e === "string" && e.startsWith("drop: ") && e.endsWith(" is not an item index or an Item"), `drop(${bad})`);
      assert.throws(() => batch.setAttribute("k", 1, { owners: bad }), (e) => typeof e === "string" && e.startsWith("setAttribute(k): "));
      assert.throws(() => batch.removeAttribute("k", { owners: bad }), (e) => typeof e === "string" && e.startsWith("removeAttribute(k): "));
    }
    assert.throws(() => batch.drop([{ index: 1n }]), (e) => e === 'drop: {"index":"1n"} is not an item index or an Item');
    assert.throws(() => batch.drop(5), (e) => e === "drop: expected an array of indices or Items, got 5");
    assert.throws(() => batch.drop(null), (e) => e === "drop: expected an array of indices or Items, got null");
    handle.commit();
    assert.deepEqual([...handle.dropped], []);
    assert.equal(handle.writes.length, 0);
  });

  test("writes apply on commit: set replaces in place, drop removes", () => {
    const { handle, batch } = twoSpans();
    batch.setAttribute("card", "****", { owners: [0] });
    batch.setAttribute("team", "payments");
    batch.removeAttribute("team", { owners: [1] });
    batch.drop([1]);
    assert.equal(batch.attribute("card").get(0), "4111", "reads see the batch as it was");
    handle.commit();
    assert.deepEqual([...handle.items[0].attributes.keys()], ["card", "team"]);
    assert.deepEqual(handle.items[0].attributes.get("card"), { tag: "str", val: "****" });
    assert.equal(handle.items[1].attributes.size, 0);
    assert.deepEqual([...handle.dropped], [1]);
  });

  test("the host refuses owners out of range", () => {
    const { batch } = twoSpans();
    assert.throws(() => batch.setAttribute("k", 1, { owners: [2] }),
      (e) => e === "set-attribute: index 2 is out of range (the batch has 2 spans)");
  });
});

describe("Batch.find", () => {
  test("returns the items Weir finds a pattern in, as indices", () => {
    const handle = new FakeBatch({
      items: [
        { text: { name: "GET /a" } },
        { text: { name: "mail ada@example.com" } },
        { attributes: { to: { tag: "str", val: "bob@example.org" } } },
      ],
    });
    const batch = new Batch(handle);
    assert.deepEqual(batch.find(["[a-z]+@example\\.(com|org)"]), { items: [1, 2], shared: false });
    assert.deepEqual(batch.find(["nothing"]), { items: [], shared: false });
    assert.deepEqual(handle.reads.slice(-1), ["find:nothing:false"]);
    batch.find(["x"], { cards: true });
    assert.deepEqual(handle.reads.slice(-1), ["find:x:true"]);
  });

  test("a refused pattern is thrown as Weir's message; a non-array is refused first", () => {
    const batch = new Batch(new FakeBatch({ items: [{}] }));
    assert.throws(() => batch.find(["ok", "^anchored"]), (e) => typeof e === "string" && e.startsWith("patterns[1]: "));
    assert.throws(() => batch.find("one"), (e) => typeof e === "string" && e.startsWith("find: expected an array"));
  });
});

describe("Item", () => {
  test("reads its row and writes to itself only", () => {
    const { handle, batch } = twoSpans();
    const items = [...batch.items()];
    assert.equal(items.length, 2);
    assert.ok(items[1] instanceof Item);
    assert.equal(items[1].index, 1);
    assert.equal(items[1].batch, batch);
    assert.equal(items[0].name, "GET /cart");
    assert.equal(items[1].name, "SELECT");
    assert.equal(items[0].attribute("card"), "4111");
    assert.equal(items[1].attribute("card"), undefined);
    assert.equal(items[0].statusCode, 2);
    assert.equal(items[1].statusCode, 0);
    items[1].setAttribute("n", 3);
    items[0].removeAttribute("card");
    assert.deepEqual(handle.writes, [
      { op: "set", level: "item", key: "n", value: { tag: "int", val: 3n }, owners: [1] },
      { op: "remove", level: "item", key: "card", owners: [0] },
    ]);
  });
});

describe("processor()", () => {
  test("init parses the config; process gets a Batch; signals default to all three", () => {
    let seen;
    class P {
      constructor(config) { this.config = config; }
      process(batch) { seen = { config: this.config, batch }; batch.setAttribute("team", this.config.team); }
    }
    const plugin = processor(P);
    assert.equal(plugin.init('{"team": "payments", "n": [1]}'), undefined);
    assert.deepEqual(plugin.signals(), ["traces", "metrics", "logs"]);
    const { handle } = twoSpans();
    assert.equal(plugin.process(handle), undefined);
    assert.deepEqual(seen.config, { team: "payments", n: [1] });
    assert.ok(seen.batch instanceof Batch);
    assert.equal(seen.batch.handle, handle);
    assert.deepEqual(handle.writes.map((w) => w.value), [{ tag: "str", val: "payments" }]);
  });

  test("signals can be set on the instance", () => {
    const plugin = processor(class { constructor() { this.signals = ["logs"]; } });
    plugin.init("{}");
    assert.deepEqual(plugin.signals(), ["logs"]);
  });

  test("signals can be a method of the class", () => {
    const plugin = processor(class { signals() { return ["metrics"]; } });
    plugin.init("{}");
    assert.deepEqual(plugin.signals(), ["metrics"]);
  });

  test("a throwing constructor rejects the config with its message", () => {
    const throwing = (e) => processor(class { constructor() { throw e; } });
    assert.throws(() => throwing(new Error("team: must be a string")).init("{}"), (e) => e === "Error: team: must be a string");
    assert.throws(() => throwing(new TypeError("bad")).init("{}"), (e) => e === "TypeError: bad");
    assert.throws(() => throwing("team: required").init("{}"), (e) => e === "team: required");
    assert.throws(() => throwing(42).init("{}"), (e) => e === "42");
  });

  test("config that is not JSON is rejected as a SyntaxError", () => {
    const plugin = processor(class {});
    assert.throws(() => plugin.init("{team"), (e) => typeof e === "string" && e.startsWith("SyntaxError: "));
  });

  test("an error thrown by process becomes the call's message", () => {
    const plugin = processor(class {
      process(batch) { batch.setAttribute("x", "y"); throw new RangeError("no"); }
    });
    plugin.init("{}");
    const { handle } = twoSpans();
    assert.throws(
      () => plugin.process(handle),
      (e) => typeof e === "string" && /^RangeError: no \(at sdk\.test\.mjs:\d+:\d+\)$/.test(e),
    );
    // The write already reached the host, which drops it because the call failed.
    assert.equal(handle.writes.length, 1);
    const strings = processor(class { process() { throw "status: bad"; } });
    strings.init("{}");
    assert.throws(() => strings.process(handle), (e) => e === "status: bad");
  });
});

describe("policy()", () => {
  const evaluating = (result) => {
    const plugin = policy(class { evaluate() { return typeof result === "function" ? result() : result; } });
    plugin.init("{}");
    return plugin.evaluate(twoSpans().handle);
  };

  test("verdicts map to the sampler world's decisions", () => {
    assert.deepEqual(keep("vip"), { decision: "sample", reason: "vip" });
    assert.deepEqual(drop(), { decision: "drop", reason: "" });
    assert.deepEqual(NO_OPINION, { decision: "no-opinion", reason: "" });
    assert.ok(Object.isFrozen(NO_OPINION));
    assert.deepEqual(evaluating(keep("customer.tier=vip")), { decision: "sample", reason: "customer.tier=vip" });
    assert.deepEqual(evaluating(keep()), { decision: "sample", reason: "" });
    assert.deepEqual(evaluating(drop("spam")), { decision: "drop", reason: "spam" });
    assert.deepEqual(evaluating(NO_OPINION), { decision: "no-opinion", reason: "" });
    assert.deepEqual(evaluating({ decision: "drop", reason: 5 }), { decision: "drop", reason: "5" });
    assert.deepEqual(evaluating({ decision: "sample" }), { decision: "sample", reason: "" });
  });

  test("evaluate gets the config and a Batch of the trace", () => {
    let seen;
    const plugin = policy(class {
      constructor(config) { this.tiers = config.tiers; }
      evaluate(trace) { seen = trace; return keep(this.tiers[0]); }
    });
    plugin.init('{"tiers": ["gold"]}');
    assert.deepEqual(plugin.evaluate(twoSpans().handle), { decision: "sample", reason: "gold" });
    assert.ok(seen instanceof Batch);
  });

  test("a return value that is not a verdict is rejected", () => {
    const hint = ": return keep(...), drop(...) or NO_OPINION";
    assert.throws(() => evaluating(undefined), (e) => e === `evaluate returned undefined${hint}`);
    assert.throws(() => evaluating(null), (e) => e === `evaluate returned null${hint}`);
    assert.throws(() => evaluating({ decision: "keep", reason: "x" }),
      (e) => e === `evaluate returned {"decision":"keep","reason":"x"}${hint}`);
    assert.throws(() => evaluating(["sample", ""]), (e) => e === `evaluate returned ["sample",""]${hint}`);
    assert.throws(() => evaluating({ decision: 1n }), (e) => e === `evaluate returned {"decision":"1n"}${hint}`);
    const circular = { decision: "maybe" };
    circular.self = circular;
    assert.throws(() => evaluating(circular), (e) => e === `evaluate returned [object Object]${hint}`);
  });

  test("errors from the constructor and from evaluate become messages", () => {
    const bad = policy(class { constructor() { throw new Error("values: list at least one value"); } });
    assert.throws(() => bad.init("{}"), (e) => e === "Error: values: list at least one value");
    assert.throws(
      () => evaluating(() => { throw new Error("boom"); }),
      (e) => typeof e === "string" && /^Error: boom \(at sdk\.test\.mjs:\d+:\d+\)$/.test(e),
    );
    assert.throws(() => evaluating(() => { throw "boom"; }), (e) => e === "boom");
  });
});

describe("host imports", () => {
  beforeEach(reset);

  test("log() reaches the host's log with a string message", () => {
    log("info", "hello");
    log("warn", 42);
    assert.deepEqual(calls.logs, [["info", "hello"], ["warn", "42"]]);
  });

  test("counterAdd() passes a BigInt delta, 1 by default", () => {
    counterAdd("masked", "user.email");
    counterAdd("masked", "card", 3);
    counterAdd("bytes", "in", 2n ** 40n);
    assert.deepEqual(calls.counters, [["masked", "user.email", 1n], ["masked", "card", 3n], ["bytes", "in", 2n ** 40n]]);
  });

  test("counterAdd() refuses deltas a u64 counter cannot take", () => {
    assert.throws(() => counterAdd("c", "l", -1), (e) => e === "counterAdd(c): delta must be between 0 and 2^64-1, got -1");
    assert.throws(() => counterAdd("c", "l", 2n ** 64n), (e) => typeof e === "string" && e.includes("between 0 and 2^64-1"));
    assert.throws(() => counterAdd("c", "l", 1.5), (e) => e === "counterAdd(c): delta must be a whole number (a safe integer or a BigInt), got 1.5");
    assert.throws(() => counterAdd("c", "l", NaN), (e) => typeof e === "string" && e.includes("whole number"));
    assert.throws(() => counterAdd("c", "l", "3"), (e) => e === "counterAdd(c): delta must be a number or a BigInt, got string");
    assert.deepEqual(calls.counters, []);
    counterAdd("c", "l", 2n ** 64n - 1n);
    assert.deepEqual(calls.counters, [["c", "l", 2n ** 64n - 1n]]);
  });
});

describe("where()", () => {
  test("names the innermost frame outside the SDK, in V8's and SpiderMonkey's stack formats", () => {
    const v8 = new Error("x");
    v8.stack = "Error: x\n    at lookup (file:///p/weir-plugin.js:3:1)\n    at process (file:///p/app.js:14:11)\n    at run (file:///p/app.js:30:2)";
    assert.equal(where(v8), "app.js:14:11");
    const sm = new Error("x");
    sm.stack = "lookup@weir-plugin.js:3:1\nprocess@app.js:14:11\n";
    assert.equal(where(sm), "app.js:14:11");
    assert.equal(where("a string"), "");
  });
});
