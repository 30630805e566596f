// An app that asks for its connection the way @getalby/sdk 8.0.3 apps do (NWAClient), driven
// by tests/test_e2e_walletauth.py:
//
//   node --experimental-websocket nwa_app.mjs <SDK dist/esm/nwc.js> '<NWAClient options JSON>'
//
// stdout, one JSON line each: {"uri"} (its nostr+walletauth:// request), then once the wallet
// has made the connection and published its info event: {"wallet_pubkey", "balance"}; then
// for each line on stdin {"method", "params"}: {"result"} or {"error"}. End of stdin ends it.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const [sdkPath, optionsJson] = process.argv.slice(2);
console.log = console.error;
const { NWAClient } = await import(pathToFileURL(sdkPath).href);
const nwa = new NWAClient(JSON.parse(optionsJson));
const connected = new Promise((resolve) => nwa.subscribe({ onSuccess: resolve }));
out({ uri: nwa.connectionUri });
const client = await connected;
out({ wallet_pubkey: client.walletPubkey, balance: (await client.getBalance()).balance });
const calls = {
  get_balance: (c) => c.getBalance(), get_budget: (c) => c.getBudget(),
  pay_invoice: (c, p) => c.payInvoice(p), make_invoice: (c, p) => c.makeInvoice(p),
};
for await (const line of createInterface({ input: process.stdin })) {
  const { method, params } = JSON.parse(line);
  try {
    out({ result: await calls[method](client, params) });
  } catch (e) {
    out({ error: { code: e.code, message: e.message } });
  }
}
client.close();
nwa.close();
process.exit(0);
