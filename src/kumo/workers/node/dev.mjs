// `kumo workers dev`: run a Worker in miniflare with its `ai` and `vectorize` bindings served by a kumo.
//
//   node dev.mjs --kumo http://127.0.0.1:8787 --account <id> [--config wrangler.jsonc] [--env <name>]
//                [--port 8788] [--host 127.0.0.1]          (API token, if kumo wants one: KUMO_API_TOKEN)
//
// The Worker's configuration is read by wrangler itself (unstable_getMiniflareWorkerOptions), its entry bundled
// by wrangler's esbuild, then run by miniflare; the binding session comes from kumo's preview API, as for
// `wrangler dev`, and miniflare reaches kumo over plain HTTP (remoteProxyConnectionString): no TLS, no DNS.
// wrangler and miniflare are taken from the Worker's own project when it has them, else from beside this file.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    kumo: { type: "string", default: "http://127.0.0.1:8787" },
    account: { type: "string" },
    config: { type: "string", default: "wrangler.jsonc" },
    env: { type: "string" },
    port: { type: "string", default: "8788" },
    host: { type: "string", default: "127.0.0.1" },
  },
});

function fail(message) {
  console.error(`kumo workers dev: ${message}`);
  process.exit(2);
}

const configPath = path.resolve(args.config);
if (!existsSync(configPath)) fail(`no Worker configuration at ${configPath}`);
if (!args.account) fail("--account is required");

function load(name) {
  for (const from of [path.dirname(configPath) + "/", import.meta.dirname + "/"]) {
    try {
      return createRequire(from)(name);
    } catch (error) {
      if (error.code !== "MODULE_NOT_FOUND") throw error;
    }
  }
  fail(`${name} is not installed: run \`npm install -D wrangler\` in the Worker's project`);
}

// wrangler's warnings here ("AI bindings ... may incur usage charges", "Vectorize ... not supported locally")
// describe Cloudflare, not this kumo
process.env.WRANGLER_LOG ??= "error";
const wrangler = load("wrangler");
const { Miniflare } = load("miniflare");
const esbuild = createRequire(createRequire(import.meta.dirname + "/").resolve("wrangler"))("esbuild");
const kumo = args.kumo.replace(/\/+$/, "");

// Any URL: only the bindings' presence matters here, their connection strings are set below.
const bindingsUrl = new URL(`${kumo}/workers/bindings`);
const { workerOptions, main, define } = wrangler.unstable_getMiniflareWorkerOptions(configPath, args.env, {
  remoteProxyConnectionString: bindingsUrl,
});
if (!main) fail(`${configPath} names no \`main\` entry`);
const workerName = wrangler.unstable_readConfig({ config: configPath, env: args.env }).name ?? "worker";

async function session() {
  const bindings = [];
  if (workerOptions.ai) bindings.push({ name: workerOptions.ai.binding, type: "ai" });
  for (const [name, { index_name }] of Object.entries(workerOptions.vectorize ?? {})) {
    bindings.push({ name, type: "vectorize", index_name });
  }
  const form = new FormData();
  form.set("metadata", new Blob([JSON.stringify({ main_module: "index.js", bindings })], { type: "application/json" }));
  const name = encodeURIComponent(workerName);
  const response = await fetch(`${kumo}/client/v4/accounts/${encodeURIComponent(args.account)}/workers/scripts/${name}/edge-preview`, {
    method: "POST",
    body: form,
    headers: { authorization: `Bearer ${process.env.KUMO_API_TOKEN || "kumo-dev"}` },
  }).catch((error) => fail(`kumo is not reachable at ${kumo}: ${error.cause?.message ?? error.message}`));
  const body = await response.json().catch(() => null);
  if (!response.ok || !body?.result?.preview_token) {
    fail(`kumo refused the Worker's bindings: ${body?.errors?.[0]?.message ?? response.status}`);
  }
  return new URL(`${kumo}/workers/bindings?token=${body.result.preview_token}`);
}

const connection = await session();
if (workerOptions.ai) workerOptions.ai.remoteProxyConnectionString = connection;
for (const binding of Object.values(workerOptions.vectorize ?? {})) binding.remoteProxyConnectionString = connection;

const outdir = mkdtempSync(path.join(tmpdir(), "kumo-worker-"));
await esbuild.build({
  entryPoints: [path.resolve(path.dirname(configPath), main)],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "neutral",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["cloudflare:*", "node:*"],
  define: define ?? {},
  outfile: path.join(outdir, "index.js"),
  logLevel: "warning",
});
delete workerOptions.modulesRules;

const mf = new Miniflare({
  ...workerOptions,
  modules: true,
  scriptPath: path.join(outdir, "index.js"),
  modulesRoot: outdir,
  host: args.host,
  port: Number(args.port),
});
const url = await mf.ready;
console.log(`kumo workers dev: ${workerName} ready on ${url.href} (AI and Vectorize served by ${kumo})`);

async function stop() {
  await mf.dispose().catch(() => {});
  rmSync(outdir, { recursive: true, force: true });
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
