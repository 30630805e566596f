// The page's NWC client: @getalby/sdk's NWCClient for every request (NIP-44, signing,
// relays), plus the signer's admin methods (docs/nwc-admin-methods.md) and error texts that
// say what to do next.

import { NWCClient } from "@getalby/sdk/nwc";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";

const REPLY_TIMEOUT_MS = 30000;
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function parseUri(text) {
  const uri = text.trim();
  if (!uri.startsWith("nostr+walletconnect://")) {
    throw new Error("That is not a connection URI: it must start with nostr+walletconnect://. Copy the admin connection your deploy printed (or run: nwc-signer connection add --admin).");
  }
  let options;
  try {
    options = NWCClient.parseWalletConnectUrl(uri);
  } catch {
    throw new Error("The connection URI is damaged. Copy it again in one piece.");
  }
  if (!options.secret || !/^[0-9a-f]{64}$/.test(options.secret)) {
    throw new Error("The connection URI has no secret. Copy the whole URI, including secret=…");
  }
  if (!options.relayUrls.length) {
    throw new Error("The connection URI names no relay. Copy the whole URI, including relay=…");
  }
  return options;
}

export class Wallet {
  constructor(uri) {
    this.options = parseUri(uri);
    this.client = new NWCClient({ nostrWalletConnectUrl: uri.trim() });
  }

  get relays() {
    return this.options.relayUrls;
  }

  call(method, params = {}) {
    // the SDK's generic request path: the admin methods have no helper of their own
    return this.client.executeNip47Request(method, params, () => true, {
      replyTimeout: REPLY_TIMEOUT_MS,
    });
  }

  getInfo() {
    return this.call("get_info");
  }

  balance() {
    return this.call("get_balance");
  }

  makeInvoice(amountMsat, description) {
    return this.call("make_invoice", { amount: amountMsat, description });
  }

  lookupInvoice(paymentHash) {
    return this.call("lookup_invoice", { payment_hash: paymentHash });
  }

  payInvoice(invoice, amountMsat) {
    return this.call("pay_invoice", amountMsat ? { invoice, amount: amountMsat } : { invoice });
  }

  transactions(limit, offset) {
    return this.call("list_transactions", { limit, offset });
  }

  listConnections() {
    return this.call("list_connections");
  }

  /** A new connection: its key pair is made here and its secret never leaves the page. */
  async createConnection(request) {
    const secret = generateSecretKey();
    const result = await this.client.createConnection({ ...request, pubkey: getPublicKey(secret) });
    const query = this.relays.map((r) => `relay=${encodeURIComponent(r)}`);
    query.push(`secret=${hex(secret)}`);
    return { ...result, uri: `nostr+walletconnect://${result.wallet_pubkey}?${query.join("&")}` };
  }

  /** A connection for a key the app made and keeps (nostr+walletauth://): Alby's params. */
  createConnectionFor(params) {
    return this.client.createConnection(params);
  }

  revokeConnection(walletPubkey) {
    return this.call("revoke_connection", { wallet_pubkey: walletPubkey });
  }

  onNotification(handler) {
    return this.client.subscribeNotifications(handler, ["payment_received", "payment_sent"]);
  }

  close() {
    this.client.close();
  }
}

const NEXT_STEP = {
  RESTRICTED: "This connection may not do that. The home page needs the wallet's admin connection (nwc-signer connection add --admin).",
  UNAUTHORIZED: "The wallet does not know this connection (revoked or expired?). Forget this wallet here and paste a current admin connection.",
  QUOTA_EXCEEDED: "This connection's budget is used up for now. Wait for it to renew or raise it.",
  INSUFFICIENT_BALANCE: "There are not enough sats in the wallet. Receive some first.",
  PAYMENT_FAILED: "The payment did not go through. Check the invoice (paid already? expired?) and try again.",
  NOT_FOUND: "The wallet has no such item; refresh the page.",
  NOT_IMPLEMENTED: "This wallet cannot do that.",
  RATE_LIMITED: "The wallet is busy. Wait a moment and try again.",
};

/** One sentence for a person: what went wrong and what to do next. */
export function explain(error) {
  const code = error?.code;
  const message = String(error?.message || error || "unknown error");
  if (/reply timeout/i.test(message)) {
    return "Your wallet did not answer in time. Check that your signer is deployed and its relay-watcher is running, then try again.";
  }
  if (/publish|relay|websocket|connect/i.test(message) && !NEXT_STEP[code]) {
    return `The relay could not be reached (${message}). Check your internet connection and the relay in your connection URI, then try again.`;
  }
  if (/no info event/i.test(message)) {
    return "Your wallet has not announced itself on its relay yet. Check that the signer is registered with its relay-watcher, then reload.";
  }
  const next = NEXT_STEP[code];
  return next ? `${message}. ${next}` : message;
}
