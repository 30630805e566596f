// An NWC app made of @getalby/sdk 8.0.3's NWCClient, driven by the tests (tests/clients/getalby.py).
//
//   node getalby_client.mjs <SDK_NWC_ESM> <nostr+walletconnect URI>
//
// stdin: one JSON call per line, {"method": "...", "params": {...}}; stdout: one JSON line per
// call, in order: {"method", "via", "result"} or {"method", "via", "error": {"code", "message",
// "kind"}}. `via` says how the SDK was asked: "wrapper" (the SDK's own method, e.g. payInvoice)
// or "executeNip47Request" (the SDK's generic request path, private in its TypeScript types,
// for methods 8.0.3 has no wrapper for: pay, receive, list_connections, revoke_connection).
// {"subscribe": [types]} subscribes to notifications (subscribeNotifications), answering
// {"subscribed": [...]}; {"notifications": true} answers {"notifications": [...]} with those
// received since the last ask; {"serviceInfo": true} answers {"serviceInfo": {encryptions,
// capabilities, notifications}} (getWalletServiceInfo: the 13194 info event as the SDK reads it). A line {"close": true}, or the end of stdin, ends the process.
//
// The SDK is loaded from the path given (the home page's pinned install,
// onboarding/static/home/node_modules/@getalby/sdk/dist/esm/nwc.js: one bundled ES module with
// nostr-tools inside) and its package.json must say 8.0.3. The SDK uses the global WebSocket:
// Node 22 has it; Node 20 needs --experimental-websocket (tests/clients/getalby.py passes it).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const WANT_VERSION = "8.0.3";

// The SDK's own wrappers, by NIP-47 method name. Anything else goes through
// executeNip47Request with a validator that accepts any result.
const WRAPPERS = {
  get_info: (c) => c.getInfo(),
  get_budget: (c) => c.getBudget(),
  get_balance: (c) => c.getBalance(),
  pay_invoice: (c, p) => c.payInvoice(p),
  pay_keysend: (c, p) => c.payKeysend(p),
  sign_message: (c, p) => c.signMessage(p),
  create_connection: (c, p) => c.createConnection(p),
  make_invoice: (c, p) => c.makeInvoice(p),
  make_hold_invoice: (c, p) => c.makeHoldInvoice(p),
  settle_hold_invoice: (c, p) => c.settleHoldInvoice(p),
  cancel_hold_invoice: (c, p) => c.cancelHoldInvoice(p),
  lookup_invoice: (c, p) => c.lookupInvoice(p),
  list_transactions: (c, p) => c.listTransactions(p),
};

function out(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

async function main() {
  const [sdkPath, uri] = process.argv.slice(2);
  if (!sdkPath || !uri) {
    throw new Error("usage: node getalby_client.mjs <path to @getalby/sdk dist/esm/nwc.js> <uri>");
  }
  if (typeof globalThis.WebSocket === "undefined") {
    throw new Error("no global WebSocket: use Node 22, or Node 20 with --experimental-websocket");
  }
  const pkg = JSON.parse(readFileSync(join(dirname(sdkPath), "..", "..", "package.json"), "utf8"));
  if (pkg.name !== "@getalby/sdk" || pkg.version !== WANT_VERSION) {
    throw new Error(`${sdkPath} is ${pkg.name} ${pkg.version}, not @getalby/sdk ${WANT_VERSION}`);
  }
  // the SDK logs failed requests with console.error; keep stdout for the answers only
  console.log = console.error;
  const { NWCClient } = await import(pathToFileURL(sdkPath).href);
  const client = new NWCClient({ nostrWalletConnectUrl: uri });
  out({ ready: true, sdk: `${pkg.name}@${pkg.version}`, node: process.version });
  const received = [];
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const text of lines) {
    if (!text.trim()) continue;
    const call = JSON.parse(text);
    if (call.close) break;
    if (call.subscribe) {
      // NWC-02 notifications through the SDK's subscribeNotifications, kept until asked for
      await client.subscribeNotifications((n) => received.push(n), call.subscribe);
      out({ subscribed: call.subscribe });
      continue;
    }
    if (call.serviceInfo) {
      // the 13194 info event as the SDK reads it (it picks its encryption from this)
      out({ serviceInfo: await client.getWalletServiceInfo() });
      continue;
    }
    if (call.notifications) {
      out({ notifications: received.splice(0) });
      continue;
    }
    const wrapper = WRAPPERS[call.method];
    const via = wrapper ? "wrapper" : "executeNip47Request";
    const params = call.params ?? {};
    try {
      const result = wrapper
        ? await wrapper(client, params)
        : await client.executeNip47Request(call.method, params, () => true);
      out({ method: call.method, via, result });
    } catch (error) {
      out({
        method: call.method,
        via,
        error: {
          code: error?.code ?? null,
          message: String(error?.message ?? error),
          kind: error?.constructor?.name ?? typeof error,
        },
      });
    }
  }
  client.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    out({ fatal: String(error?.message ?? error) });
    process.exit(2);
  },
);
