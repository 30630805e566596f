// Runs the home page's walletauth.js over tests/fixtures/walletauth_vectors.json and prints
// what it made of each vector (and its constants) as JSON; tests/test_walletauth.py compares.
import { readFileSync } from "node:fs";
import * as wa from "../onboarding/static/home/src/walletauth.js";

const vectors = JSON.parse(readFileSync(new URL("./fixtures/walletauth_vectors.json", import.meta.url), "utf8"));
const run = (uri) => {
  try {
    return { parsed: wa.parseRequest(uri, vectors.now) };
  } catch (e) {
    if (!(e instanceof wa.WalletAuthError)) return { crash: String(e) };
    return { error: e.kind, message: e.message };
  }
};
const returns = (vectors.return_urls || []).map((v) => {
  const req = wa.parseRequest(v.uri, vectors.now);
  return wa.returnUrl(req, { relays: v.relays, walletPubkey: v.wallet_pubkey, lud16: v.lud16 ?? null, uri: v.connection_uri });
});
const shared = (vectors.shared_relays || []).map((v) => wa.sharedRelays(v.app, v.wallet));
const constants = {
  KNOWN_METHODS: wa.KNOWN_METHODS, ADMIN_METHODS: wa.ADMIN_METHODS,
  KNOWN_NOTIFICATIONS: wa.KNOWN_NOTIFICATIONS, RENEWALS: wa.RENEWALS,
  DEFAULT_RENEWAL: wa.DEFAULT_RENEWAL, MAX_AMOUNT_MSAT: wa.MAX_AMOUNT_MSAT,
  ERROR_KINDS: wa.ERROR_KINDS, DENIED_SCHEMES: wa.DENIED_SCHEMES,
};
process.stdout.write(JSON.stringify({
  valid: vectors.valid.map((v) => run(v.uri)),
  invalid: vectors.invalid.map((v) => run(v.uri)),
  returns,
  shared,
  constants,
}));
