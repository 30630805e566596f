// Offline Pyodide host for the signer core (issue #10 groundwork; not the Worker itself).
//
// Loads npm `pyodide` (the 314 line Cloudflare's Python Workers run) in Node from the
// package's own files, copies the repository's signer_core/ and the vendored wheels
// (.venv-pyodide/python_modules/ at the repository's root, installed by
// scripts/bootstrap.sh from requirements-pyodide.txt) into Pyodide's in-memory filesystem,
// and drives pyodide_spike_app.py. Any fetch to a non-loopback address is refused, so
// "offline" is enforced rather than assumed.
//
//   node pyodide_host.mjs smoke             one get_balance delivery; JSON on stdout
//   node pyodide_host.mjs bench [--runs N]  load/import/delivery timings; JSON on stdout
//   node --experimental-wasm-jspi pyodide_host.mjs jspi [--calls N]
//                                           can sync Python block on an async JS fetch?
//   node --experimental-wasm-jspi pyodide_host.mjs r2test
//                                           signer_core.stores.r2 on miniflare's R2 binding
//   node --experimental-wasm-jspi pyodide_host.mjs serve --port N --persist DIR [--admin]
//                                           worker.py's Default.fetch on 127.0.0.1:N, over
//                                           miniflare's R2 (STATE) and D1 (GUARD); settings
//                                           from NWC_ROOT_SECRET, NWC_WATCHER_PUBKEY,
//                                           NWC_WALLET_ID; --admin adds /__admin/ routes
//                                           (tests: the state object and the guard);
//                                           --cold: a fresh Pyodide for every request
//
// Use the Node 22 binary pinned in package.json (node_modules/.bin/node); stdout carries
// exactly one JSON document, everything else goes to stderr.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const blockedFetches = [];

function guardOffline() {
  if (globalThis.fetch.offlineGuard) return;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = new URL(typeof input === "string" ? input : input.url ?? String(input));
    if (!LOOPBACK.has(url.hostname)) {
      blockedFetches.push(url.href);
      return Promise.reject(new Error(`offline host: refused fetch of ${url.href}`));
    }
    return realFetch(input, init);
  };
  globalThis.fetch.offlineGuard = true;
}

// Copy a directory into Pyodide's MEMFS (as a Worker upload would bundle it); bytes copied.
function copyTree(py, src, dst, keep = () => true) {
  let bytes = 0;
  py.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (entry.name === "__pycache__") continue;
    const from = path.join(src, entry.name);
    const to = `${dst}/${entry.name}`;
    if (entry.isDirectory()) {
      bytes += copyTree(py, from, to, keep);
    } else if (keep(entry.name)) {
      const data = fs.readFileSync(from);
      py.FS.writeFile(to, data);
      bytes += data.length;
    }
  }
  return bytes;
}

const since = (t) => Math.round((performance.now() - t) * 100) / 100;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function start({ crypto = "pure", spikeApp = true } = {}) {
  guardOffline();
  const timings = {};
  let t = performance.now();
  const py = await loadPyodide({
    env: { NWC_CRYPTO: crypto, HOME: "/home/pyodide" },
    stdout: (line) => process.stderr.write(`[py] ${line}\n`),
    stderr: (line) => process.stderr.write(`[py] ${line}\n`),
  });
  timings.load_pyodide_ms = since(t);
  t = performance.now();
  const ourBytes = copyTree(py, path.join(repo, "signer_core"), "/app/signer_core", (n) =>
    n.endsWith(".py"),
  );
  for (const name of ["pyodide_spike_app.py", "pyodide_spike_io.py", "r2_check.py", "worker.py"]) {
    py.FS.writeFile(`/app/${name}`, fs.readFileSync(path.join(here, name)));
  }
  const vendored = path.join(repo, ".venv-pyodide", "python_modules");
  const wheelBytes = fs.existsSync(vendored) ? copyTree(py, vendored, "/app/python_modules") : 0;
  timings.copy_files_ms = since(t);
  py.runPython("import sys; sys.path[:0] = ['/app', '/app/python_modules']");
  t = performance.now();
  const app = spikeApp ? py.pyimport("pyodide_spike_app") : null;
  timings.import_spike_app_ms = since(t);
  return { py, app, timings, sizes: { signer_core_py_bytes: ourBytes, python_modules_bytes: wheelBytes } };
}

const toJs = (proxy) => {
  const value = proxy.toJs({ dict_converter: Object.fromEntries });
  proxy.destroy?.();
  return value;
};

async function smoke() {
  const { py, app, timings } = await start();
  const coincurve = app.coincurve_import_chain();
  if (coincurve) app.install_coincurve_stub();
  const setup = toJs(app.setup(1));
  const t = performance.now();
  const imported = toJs(app.first_delivery_imports());
  timings.first_delivery_ms = since(t);
  const reply = toJs(app.reply());
  return { pyodide: py.version, node: process.version, coincurve_import: coincurve, setup, imported, reply, timings };
}

// Two interpreters: one makes the wallet and signs the deliveries (as the CLI and an NWC
// app would, elsewhere), a fresh one answers them, so its first delivery is really cold
// (imports, lazy crypto tables).
async function bench(runs) {
  const maker = await start();
  let t = performance.now();
  maker.app.warm_crypto();
  const warmCryptoMs = since(t);
  if (maker.app.coincurve_import_chain()) maker.app.install_coincurve_stub();
  t = performance.now();
  const setup = toJs(maker.app.setup(runs + 1));
  const setupMs = since(t);
  const fixture = maker.app.export_fixture();

  const { py, app, timings, sizes } = await start();
  timings.load_pyodide_second_in_process_ms = timings.load_pyodide_ms;
  timings.load_pyodide_ms = maker.timings.load_pyodide_ms;  // the process's first: really cold
  t = performance.now();
  app.import_modules(["signer_core.pipeline"]);
  timings.import_pipeline_ms = since(t);
  const requestPath = toJs(py.runPython("import pyodide_spike_app as a; list(a.REQUEST_PATH_MODULES)"));
  t = performance.now();
  try {
    app.import_modules(requestPath);
  } catch (err) {
    // a Cashu module still imports coincurve: stub it (reported below) and time it again
    app.install_coincurve_stub();
    t = performance.now();
    app.import_modules(requestPath);
  }
  timings.import_request_path_ms = since(t);
  app.load_fixture(fixture);
  const cpu0 = process.cpuUsage();
  t = performance.now();
  const imported = toJs(app.first_delivery_imports());
  timings.first_delivery_cold_ms = since(t);
  const firstCpu = process.cpuUsage(cpu0);
  const first = toJs(app.reply(0));
  const warm = [];
  const cpu1 = process.cpuUsage();
  for (let i = 1; i <= runs; i++) {
    t = performance.now();
    app.deliver(i);
    warm.push(since(t));
  }
  const warmCpu = process.cpuUsage(cpu1);
  const last = toJs(app.reply(-1));
  timings.warm_delivery_median_ms = median(warm);
  timings.warm_delivery_min_ms = Math.min(...warm);
  timings.warm_delivery_max_ms = Math.max(...warm);
  timings.first_delivery_process_cpu_ms = (firstCpu.user + firstCpu.system) / 1000;
  timings.warm_delivery_process_cpu_mean_ms = (warmCpu.user + warmCpu.system) / 1000 / runs;
  timings.crypto_warm_incl_imports_ms = warmCryptoMs;  // in the first interpreter
  timings.setup_wallet_and_sign_deliveries_ms = setupMs;  // ditto, tables already built
  const coincurve = app.coincurve_import_chain();
  let pydantic;
  try {
    pydantic = toJs(app.pydantic_check());
  } catch (err) {
    pydantic = { error: lastLine(err) };
  }
  return {
    pyodide: py.version, node: process.version, runs, setup, imported_by_first_delivery: imported,
    first_reply: first, last_reply: last, coincurve_import: coincurve, pydantic, timings, sizes,
  };
}

// A loopback object store with compare-and-swap on an ETag (what R2's onlyIf gives a
// Worker), so the signer's StateStore can be backed by awaited JS fetch calls.
function startBlobServer() {
  let blob = null;
  let etag = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/ping") return res.end("pong");
      if (req.method === "GET") {
        if (blob === null) return res.writeHead(404).end();
        return res.writeHead(200, { etag: String(etag) }).end(blob);
      }
      if (req.method === "PUT") {
        const ifMatch = req.headers["if-match"];
        const ifNone = req.headers["if-none-match"];
        if ((ifNone === "*" && blob !== null) || (ifMatch !== undefined && ifMatch !== String(etag))) {
          return res.writeHead(412).end();
        }
        blob = Buffer.concat(chunks);
        etag += 1;
        return res.writeHead(200, { etag: String(etag) }).end();
      }
      res.writeHead(405).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` })),
  );
}

async function jspi(calls) {
  const { server, base } = await startBlobServer();
  try {
    const { py, app, timings } = await start();
    py.globals.set("BASE", base);
    const out = { pyodide: py.version, node: process.version, execArgv: process.execArgv, calls, timings };
    out.can_run_sync_in_runPython = py.runPython("from pyodide.ffi import can_run_sync; can_run_sync()");
    out.can_run_sync_in_runPythonAsync = await py.runPythonAsync("from pyodide.ffi import can_run_sync; can_run_sync()");
    if (app.coincurve_import_chain()) app.install_coincurve_stub();
    app.setup(3);
    const io = py.pyimport("pyodide_spike_io");
    // 1. sync Python, called from an async Python entry, blocks on JS fetch of the loopback
    try {
      out.sync_fetch_from_async_entry = toJs(await io.jspi_ping(`${base}/ping`));
    } catch (err) {
      out.sync_fetch_from_async_entry = { error: lastLine(err) };
    }
    // 2. the same sync code called straight from JS, without and with callPromising
    try {
      out.sync_fetch_from_plain_js_call = io.sync_get(`${base}/ping`);
    } catch (err) {
      out.sync_fetch_from_plain_js_call = { error: lastLine(err) };
    }
    try {
      out.sync_fetch_via_callPromising = await io.sync_get.callPromising(`${base}/ping`);
    } catch (err) {
      out.sync_fetch_via_callPromising = { error: lastLine(err) };
    }
    // 3. cost per call (the run_sync kinds only where stack switching works), and a whole
    //    get_balance delivery over a fetch-backed store
    const jspiWorks = out.sync_fetch_from_async_entry?.ok === true;
    out.overhead = {};
    for (const kind of toJs(py.runPython("import pyodide_spike_io as m; list(m.OVERHEAD_KINDS)"))) {
      if (kind.includes("run_sync") && !jspiWorks) continue;
      out.overhead[kind] = await perCall(calls, () => io.jspi_loop(kind, `${base}/ping`, calls), 1);
    }
    out.overhead.js_only_fetch = await perCall(calls, async () => (await fetch(`${base}/ping`)).text());
    out.overhead.js_only_await_resolved = await perCall(calls, () => Promise.resolve(1));
    out.overhead.js_calls_python_async_def = await perCall(calls, () => io.jspi_loop("none", "", 0));
    if (jspiWorks) out.delivery_over_fetch_store = toJs(await io.jspi_delivery(base));
    out.blocked_fetches = blockedFetches;
    return out;
  } finally {
    server.close();
  }
}

// Microseconds per call of an async function, wall clock and this process's CPU time.
// `rounds` calls of fn (default: one per call counted; a Python loop runs `calls` itself).
async function perCall(calls, fn, rounds = calls) {
  const cpu = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < rounds; i++) await fn();
  const wall = (performance.now() - t) / calls;
  const used = process.cpuUsage(cpu);
  const round = (x) => Math.round(x * 10) / 10;
  return { wall_us: round(wall * 1000), cpu_us: round((used.user + used.system) / calls) };
}

// miniflare's R2 (workerd, the runtime Workers run on; loopback only) persisted to a temp
// dir; its binding object goes into Pyodide as a Worker would hand it to Python. r2_check.py
// drives signer_core.stores.r2.R2Store over it; then writers race from one version.
async function r2test(racers) {
  const os = await import("node:os");
  const { Miniflare } = await import("miniflare");
  const persist = fs.mkdtempSync(path.join(os.tmpdir(), "nwc-r2-"));
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response('r2test') } }",
    r2Buckets: ["STATE"],
    r2Persist: persist,
  });
  try {
    const bucket = await mf.getR2Bucket("STATE");
    const { py, timings } = await start();
    const check = py.pyimport("r2_check");
    const out = { pyodide: py.version, node: process.version, miniflare: await miniflareVersion(), timings };
    out.cases = toJs(await check.run(bucket));
    const version = await check.racer_version.callPromising(bucket, "wallet/race");
    // the same binding, counting puts in flight: the race is real only if all overlap
    let inFlight = 0;
    out.race_max_puts_in_flight = 0;
    const counted = {
      put: async (...args) => {
        out.race_max_puts_in_flight = Math.max(out.race_max_puts_in_flight, ++inFlight);
        try {
          return await bucket.put(...args);
        } finally {
          inFlight--;
        }
      },
    };
    const settled = await Promise.allSettled(
      Array.from({ length: racers }, (_, i) => check.racer.callPromising(counted, "wallet/race", version, String(i))),
    );
    out.race = settled.map((s) => (s.status === "fulfilled" ? s.value : `rejected: ${lastLine(s.reason)}`));
    const final = await bucket.get("wallet/race");
    out.race_final_etag = final?.etag ?? null;
    out.race_final_body = final ? await final.text() : null;
    return out;
  } finally {
    await mf.dispose();
    fs.rmSync(persist, { recursive: true, force: true });
  }
}

// One Worker isolate, offline: miniflare's R2 and D1 as bindings, Pyodide loaded once,
// worker.py imported once, each HTTP request handed to Default.fetch (an async entry, so
// the synchronous core can block on the bindings and on fetch with run_sync).
// --cold: a fresh Pyodide (a new isolate: load, imports, crypto tables) for every request.
async function serve(port, persist, admin, cold) {
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response('serve') } }",
    r2Buckets: ["STATE"],
    r2Persist: path.join(persist, "r2"),
    d1Databases: ["GUARD"],
    d1Persist: path.join(persist, "d1"),
  });
  const bucket = await mf.getR2Bucket("STATE");
  const d1 = await mf.getD1Database("GUARD");
  const { py, timings } = await start({ spikeApp: false });
  const faults = { kind: null, injected: 0 };
  const env = {
    STATE: localR2(admin ? faultyBucket(bucket, faults) : bucket),
    GUARD: localD1(d1),
    ROOT_SECRET: process.env.NWC_ROOT_SECRET ?? "",
    WATCHER_PUBKEY: process.env.NWC_WATCHER_PUBKEY ?? "",
    WALLET_ID: process.env.NWC_WALLET_ID ?? "",
  };
  let t = performance.now();
  const warm = py.pyimport("worker").Default(null, env);
  timings.import_worker_ms = since(t);  // the Worker's top level: Cloudflare's start-up limit
  const isolate = async () => (cold ? (await start({ spikeApp: false })).py.pyimport("worker").Default(null, env) : warm);
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      try {
        const body = Buffer.concat(chunks);
        if (admin && req.url === "/__admin/stats") {
          const stats = { ...timings, rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20) };
          return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(stats));
        }
        if (admin && req.url.startsWith("/__admin/")) return await adminRoute(req, res, body, bucket, d1, faults);
        const cpu = process.cpuUsage();
        const t = performance.now();
        const init = { method: req.method, headers: req.headers };
        if (!["GET", "HEAD"].includes(req.method)) init.body = body;
        const worker = await isolate();
        const answer = await worker.fetch(new Request(`http://127.0.0.1${req.url}`, init));
        const headers = toJs(answer.headers);
        const out = answer.body.toJs();
        const status = answer.status;
        answer.destroy?.();
        const used = process.cpuUsage(cpu);
        headers["x-host-wall-ms"] = String(since(t));
        headers["x-host-cpu-ms"] = String((used.user + used.system) / 1000);
        res.writeHead(status, headers).end(Buffer.from(out));
      } catch (err) {
        process.stderr.write(`serve: ${lastLine(err)}\n`);
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"host failure"}');
      }
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  process.stdout.write(`${JSON.stringify({ listening: server.address().port, pyodide: py.version, timings })}\n`);
  const stop = async () => {
    server.close();
    await mf.dispose();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return new Promise(() => {});
}

// The R2 binding as the Worker sees it in workerd: a plain object whose results are plain
// objects. miniflare's Node proxies answer property probes (Pyodide inspects every JS object
// it is handed: then, iterators, constructor) with blocking round trips to workerd, which
// would be counted as the Worker's own CPU; here all of that happens inside the promise.
function localR2(bucket) {
  const later = (call) => Promise.resolve().then(call);
  const plain = async (obj) => {
    if (obj === null) return null;
    const out = { key: obj.key, etag: obj.etag, httpEtag: obj.httpEtag, size: obj.size };
    if (typeof obj.arrayBuffer === "function") {
      const bytes = await obj.arrayBuffer();
      out.arrayBuffer = async () => bytes;
    }
    return out;
  };
  return {
    get: (key, options) => later(async () => plain(await bucket.get(key, options))),
    put: (key, value, options) => later(async () => plain(await bucket.put(key, value, options))),
    head: (key) => later(async () => plain(await bucket.head(key))),
    delete: (key) => later(() => bucket.delete(key)),
  };
}

// D1's statement API as the Worker sees it in workerd: prepare() and bind() are local and
// only all()/run()/first() reach the database. miniflare's Node proxy answers even prepare()
// and bind() with a blocking round trip to workerd (~50 ms each here), which would be
// counted as the Worker's own CPU; this shim defers them into the awaited call.
function localD1(d1) {
  // each call's proxy work starts after the caller has begun waiting on the promise
  const later = (call) => Promise.resolve().then(call);
  const statement = (sql, params) => ({
    bind: (...values) => statement(sql, values),
    all: () => later(() => d1.prepare(sql).bind(...params).all()),
    run: () => later(() => d1.prepare(sql).bind(...params).run()),
    first: (column) => later(() => d1.prepare(sql).bind(...params).first(column)),
  });
  return { prepare: (sql) => statement(sql, []), exec: (query) => d1.exec(query) };
}

// Test-only (--admin): the Worker's R2 binding failing the way R2 fails, on demand
// (POST /__admin/faults {"kind": ...}): "conflict_once"/"conflict_always" make put() return
// null (R2's answer when onlyIf does not hold), "read_down"/"write_down" make get()/put()
// reject. The admin routes themselves use the real bucket.
function faultyBucket(bucket, faults) {
  const inject = (name, real) => async (...args) => {
    const k = faults.kind;
    if ((name === "get" && k === "read_down") || (name === "put" && k === "write_down")) {
      faults.injected++;
      throw new Error("injected outage");
    }
    if (name === "put" && (k === "conflict_always" || (k === "conflict_once" && faults.injected === 0))) {
      faults.injected++;
      return null;
    }
    return real.apply(bucket, args);
  };
  return new Proxy(bucket, {
    get(target, prop) {
      const real = target[prop];
      if (prop === "get" || prop === "put") return inject(prop, real);
      return typeof real === "function" ? real.bind(target) : real;
    },
  });
}

// Test-only (--admin): the state object and the guard, as the tests' wallet folder syncs them.
async function adminRoute(req, res, body, bucket, d1, faults) {
  if (req.url === "/__admin/faults") {
    if (req.method === "POST") Object.assign(faults, { kind: JSON.parse(body.toString() || "{}").kind ?? null, injected: 0 });
    return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(faults));
  }
  if (req.url === "/__admin/state" && req.method === "GET") {
    const obj = await bucket.get("wallet.sealed");
    if (obj === null) return res.writeHead(404).end();
    return res.writeHead(200, { etag: obj.etag }).end(Buffer.from(await obj.arrayBuffer()));
  }
  if (req.url === "/__admin/state" && req.method === "PUT") {
    const match = req.headers["if-match"];
    const onlyIf = match ? { etagMatches: match } : { etagDoesNotMatch: "*" };
    const obj = await bucket.put("wallet.sealed", new Uint8Array(body), { onlyIf });
    if (obj === null) return res.writeHead(412).end();
    return res.writeHead(200, { etag: obj.etag }).end();
  }
  const m = /^\/__admin\/guard\/(\d+)$/.exec(req.url);
  if (m && req.method === "POST") {
    await d1.exec("CREATE TABLE IF NOT EXISTS guard (id TEXT PRIMARY KEY, high_water INTEGER NOT NULL)");
    await d1
      .prepare("INSERT INTO guard (id, high_water) VALUES ('wallet', ?) ON CONFLICT(id) DO UPDATE SET high_water = MAX(high_water, excluded.high_water)")
      .bind(Number(m[1]))
      .run();
    return res.writeHead(204).end();
  }
  if (req.url === "/__admin/guard" && req.method === "GET") {
    const row = await d1.prepare("SELECT high_water FROM guard WHERE id = 'wallet'").first();
    return res.writeHead(200).end(String(row?.high_water ?? 0));
  }
  res.writeHead(404).end();
}

async function miniflareVersion() {
  const pkg = path.join(here, "node_modules", "miniflare", "package.json");
  return JSON.parse(fs.readFileSync(pkg, "utf8")).version;
}

const lastLine = (err) => String(err).trim().split("\n").slice(-1)[0];

async function main() {
  const [command = "smoke", ...rest] = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = rest.indexOf(name);
    return i >= 0 ? Number(rest[i + 1]) : fallback;
  };
  let result;
  if (command === "smoke") result = await smoke();
  else if (command === "bench") result = await bench(opt("--runs", 20));
  else if (command === "jspi") result = await jspi(opt("--calls", 200));
  else if (command === "r2test") result = await r2test(opt("--racers", 4));
  else if (command === "serve") {
    const i = rest.indexOf("--persist");
    if (i < 0) throw new Error("serve needs --persist DIR");
    return serve(opt("--port", 8787), rest[i + 1], rest.includes("--admin"), rest.includes("--cold"));
  }
  else throw new Error(`unknown command ${command}; use smoke, bench, jspi, r2test or serve`);
  result.blocked_fetches = blockedFetches;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`pyodide_host: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
