// The JavaScript example plugins (examples/plugins/js-*/app.js) on the fixtures every language
// shares (examples/plugins/fixtures/), compared exactly with the expected output, as
// `weir plugin test --expect` does with the built components (tests/plugin_languages.rs).
// The apps import "./weir-plugin.js" (a symlink to the SDK here, a copy in `weir plugin new`
// projects) and `weir:plugin/...`, which the hooks in plugins/js/testing/ resolve.

import { describe, test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { run, evaluate } from "../testing/otlp.mjs";
import { calls, reset } from "../testing/fake-host.mjs";

const EXAMPLES = new URL("../../../examples/plugins/", import.meta.url);
const text = (name) => readFileSync(new URL(`fixtures/${name}`, EXAMPLES), "utf8");
const fixture = (name) => JSON.parse(text(name));

const envMask = await import(new URL("js-processor/app.js", EXAMPLES));
const tierPolicy = await import(new URL("js-sampler/app.js", EXAMPLES));

describe("js-processor (env-mask)", () => {
  beforeEach(reset);

  test("gives the shared output", () => {
    const out = run(envMask, text("processor-config.json"), fixture("processor-in.json"));
    assert.deepEqual(out, fixture("processor-out.json"));
    assert.deepEqual(calls.counters, [["masked", "user.email", 1n]]);
  });

  test("handles every signal", () => {
    envMask.init(text("processor-config.json"));
    assert.deepEqual(envMask.signals(), ["traces", "metrics", "logs"]);
  });

  test("counts nothing when no item has user.email", () => {
    const doc = fixture("processor-in.json");
    const span = doc.resourceSpans[0].scopeSpans[0].spans[0];
    span.attributes = span.attributes.filter((kv) => kv.key !== "user.email");
    const out = run(envMask, '{"environment": "staging"}', doc);
    const spans = out.resourceSpans[0].scopeSpans[0].spans;
    assert.deepEqual(spans.map((s) => s.attributes.map((kv) => kv.key)),
      [["http.route", "deployment.environment"], ["deployment.environment"]]);
    assert.deepEqual(spans[1].attributes[0].value, { stringValue: "staging" });
    assert.deepEqual(calls.counters, []);
  });

  test("rejects bad config, naming the key", () => {
    assert.throws(() => envMask.init('{"environment": "x", "colour": "red"}'),
      (e) => e === "colour: unknown key (known: environment)");
    assert.throws(() => envMask.init("{}"), (e) => e === "environment: required, a non-empty string");
    assert.throws(() => envMask.init('{"environment": ""}'), (e) => e === "environment: required, a non-empty string");
  });
});

describe("js-sampler (tier-policy)", () => {
  test("gives the shared verdict", () => {
    const got = evaluate(tierPolicy, text("sampler-config.json"), fixture("sampler-in.json"));
    assert.deepEqual(got, fixture("sampler-out.json"));
  });

  test("keeps errors and has no opinion otherwise", () => {
    const trace = fixture("sampler-in.json");
    const span = trace.resourceSpans[0].scopeSpans[0].spans[0];
    span.attributes = [{ key: "customer.tier", value: { stringValue: "free" } }];
    const config = '{"values": ["enterprise"]}';
    assert.deepEqual(evaluate(tierPolicy, config, trace), { decision: "no-opinion", reason: "" });
    span.status = { code: 2 };
    assert.deepEqual(evaluate(tierPolicy, config, trace), { decision: "keep", reason: "error" });
  });

  test("rejects bad config, naming the key", () => {
    assert.throws(() => tierPolicy.init('{"values": []}'), (e) => e === "values: list at least one value");
    assert.throws(() => tierPolicy.init('{"values": [1]}'), (e) => e === "values: list at least one value");
    assert.throws(() => tierPolicy.init('{"value": ["a"]}'), (e) => e === "value: unknown key (known: values)");
  });
});
