// Runs a JavaScript plugin's exports on an OTLP/JSON traces fixture, like `weir plugin test`
// does with the built component: `run(module, configJson, fixture)` returns the batch afterwards
// as the host prints it (engine/core/src/json.rs: every field present, ids in hex, 64-bit times
// and ints as strings), `evaluate(module, configJson, fixture)` the verdict as it prints it.
// Only traces are modelled, and only what the fixtures in examples/plugins/fixtures/ carry (no
// span events or links); anything else throws rather than being guessed.

import { FakeBatch } from "./fake-batch.mjs";

/** An OTLP/JSON AnyValue as the `any-value` variant (undefined for an empty value). */
export function fromJsonValue(v) {
  if (v?.stringValue !== undefined) return { tag: "str", val: v.stringValue };
  if (v?.boolValue !== undefined) return { tag: "boolean", val: v.boolValue };
  if (v?.intValue !== undefined) return { tag: "int", val: BigInt(v.intValue) };
  if (v?.doubleValue !== undefined) return { tag: "double", val: Number(v.doubleValue) };
  if (v?.bytesValue !== undefined) return { tag: "bytes", val: new Uint8Array(Buffer.from(v.bytesValue, "base64")) };
  if (v?.arrayValue !== undefined || v?.kvlistValue !== undefined) return { tag: "json", val: JSON.stringify(v) };
  return undefined;
}

/** An `any-value` as the host prints it in OTLP/JSON. */
export function toJsonValue(a) {
  switch (a?.tag) {
    case undefined: return null;
    case "str": return { stringValue: a.val };
    case "boolean": return { boolValue: a.val };
    case "int": return { intValue: a.val.toString() };
    case "double": return { doubleValue: a.val };
    case "bytes": return { bytesValue: Buffer.from(a.val).toString("base64") };
    default: return JSON.parse(a.val);
  }
}

const attrMap = (kvs = []) => new Map(kvs.map((kv) => [kv.key, fromJsonValue(kv.value)]));
const kvs = (map) => [...map].map(([key, v]) => ({ key, value: toJsonValue(v) }));

/** A FakeBatch over an OTLP/JSON traces export request; `toOtlpJson(batch)` reads it back. */
export function fromOtlpJson(doc) {
  if (!doc.resourceSpans) throw new Error("the fake host models traces only (resourceSpans)");
  doc = structuredClone(doc);
  const items = [];
  const resources = doc.resourceSpans.map((r, ri) => {
    for (const s of r.scopeSpans ?? []) {
      for (const x of s.spans ?? []) {
        if (x.events?.length || x.links?.length) throw new Error("the fake host models no span events or links");
        items.push({
          resource: ri,
          span: x,
          text: { name: x.name, "status-message": x.status?.message, "trace-state": x.traceState, "scope-name": s.scope?.name },
          numbers: {
            "time-unix-nano": BigInt(x.startTimeUnixNano ?? 0),
            "end-time-unix-nano": BigInt(x.endTimeUnixNano ?? 0),
            kind: BigInt(x.kind ?? 0),
            "status-code": BigInt(x.status?.code ?? 0),
            flags: BigInt(x.flags ?? 0),
          },
          ids: { "trace-id": x.traceId, "span-id": x.spanId, "parent-span-id": x.parentSpanId },
          attributes: attrMap(x.attributes),
        });
      }
    }
    return { attributes: attrMap(r.resource?.attributes) };
  });
  const batch = new FakeBatch({ signal: "traces", items, resources });
  batch.doc = doc;
  return batch;
}

/** The committed batch as `weir plugin test` prints it; resources and scopes left empty go. */
export function toOtlpJson(batch) {
  const kept = new Map(batch.items.filter((_, i) => !batch.dropped.has(i)).map((x) => [x.span, x]));
  const span = (x, item) => ({
    attributes: kvs(item.attributes),
    droppedAttributesCount: x.droppedAttributesCount ?? 0,
    droppedEventsCount: x.droppedEventsCount ?? 0,
    droppedLinksCount: x.droppedLinksCount ?? 0,
    endTimeUnixNano: String(x.endTimeUnixNano ?? 0),
    events: [],
    flags: x.flags ?? 0,
    kind: x.kind ?? 0,
    links: [],
    name: x.name ?? "",
    parentSpanId: (x.parentSpanId ?? "").toLowerCase(),
    spanId: (x.spanId ?? "").toLowerCase(),
    startTimeUnixNano: String(x.startTimeUnixNano ?? 0),
    status: x.status ? { code: x.status.code ?? 0, message: x.status.message ?? "" } : null,
    traceId: (x.traceId ?? "").toLowerCase(),
    traceState: x.traceState ?? "",
  });
  const scope = (s) => ({
    attributes: s.attributes ?? [],
    droppedAttributesCount: s.droppedAttributesCount ?? 0,
    name: s.name ?? "",
    version: s.version ?? "",
  });
  const resourceSpans = batch.doc.resourceSpans.map((r, ri) => {
    const scopeSpans = (r.scopeSpans ?? []).map((s) => ({
      schemaUrl: s.schemaUrl ?? "",
      scope: s.scope ? scope(s.scope) : null,
      spans: (s.spans ?? []).filter((x) => kept.has(x)).map((x) => span(x, kept.get(x))),
      emptied: s.spans?.length > 0 && !s.spans.some((x) => kept.has(x)),
    }));
    const attributes = batch.resources[ri].attributes;
    return {
      resource: r.resource || attributes.size ? {
        attributes: kvs(attributes),
        droppedAttributesCount: r.resource?.droppedAttributesCount ?? 0,
        entityRefs: r.resource?.entityRefs ?? [],
      } : null,
      schemaUrl: r.schemaUrl ?? "",
      scopeSpans: scopeSpans.filter((s) => !s.emptied).map(({ emptied, ...s }) => s),
      emptied: scopeSpans.length > 0 && scopeSpans.every((s) => s.emptied),
    };
  });
  return { resourceSpans: resourceSpans.filter((r) => !r.emptied).map(({ emptied, ...r }) => r) };
}

/** Runs processor exports `{init, signals, process}` once; writes apply only if it returned. */
export function run(plugin, config, doc) {
  plugin.init(config);
  const batch = fromOtlpJson(doc);
  if (plugin.signals().includes(batch.signal())) {
    plugin.process(batch);
    batch.commit();
  }
  return toOtlpJson(batch);
}

const SHOWN = { sample: "keep", drop: "drop", "no-opinion": "no-opinion" };

/** Runs policy exports `{init, evaluate}` on one trace: `{decision: "keep" | ..., reason}`. */
export function evaluate(plugin, config, doc) {
  plugin.init(config);
  const batch = fromOtlpJson(doc);
  const v = plugin.evaluate(batch);
  if (batch.writes.length > 0) throw "the trace is read-only: a policy must not write to it";
  return { decision: SHOWN[v.decision], reason: v.reason };
}
