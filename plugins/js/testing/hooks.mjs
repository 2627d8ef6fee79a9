// Module customization hooks for the JavaScript SDK's tests (registered by register.mjs). They do
// for Node what esbuild + componentize-js do in a real build (examples/plugins/js-*/build.mjs):
// the `weir:plugin/log@0.1.2` and `weir:plugin/metrics@0.1.2` imports become the fake host
// (fake-host.mjs), and `weir-plugin.js`, which has no package.json saying it is an ES module
// (esbuild bundles it as one), is loaded as an ES module.

const FAKE_HOST = new URL("./fake-host.mjs", import.meta.url).href;
// The interfaces the SDK imports; wit/plugin.wit has the others only as the batch resource.
const INTERFACES = new Set(["weir:plugin/log@0.1.2", "weir:plugin/metrics@0.1.2"]);

export async function resolve(specifier, context, next) {
  if (specifier.startsWith("weir:")) {
    if (!INTERFACES.has(specifier)) {
      throw new Error(`${specifier}: not an interface the fake host provides (${[...INTERFACES].join(", ")})`);
    }
    return { url: FAKE_HOST, format: "module", shortCircuit: true };
  }
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith("file:") && resolved.url.endsWith("/weir-plugin.js")) {
    return { ...resolved, format: "module" };
  }
  return resolved;
}
