// tier-policy: a Weir tail-sampling policy in JavaScript. It keeps every trace in which a span
// has an error or the attribute `customer.tier` set to one of the configured values, and has no
// opinion otherwise.
//
// Config: {"values": ["enterprise"]}.

import { policy, keep, NO_OPINION } from "./weir-plugin.js";

const ERROR = 2; // OTLP status code

class TierPolicy {
  constructor(config) {
    const unknown = Object.keys(config).filter((k) => k !== "values").sort();
    if (unknown.length > 0) throw `${unknown[0]}: unknown key (known: values)`;
    const values = config.values;
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "string")) {
      throw "values: list at least one value";
    }
    this.values = new Set(values);
  }

  evaluate(trace) {
    const tiers = trace.attribute("customer.tier");
    for (const span of trace.items()) {
      if (span.statusCode === ERROR) return keep("error");
      const tier = tiers.get(span.index);
      if (typeof tier === "string" && this.values.has(tier)) return keep(`customer.tier=${tier}`);
    }
    return NO_OPINION;
  }
}

const plugin = policy(TierPolicy);
export const init = plugin.init;
export const evaluate = plugin.evaluate;
