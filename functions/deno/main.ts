// The signer on Deno (Deno Deploy): Deno.serve in front of the Python signer in Pyodide.
//
// Pyodide is loaded ONCE per instance, at start-up: the server listens at once (Deno Deploy
// waits for the HTTP server), and every request awaits the same start-up promise, so only
// the first request of an instance waits for it. The Python files are copied into Pyodide's
// in-memory FS from the deploy folder's layout, beside this file:
//
//   main.ts  deno.json  entry.py  signer_core/**/*.py  python_modules/**
//
// In the repository the same file runs from functions/deno/, taking ../../signer_core and
// ../../.venv-pyodide/python_modules (or --signer-core DIR / --python-modules DIR).
// Each request goes to entry.py's async handle(request, env); env holds the Deno.Kv (KV)
// and ROOT_SECRET, WATCHER_PUBKEY, WALLET_ID from Deno.env. JSPI (run_sync) is on by
// default in Deno 2.9's V8: no flag needed (Deno Deploy takes none).
//
//   deno run -A --cached-only main.ts [serve] [--hostname H] [--port N] [--kv PATH]
//       [--offline] [--admin] [--cold]
//     --kv PATH   a local KV file (default: Deno.openKv(), the app's database on Deploy)
//     --offline   refuse every fetch to a non-loopback address (tests, dev)
//     --admin     dev/test-only /__admin/ routes (state, guard) and x-host-* timing headers;
//                 refused unless --hostname is a loopback address
//     --cold      a fresh Pyodide for every request (a new instance each time)
//   deno run -A --cached-only main.ts kvtest [--racers N]
//     signer_core.stores.deno_kv against Deno.openKv(<temp file>); JSON on stdout
import process from "node:process";
import { loadPyodide, type PyodideInterface } from "pyodide";

const here = import.meta.dirname ?? ".";
const args = Deno.args;
const command = args[0] && !args[0].startsWith("--") ? args[0] : "serve";
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback?: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function pythonDirs() {
  const deployed = exists(`${here}/signer_core`);
  return {
    signerCore: option("--signer-core", deployed ? `${here}/signer_core` : `${here}/../../signer_core`)!,
    modules: option(
      "--python-modules",
      deployed ? `${here}/python_modules` : `${here}/../../.venv-pyodide/python_modules`,
    )!,
  };
}

function guardOffline() {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!LOOPBACK.has(url.hostname)) {
      return Promise.reject(new Error(`offline host: refused fetch of ${url.href}`));
    }
    return realFetch(input, init);
  };
}

// Copy a folder into Pyodide's MEMFS; bytes copied.
function copyTree(py: PyodideInterface, src: string, dst: string, keep: (n: string) => boolean): number {
  let bytes = 0;
  py.FS.mkdirTree(dst);
  for (const entry of Deno.readDirSync(src)) {
    if (entry.name === "__pycache__") continue;
    const from = `${src}/${entry.name}`;
    const to = `${dst}/${entry.name}`;
    if (entry.isDirectory) bytes += copyTree(py, from, to, keep);
    else if (keep(entry.name)) {
      const data = Deno.readFileSync(from);
      py.FS.writeFile(to, data);
      bytes += data.length;
    }
  }
  return bytes;
}

const since = (t: number) => Math.round((performance.now() - t) * 100) / 100;

// One instance's Python: Pyodide, the files, entry.py imported (its PRELOAD with it).
async function start(modules: string[]) {
  const timings: Record<string, number> = {};
  let t = performance.now();
  const py = await loadPyodide({
    env: { NWC_CRYPTO: "pure", HOME: "/home/pyodide" },
    stdout: (line: string) => console.error(`[py] ${line}`),
    stderr: (line: string) => console.error(`[py] ${line}`),
  });
  timings.load_pyodide_ms = since(t);
  t = performance.now();
  const dirs = pythonDirs();
  let bytes = copyTree(py, dirs.signerCore, "/app/signer_core", (n) => n.endsWith(".py"));
  for (const name of ["entry.py", "admin.py", "kv_check.py"]) {
    if (exists(`${here}/${name}`)) py.FS.writeFile(`/app/${name}`, Deno.readFileSync(`${here}/${name}`));
  }
  bytes += copyTree(py, dirs.modules, "/app/python_modules", () => true);
  timings.copy_files_ms = since(t);
  py.runPython("import sys; sys.path[:0] = ['/app', '/app/python_modules']");
  t = performance.now();
  const imported = modules.map((m) => py.pyimport(m));
  timings.import_entry_ms = since(t);
  return { py, imported, timings, bytes };
}

type Instance = Awaited<ReturnType<typeof start>>;

function answer(out: any, extra: Record<string, string> = {}): Response {
  const [status, headers, body] = out.toJs({ dict_converter: Object.fromEntries });
  out.destroy?.();
  const noBody = status === 204 || status === 304;
  return new Response(noBody ? null : body, { status, headers: { ...headers, ...extra } });
}

async function openKv(): Promise<Deno.Kv | null> {
  try {
    const path = option("--kv");
    return path ? await Deno.openKv(path) : await Deno.openKv();
  } catch (err) {
    console.error(`no Deno KV database: ${(err as Error)?.name ?? "error"}`);
    return null;
  }
}

async function serve() {
  const admin = flag("--admin");
  const cold = flag("--cold");
  const hostname = option("--hostname");
  const port = option("--port");
  if (admin && !LOOPBACK.has(hostname ?? "")) throw new Error("--admin needs a loopback --hostname");
  if (flag("--offline")) guardOffline();
  const began = performance.now();
  const modules = admin ? ["entry", "admin"] : ["entry"];
  const kv = await openKv();
  const faults: Faults = { kind: null, injected: 0 };
  const env = {
    KV: admin && kv ? faultyKv(kv, faults) : kv,
    ROOT_SECRET: Deno.env.get("ROOT_SECRET") ?? null,
    WATCHER_PUBKEY: Deno.env.get("WATCHER_PUBKEY") ?? null,
    WALLET_ID: Deno.env.get("WALLET_ID") ?? null,
  };
  const warm: Promise<Instance> = start(modules);
  warm.then(
    (i) => console.error(JSON.stringify({ ready_ms: since(began), ...i.timings, bytes: i.bytes })),
    (err) => console.error(`start-up failed: ${err}`),
  );
  const handler = async (req: Request): Promise<Response> => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    try {
      const instance = cold ? await start(modules) : await warm;
      const [entry, adminModule] = instance.imported;
      const path = new URL(req.url).pathname;
      let out;
      if (admin && path === "/__admin/faults") {
        if (req.method === "POST") Object.assign(faults, { kind: (await req.json()).kind ?? null, injected: 0 });
        return Response.json(faults);
      }
      if (admin && path.startsWith("/__admin/")) {
        const body = new Uint8Array(await req.arrayBuffer());
        out = await adminModule.admin(req.method, path, req.headers.get("if-match"), body, kv);
      } else {
        out = await entry.handle(req, env);
      }
      if (!admin) return answer(out);
      const used = process.cpuUsage(cpu);
      return answer(out, {
        "x-host-wall-ms": String(since(t)),
        "x-host-cpu-ms": String((used.user + used.system) / 1000),
      });
    } catch (err) {
      console.error(`deno host: ${String(err).trim().split("\n").slice(-1)[0]}`);
      return new Response('{"message":"internal error"}', {
        status: 500,
        headers: { "content-type": "application/json" },
      });
    }
  };
  const options: Deno.ServeTcpOptions = {
    onListen: ({ port }) => console.log(JSON.stringify({ listening: port })),
  };
  if (hostname) options.hostname = hostname;
  if (port) options.port = Number(port);
  Deno.serve(options, handler);
}

// Test-only (--admin): the entry's KV failing the way Deno KV fails, on demand (POST
// /__admin/faults {"kind": ...}), for the state only (keys ["nwc", "state", ...]; the guard
// is left alone): "conflict_once"/"conflict_always" make a checked commit resolve
// {ok: false} (a failed versionstamp check), "read_down"/"write_down" make get/getMany of
// the state or a checked commit reject. The admin routes use the real KV.
type Faults = { kind: string | null; injected: number };

function faultyKv(kv: Deno.Kv, faults: Faults): Deno.Kv {
  const isState = (key: Deno.KvKey) => key[0] === "nwc" && key[1] === "state";
  const down = () => {
    faults.injected++;
    return Promise.reject(new TypeError("injected outage"));
  };
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === "get") {
        return (key: Deno.KvKey, o?: any) => (faults.kind === "read_down" && isState(key) ? down() : target.get(key, o));
      }
      if (prop === "getMany") {
        return (keys: Deno.KvKey[], o?: any) =>
          faults.kind === "read_down" && keys.some(isState) ? down() : target.getMany(keys, o);
      }
      if (prop === "atomic") {
        return () => {
          const op = target.atomic();
          let checked = false;
          const check = op.check.bind(op);
          const commit = op.commit.bind(op);
          op.check = (...checks: Deno.AtomicCheck[]) => {
            checked ||= checks.some((c) => isState(c.key));
            return check(...checks);
          };
          op.commit = () => {
            const k = faults.kind;
            if (checked && k === "write_down") return down() as any;
            if (checked && (k === "conflict_always" || (k === "conflict_once" && faults.injected === 0))) {
              faults.injected++;
              return Promise.resolve({ ok: false });
            }
            return commit();
          };
          return op;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// signer_core.stores.deno_kv on a real KV (SQLite) in a temp folder, then racing writers.
async function kvtest() {
  guardOffline();
  const racers = Number(option("--racers", "4"));
  const dir = Deno.makeTempDirSync({ prefix: "nwc-kv-" });
  const kv = await Deno.openKv(`${dir}/kv.sqlite3`);
  try {
    const { py, imported: [check], timings } = await start(["kv_check", "signer_core.stores.deno_kv"]);
    const toJs = (p: any) => p.toJs({ dict_converter: Object.fromEntries });
    const out: Record<string, unknown> = { pyodide: py.version, deno: Deno.version, timings };
    out.cases = toJs(await check.run(kv));
    const version = await check.racer_version(kv);
    // the same database, counting commits in flight: the race is real only if they overlap.
    // Each commit waits at a barrier until every racer has reached its commit (or 10 s pass,
    // so a racer that failed earlier shows as fewer in flight instead of a hang): on a busy
    // machine the first racer could otherwise commit before the last one starts.
    let inFlight = 0;
    let most = 0;
    let arrived = 0;
    let release!: () => void;
    const allArrived = new Promise<void>((resolve) => (release = resolve));
    const counted = new Proxy(kv, {
      get(target, prop) {
        if (prop === "atomic") {
          return () => {
            const op = target.atomic();
            const commit = op.commit.bind(op);
            op.commit = async () => {
              most = Math.max(most, ++inFlight);
              if (++arrived === racers) release();
              let timer: number | undefined;
              const late = new Promise<void>((r) => (timer = setTimeout(r, 10_000)));
              await Promise.race([allArrived, late]);
              clearTimeout(timer);
              try {
                return await commit();
              } finally {
                inFlight--;
              }
            };
            return op;
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const settled = await Promise.allSettled(
      Array.from({ length: racers }, (_, i) => check.racer(counted, version, String(i))),
    );
    out.race = settled.map((s) => (s.status === "fulfilled" ? toJs(s.value) : `rejected: ${s.reason}`));
    out.race_max_commits_in_flight = most;
    out.race_final = toJs(await check.race_result(kv));
    console.log(JSON.stringify(out));
  } finally {
    kv.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) {
  if (command === "serve") await serve();
  else if (command === "kvtest") await kvtest();
  else {
    console.error(`unknown command ${command}; use serve or kvtest`);
    Deno.exit(2);
  }
}
