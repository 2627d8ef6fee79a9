// Builds app.js into target/tier_policy.wasm: esbuild bundles app.js with weir-plugin.js into one ES
// module, then componentize-js (StarlingMonkey) turns it into a component of Weir's sampler world.
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { build } from "esbuild";
import { componentize } from "@bytecodealliance/componentize-js";

const out = "target/tier_policy.wasm";
const bundle = resolve("target/app.bundle.js");
await build({
  entryPoints: ["app.js"],
  outfile: bundle,
  bundle: true,
  format: "esm",
  platform: "neutral",
  external: ["weir:*"],
});
const { component } = await componentize({
  sourcePath: bundle,
  witPath: resolve("wit"),
  worldName: "sampler",
  // Weir grants no clocks, randomness, stdio or HTTP: leave them out so the component imports
  // only Weir's interfaces.
  disableFeatures: ["random", "stdio", "clocks", "http", "fetch-event"],
});
await writeFile(out, component);
console.log(`built ${out} (${component.length} bytes)`);
