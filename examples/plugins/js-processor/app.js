// env-mask: a Weir processor in JavaScript. It tags every span, data point and log record with
// `deployment.environment` from its config, and masks the `user.email` attribute as `***`,
// counting the masked values in the plugin counter `masked{label="user.email"}`.
//
// Config: {"environment": "production"}.

import { processor, counterAdd } from "./weir-plugin.js";

class EnvMask {
  constructor(config) {
    const unknown = Object.keys(config).filter((k) => k !== "environment").sort();
    if (unknown.length > 0) {
      // Start errors with the key at fault: Weir points at its line in the config.
      throw `${unknown[0]}: unknown key (known: environment)`;
    }
    if (typeof config.environment !== "string" || config.environment === "") {
      throw "environment: required, a non-empty string";
    }
    this.environment = config.environment;
  }

  process(batch) {
    // One call each way: read the `user.email` column, then write the masked rows.
    const emails = batch.attribute("user.email");
    const owners = [];
    for (let i = 0; i < batch.length; i++) if (emails.has(i)) owners.push(i);
    batch.setAttribute("deployment.environment", this.environment);
    if (owners.length > 0) {
      batch.setAttribute("user.email", "***", { owners });
      counterAdd("masked", "user.email", owners.length);
    }
  }
}

const plugin = processor(EnvMask);
export const init = plugin.init;
export const signals = plugin.signals;
export const process = plugin.process;
