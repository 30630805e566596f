// Measures the Breez SDK's WebAssembly build (@breeztech/breez-sdk-spark) against Cloudflare
// Workers' limits, offline. Run through scripts/measure_spark_wasm.sh, which installs the pinned
// package into a temporary folder and passes it here:
//
//   node measure_spark_wasm.mjs <node_modules dir> [expected identity pubkey] [wasm-opt output]
//
// 1. sizes: the .wasm and the JS glue of each target, raw and gzip (level 6 = zlib's default,
//    level 9), the wasm's sections, and the wasm without its custom sections (names, producers);
// 2. Node: compile, instantiate (the glue's own start-up), then an offline wallet: server config,
//    SdkBuilder with a JS Storage held in memory (what a Worker would back with its sealed state),
//    getInfo, a Spark address, parse, listPayments, disconnect; which Storage methods were called;
// 3. workerd (miniflare, when it resolves): the "web" glue with the wasm imported as a compiled
//    module, exactly as a Worker bundle would load it, running the same offline calls.
// A benchmark, not a test: it prints figures and exits 0 unless something failed to load.

import { createRequire } from "node:module";
import { readFileSync, readdirSync, statSync, writeFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { gzipSync, constants } from "node:zlib";
import { performance } from "node:perf_hooks";

const modules = process.argv[2];
const expectedIdentity = process.argv[3] || "";
const optimizedPath = process.argv[4] || "";
const PKG = join(modules, "@breeztech", "breez-sdk-spark");
const MNEMONIC =
  "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const MB = 1_000_000;
const FREE_GZ = 3 * 1024 * 1024; // Workers Free: 3 MB compressed (MiB, as wrangler counts)
const PAID_GZ = 10 * 1024 * 1024; // Workers Paid: 10 MB compressed
const RAW_MAX = 64 * 1024 * 1024; // 64 MB uncompressed

const gz = (buf, level) => gzipSync(buf, { level }).length;
const mb = (n) => `${(n / MB).toFixed(2)} MB`;
const mib = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`;
const ms = (t) => `${t.toFixed(1)} ms`;
const line = (label, value) => console.log(`  ${label.padEnd(44)} ${value}`);

function sizes() {
  const version = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8")).version;
  console.log(`@breeztech/breez-sdk-spark ${version}  (${PKG})`);
  console.log("\n== sizes (bytes; MB = 10^6, MiB = 2^20) ==");
  for (const target of ["web", "bundler", "nodejs", "deno"]) {
    const dir = join(PKG, target);
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (!statSync(path).isFile() || !/\.(wasm|js)$/.test(name)) continue;
      const buf = readFileSync(path);
      line(`${target}/${name}`, `${buf.length} raw, ${gz(buf, 6)} gzip-6, ${gz(buf, 9)} gzip-9`);
    }
  }
  const wasm = readFileSync(join(PKG, "web", "breez_sdk_spark_wasm_bg.wasm"));
  const glue = readFileSync(join(PKG, "web", "breez_sdk_spark_wasm.js"));
  const sections = wasmSections(wasm);
  console.log("\n== wasm sections ==");
  for (const s of sections) line(s.name, `${s.size}`);
  const stripped = stripCustom(wasm, sections);
  const optimized = optimizedPath ? readFileSync(optimizedPath) : null;
  const bundle = [
    ["published wasm + web glue", wasm, glue],
    ["custom sections dropped + web glue", stripped, glue],
  ];
  if (optimized) bundle.push(["wasm-opt -Oz output + web glue", optimized, glue]);
  console.log("\n== a Worker bundle's SDK part vs Cloudflare's size limits ==");
  console.log("  (64 MiB uncompressed on every plan since 2026-09-04; before: gzip <= 3 MiB Free, 10 MiB Paid)");
  for (const [label, w, g] of bundle) {
    const raw = w.length + g.length;
    const packed = gz(w, 6) + gz(g, 6);
    const old = packed <= FREE_GZ ? "fits Free" : packed <= PAID_GZ ? "over Free, fits Paid" : "over Paid";
    line(label, `${mb(raw)} raw (${raw <= RAW_MAX ? "fits 64 MiB" : "OVER 64 MiB"}), ${mib(packed)} gzip-6 (old limits: ${old})`);
  }
  return { wasm, stripped, optimized };
}

function wasmSections(buf) {
  const names = ["custom", "type", "import", "function", "table", "memory", "global", "export",
    "start", "element", "code", "data", "datacount", "tag"];
  const out = [];
  let off = 8;
  const leb = () => {
    let r = 0, s = 0, b;
    do { b = buf[off++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80);
    return r;
  };
  while (off < buf.length) {
    const start = off;
    const id = buf[off++];
    const size = leb();
    const body = off;
    let name = names[id] ?? String(id);
    if (id === 0) { const n = leb(); name = `custom:${buf.subarray(off, off + n).toString()}`; }
    out.push({ id, name, size, start, end: body + size });
    off = body + size;
  }
  return out;
}

function stripCustom(buf, sections) {
  const parts = [buf.subarray(0, 8)];
  for (const s of sections) if (s.id !== 0) parts.push(buf.subarray(s.start, s.end));
  return Buffer.concat(parts);
}

// A JS Storage (the SDK's `Storage` interface) in a Map: what a Worker would load from and
// save into the sealed state. Only what an offline build and these calls need is real.
function memoryStorage(calls) {
  const items = new Map();
  const impl = {
    getCachedItem: async (k) => (items.has(k) ? items.get(k) : null),
    setCachedItem: async (k, v) => { items.set(k, v); },
    deleteCachedItem: async (k) => { items.delete(k); },
    listPayments: async () => [],
    listDeposits: async () => [],
    listContacts: async () => [],
    listActiveCrossChainSwaps: async () => [],
    getPaymentsByParentIds: async () => ({}),
    syncGetPendingOutgoingChanges: async () => [],
    syncGetIncomingRecords: async () => [],
    syncGetLastRevision: async () => 0,
    syncGetLatestOutgoingChange: async () => null,
  };
  return new Proxy({}, {
    get(_, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      return async (...args) => {
        calls.add(name);
        if (impl[name]) return impl[name](...args);
        throw new Error(`memory storage: ${name} is not implemented in this benchmark`);
      };
    },
  });
}

// The same offline calls in Node and in workerd (this source is also sent to workerd).
async function offlineWallet(sdk, mnemonic, storage, now) {
  const t = {};
  let m = now();
  const config = sdk.defaultServerConfig("regtest");
  t.config = now() - m;
  m = now();
  const client = await sdk.SdkBuilder.new(config, { type: "mnemonic", mnemonic })
    .withStorage(storage)
    .build();
  t.build = now() - m;
  m = now();
  const info = await client.getInfo({ ensureSynced: false });
  t.getInfo = now() - m;
  m = now();
  const address = await client.receivePayment({ paymentMethod: { type: "sparkAddress" } });
  t.sparkAddress = now() - m;
  m = now();
  const parsed = await client.parse(address.paymentRequest);
  t.parse = now() - m;
  m = now();
  const listed = await client.listPayments({});
  t.listPayments = now() - m;
  m = now();
  await client.disconnect();
  t.disconnect = now() - m;
  return {
    timings: t,
    backgroundTasksEnabled: config.backgroundTasksEnabled,
    identity: info.identityPubkey,
    balanceSats: Number(info.balanceSats),
    address: address.paymentRequest,
    parsedType: parsed.type,
    parsedIdentity: parsed.identityPublicKey,
    payments: listed.payments.length,
  };
}

async function inNode(wasmBytes) {
  console.log(`\n== Node ${process.version} (V8 ${process.versions.v8}), offline ==`);
  let m = performance.now();
  const compiled = new WebAssembly.Module(wasmBytes);
  line("new WebAssembly.Module (compile only)", ms(performance.now() - m));
  void compiled;
  const rss0 = process.memoryUsage().rss;
  const require = createRequire(import.meta.url);
  m = performance.now();
  // the node glue: read the file, compile, instantiate, run the wasm start function
  const sdk = require(join(PKG, "nodejs", "breez_sdk_spark_wasm.js"));
  line("require(nodejs glue): read+compile+instantiate", ms(performance.now() - m));
  const calls = new Set();
  const result = await offlineWallet(sdk, MNEMONIC, memoryStorage(calls), () => performance.now());
  for (const [k, v] of Object.entries(result.timings)) line(k, ms(v));
  line("RSS growth (glue + one SDK)", mb(process.memoryUsage().rss - rss0));
  report(result, calls);
  return result;
}

function report(result, calls) {
  line("server config backgroundTasksEnabled", String(result.backgroundTasksEnabled));
  line("identity pubkey", result.identity);
  line("Spark address", result.address);
  line("parse(address)", `${result.parsedType}, identity ${result.parsedIdentity === result.identity ? "matches" : "DIFFERS"}`);
  line("balance / payments (empty storage)", `${result.balanceSats} sat / ${result.payments}`);
  if (calls) line("Storage methods the SDK called", [...calls].sort().join(" ") || "(none)");
  if (expectedIdentity) {
    const same = expectedIdentity === result.identity;
    line("same identity as the Python SDK (CPython)", same ? "yes" : `NO (python: ${expectedIdentity})`);
  }
}

async function inWorkerd(wasmBytes, label) {
  const require = createRequire(join(modules, "noop.js"));
  let Miniflare;
  try {
    ({ Miniflare } = require("miniflare"));
  } catch {
    console.log("\n== workerd: skipped (miniflare not installed) ==");
    return;
  }
  const version = JSON.parse(readFileSync(join(modules, "miniflare", "package.json"), "utf8")).version;
  console.log(`\n== workerd via miniflare ${version}, ${label}, offline ==`);
  const dir = mkdtempSync(join(tmpdir(), "spark-workerd-"));
  const glue = readFileSync(join(PKG, "web", "breez_sdk_spark_wasm.js"), "utf8");
  writeFileSync(join(dir, "glue.js"), glue);
  const worker = `
import * as sdk from "./glue.js";
import wasmModule from "./sdk.wasm";
${memoryStorage.toString()}
${offlineWallet.toString()}
let ready = false;
export default {
  async fetch(request) {
    const first = !ready;
    if (!ready) { sdk.initSync({ module: wasmModule }); ready = true; }
    const calls = new Set();
    const out = await offlineWallet(sdk, ${JSON.stringify(MNEMONIC)}, memoryStorage(calls), () => Date.now());
    return Response.json({ first, ...out, calls: [...calls] });
  },
};`;
  let m = performance.now();
  const mf = new Miniflare({
    compatibilityDate: "2026-07-01",
    compatibilityFlags: ["nodejs_compat"],
    modulesRoot: dir,
    modules: [
      { type: "ESModule", path: join(dir, "worker.js"), contents: worker },
      { type: "ESModule", path: join(dir, "glue.js"), contents: glue },
      { type: "CompiledWasm", path: join(dir, "sdk.wasm"), contents: wasmBytes },
    ],
  });
  try {
    await mf.ready;
    line("workerd started, script loaded (wall)", ms(performance.now() - m));
    for (const which of ["first request: initSync + SDK", "second request: warm isolate"]) {
      m = performance.now();
      const res = await mf.dispatchFetch("http://localhost/");
      const body = await res.json();
      line(`${which} (wall)`, `${ms(performance.now() - m)} (HTTP ${res.status})`);
      if (body.first) report(body, new Set(body.calls));
    }
  } finally {
    await mf.dispose();
  }
}

const { wasm, stripped, optimized } = sizes();
await inNode(wasm);
await inWorkerd(wasm, "published wasm");
await inWorkerd(stripped, "wasm without custom sections");
if (optimized) await inWorkerd(optimized, "wasm-opt -Oz output");
console.log("\n(timings inside workerd are not shown: its clock only moves on I/O; the wall times above include the local loopback round trip)");
