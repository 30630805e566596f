// "Approve an app": an app's nostr+walletauth:// or nostrnwc:// request (pasted, or handed
// over in the address as #walletauth=<uri>) shown in plain words, then made into a connection
// with create_connection over the admin connection. The parsing rules are walletauth.js
// (the twin of signer_core/protocol/walletauth.py; docs/app-connections.md).

import QRCode from "qrcode";
import {
  DEFAULT_RENEWAL, KNOWN_METHODS, WalletAuthError, createParams, describe, parseRequest,
  returnUrl, sharedRelays,
} from "./walletauth.js";

const $ = (id) => document.getElementById(id);
const show = (id, on = true) => {
  $(id).hidden = !on;
};

const HINT = {
  bad_uri: "Copy the app's whole request: it starts with nostr+walletauth:// or nostrnwc://connect.",
  unsupported_draft: "Ask the app for a newer request (Alby's, with request_methods).",
  unknown_method: "The app asks for something no NWC wallet knows; ask the app for a corrected request.",
  forbidden_method: "Only this page manages connections; no app may.",
};

/** The page's approve flow; `ctx` gives the wallet, the page's messages and a refresh. */
export class Approver {
  constructor(ctx) {
    this.ctx = ctx; // {wallet(), info(), say, fail, busy, refresh}
    this.request = null;
    this.fromLink = false;
    $("approve-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.read($("approve-uri").value, false);
    });
    $("approve-yes").addEventListener("click", () => this.approve());
    $("approve-no").addEventListener("click", () => this.reset("Declined: nothing was created."));
    $("approve-done").addEventListener("click", () => this.reset(""));
  }

  /** A request handed over as #walletauth=…; read once the wallet is open. */
  static takeHandedOver() {
    const at = location.hash.indexOf("walletauth=");
    if (at < 0) return null;
    let value = location.hash.slice(at + "walletauth=".length);
    history.replaceState(null, "", location.pathname + location.search);
    if (!/^nostr(\+walletauth|nwc)/i.test(value)) {
      try {
        value = decodeURIComponent(value);
      } catch {
        return null;
      }
    }
    return value;
  }

  read(text, fromLink) {
    this.fromLink = fromLink;
    show("approve-result", false);
    let req;
    try {
      req = parseRequest(text, Math.floor(Date.now() / 1000));
    } catch (error) {
      if (!(error instanceof WalletAuthError)) throw error;
      this.request = null;
      show("approve-request", false);
      const hint = HINT[error.kind] ? ` ${HINT[error.kind]}` : "";
      this.ctx.fail(`This request cannot be approved: ${error.message}.${hint} Nothing was created.`);
      $("approve").dataset.error = error.kind;
      return;
    }
    delete $("approve").dataset.error;
    if (req.kind === "walletauth" && !sharedRelays(req.relays, this.ctx.wallet().relays).length) {
      this.ctx.fail(`The app listens on ${req.relays.join(", ")} but your wallet is served on ${this.ctx.wallet().relays.join(", ")}. Ask the app for a request with your wallet's relay. Nothing was created.`);
      $("approve").dataset.error = "relays";
      return;
    }
    this.request = req;
    $("approve-uri").value = text.trim();
    $("approve-name").textContent = req.name;
    const rows = describe(req, req.methods ? null : this.grants().methods);
    $("approve-details").replaceChildren(...rows.flatMap(([label, text]) => {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = text;
      return [dt, dd];
    }));
    show("approve-budget-row", req.kind === "nostrnwc");
    show("approve-request");
    this.ctx.say("");
    $("approve").scrollIntoView();
    $("approve-yes").focus();
  }

  /** What an NWC-07 app (which names no methods) is granted: what the wallet serves. */
  grants() {
    const info = this.ctx.info() || {};
    const methods = KNOWN_METHODS.filter((m) => (info.methods || []).includes(m));
    return { methods, notifications: [...(info.notifications || [])].sort() };
  }

  async approve() {
    const req = this.request;
    if (!req) return;
    const wallet = this.ctx.wallet();
    let params;
    if (req.kind === "walletauth") {
      params = createParams(req, req.app_pubkey);
    } else {
      const { methods, notifications } = this.grants();
      params = { ...createParams(req, ""), request_methods: methods, notification_types: notifications };
      delete params.pubkey;
      const budget = $("approve-budget").value ? Number($("approve-budget").value) : 0;
      if (!Number.isInteger(budget) || budget < 0) {
        this.ctx.fail("The budget is a whole number of sats (or empty for none).");
        return;
      }
      if (budget) {
        params.max_amount = budget * 1000;
        params.budget_renewal = $("approve-renewal").value || DEFAULT_RENEWAL;
      }
    }
    await this.ctx.busy($("approve-yes"), async () => {
      let made;
      try {
        made = req.kind === "walletauth"
          ? { ...(await wallet.createConnectionFor(params)), uri: null }
          : await wallet.createConnection(params);
      } catch (error) {
        this.ctx.fail(error, "Approve");
        return;
      }
      const relays = req.kind === "walletauth" ? sharedRelays(req.relays, wallet.relays) : wallet.relays;
      const back = returnUrl(req, { relays, walletPubkey: made.wallet_pubkey, lud16: wallet.options.lud16 || null, uri: made.uri });
      show("approve-request", false);
      $("approve-result").dataset.walletPubkey = made.wallet_pubkey;
      show("approve-new-uri", Boolean(made.uri));
      $("approve-connection").value = made.uri || "";
      if (made.uri) {
        $("approve-qr").src = await QRCode.toDataURL(made.uri, { margin: 1, width: 240, errorCorrectionLevel: "L" });
      }
      $("approve-return").href = back || "#";
      show("approve-return", Boolean(back));
      const where = req.kind === "walletauth" ? ` The app finds it on ${relays.join(", ")}.` : " Give the URI to the app: it is not kept here.";
      $("approve-message").textContent = `Connected “${req.name}”.${where}`;
      show("approve-result");
      this.ctx.say(`Connection “${req.name}” created.`);
      this.request = null;
      await this.ctx.refresh();
      if (back && this.fromLink) location.assign(back); // the app sent you here: back you go
    });
  }

  reset(message) {
    this.request = null;
    $("approve-form").reset();
    $("approve-connection").value = "";
    show("approve-request", false);
    show("approve-result", false);
    this.ctx.say(message);
  }
}
