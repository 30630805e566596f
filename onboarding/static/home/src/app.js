// The wallet's home page: balance, receive, send, transactions and connections, over NWC
// with the wallet's admin connection (docs/nwc-admin-methods.md). Everything runs here; the
// connection is kept in IndexedDB (store.js) and used only to sign requests (wallet.js).

import QRCode from "qrcode";
import { Invoice } from "@getalby/lightning-tools/bolt11";
import * as store from "./store.js";
import { Approver } from "./approve.js";
import { Wallet, explain, parseUri } from "./wallet.js";

// transactions a page (?page_size=N, 1-50, for a shorter page)
const PAGE = Math.min(Math.max(Number(new URLSearchParams(location.search).get("page_size")) || 10, 1), 50);
const POLL_MS = 3000; // an open invoice is looked up this often until paid or expired

const $ = (id) => document.getElementById(id);
const show = (id, on = true) => {
  $(id).hidden = !on;
};
let wallet = null;
let sealed = false; // kept under a password: "Lock" is worth offering
let txOffset = 0;
let watching = null; // the invoice on screen: {hash, timer}
let walletInfo = null; // get_info of the admin connection (what an NWC-07 app is granted)
let approver = null;
let pendingRequest = null; // an app's request handed over as #walletauth=…

// --- messages ---------------------------------------------------------------------------

function say(text) {
  $("error").hidden = true;
  $("status").textContent = text;
  show("status", Boolean(text));
}

function fail(error, where) {
  const text = typeof error === "string" ? error : explain(error);
  $("error").textContent = where ? `${where}: ${text}` : text;
  show("error");
  show("status", false);
}

/** Run an action with its button disabled (no double payments from a double click). */
async function busy(button, action) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

const sats = (msat) => Math.floor(Number(msat) / 1000).toLocaleString("en");
const when = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : "—");

// --- opening the wallet -----------------------------------------------------------------

async function start() {
  pendingRequest = Approver.takeHandedOver();
  const handed = takeHandedOver();
  let record = null;
  try {
    record = await store.load();
  } catch (error) {
    fail(`This browser will not keep data for the page (${error?.message || error}). Allow site storage, or leave private browsing, then reload.`);
  }
  show("loading", false);
  if (handed) {
    $("setup-uri").value = handed;
    showSetup();
    say("Your new wallet's admin connection was handed over by the onboarding page. Choose a password (optional) and press Connect.");
  } else if (!record) {
    showSetup();
  } else if (record.sealed) {
    sealed = true;
    show("unlock");
    show("forget");
    $("unlock-password").focus();
  } else {
    await open(record.uri);
  }
}

/** A URI handed over in the address's fragment (#connect=…; never sent to any server). */
function takeHandedOver() {
  const match = /[#&]connect=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function showSetup() {
  show("setup");
  show("unlock", false);
  show("wallet", false);
  $("setup-uri").focus();
}

async function open(uri) {
  wallet = new Wallet(uri);
  show("setup", false);
  show("unlock", false);
  show("wallet");
  show("lock", sealed);
  show("forget", true);
  say("Connecting to your wallet…");
  try {
    const info = await wallet.getInfo();
    if (!(info.methods || []).includes("list_connections")) {
      fail("This is not the wallet's admin connection: payments work, but connections cannot be managed. Forget this wallet and paste the admin connection (nwc-signer connection add --admin).");
    } else {
      say("");
    }
    walletInfo = info;
    $("wallet-name").textContent = `${info.alias || "nwc-signer"} · ${info.network || ""}`;
  } catch (error) {
    fail(error, "Could not reach your wallet");
    return;
  }
  wallet.onNotification(onNotification).catch(() => {});
  await Promise.all([refreshBalance(), loadTransactions(0), loadConnections()]);
  if (pendingRequest) {
    const text = pendingRequest;
    pendingRequest = null;
    approver.read(text, true);
  }
}

async function onSetup(event) {
  event.preventDefault();
  const uri = $("setup-uri").value.trim();
  try {
    parseUri(uri);
  } catch (error) {
    fail(error.message);
    $("setup-uri").focus();
    return;
  }
  await busy($("setup-connect"), async () => {
    const password = $("setup-password").value;
    try {
      await store.save(await store.seal(uri, password));
      sealed = Boolean(password);
    } catch (error) {
      fail(`The connection could not be saved in this browser (${error?.message || error}); it works until you close the page.`);
    }
    $("setup-uri").value = "";
    $("setup-password").value = "";
    await open(uri);
  });
}

async function onUnlock(event) {
  event.preventDefault();
  await busy($("unlock-button"), async () => {
    try {
      const uri = await store.unseal(await store.load(), $("unlock-password").value);
      $("unlock-password").value = "";
      await open(uri);
    } catch (error) {
      fail(error.message);
      $("unlock-password").select();
    }
  });
}

async function onForget() {
  if (!confirm("Forget this wallet in this browser? Your funds stay in the wallet; you will need the admin connection URI to come back.")) return;
  await store.forget();
  location.reload();
}

// --- balance and notifications ----------------------------------------------------------

async function refreshBalance() {
  try {
    const { balance } = await wallet.balance();
    $("balance").textContent = sats(balance);
    $("balance").dataset.msat = String(balance);
  } catch (error) {
    fail(error, "Balance");
  }
}

function onNotification(note) {
  const tx = note.notification;
  if (watching && tx.payment_hash === watching.hash) settled(tx);
  refreshBalance();
  loadTransactions(txOffset);
}

// --- receive ----------------------------------------------------------------------------

async function onReceive(event) {
  event.preventDefault();
  const amount = Number($("receive-amount").value);
  if (!Number.isInteger(amount) || amount <= 0) {
    fail("Enter a whole number of sats above zero.");
    return;
  }
  await busy($("receive-create"), async () => {
    try {
      const tx = await wallet.makeInvoice(amount * 1000, $("receive-description").value || undefined);
      $("receive-invoice").value = tx.invoice;
      $("receive-qr").src = await QRCode.toDataURL(`lightning:${tx.invoice}`.toUpperCase(), { margin: 1, width: 240 });
      $("receive-state").textContent = `Waiting for ${sats(tx.amount)} sats…`;
      $("receive-state").dataset.state = "pending";
      show("receive-result");
      say("");
      watch(tx);
    } catch (error) {
      fail(error, "Receive");
    }
  });
}

function watch(tx) {
  if (watching) clearTimeout(watching.timer);
  watching = { hash: tx.payment_hash, expires: tx.expires_at, timer: null };
  const poll = async () => {
    if (!watching || watching.hash !== tx.payment_hash) return;
    try {
      const now = await wallet.lookupInvoice(tx.payment_hash);
      if (now.state === "settled") return settled(now);
      if (now.state === "expired" || (watching.expires && Date.now() / 1000 > watching.expires)) {
        $("receive-state").textContent = "This invoice expired unpaid. Create a new one.";
        $("receive-state").dataset.state = "expired";
        watching = null;
        return;
      }
    } catch {
      // a missed look-up is retried on the next tick
    }
    if (watching) watching.timer = setTimeout(poll, POLL_MS);
  };
  watching.timer = setTimeout(poll, POLL_MS);
}

function settled(tx) {
  if (!watching) return;
  clearTimeout(watching.timer);
  watching = null;
  $("receive-state").textContent = `Paid: ${sats(tx.amount)} sats received.`;
  $("receive-state").dataset.state = "settled";
  refreshBalance();
  loadTransactions(0);
}

// --- send -------------------------------------------------------------------------------

function describeInvoice() {
  const text = $("send-invoice").value.trim();
  $("send-summary").textContent = "";
  show("send-amount-row", false);
  if (!text) return null;
  try {
    const inv = new Invoice({ pr: text.replace(/^lightning:/i, "") });
    const amount = inv.satoshi ? `${inv.satoshi.toLocaleString("en")} sats` : "no amount";
    const what = inv.description ? ` for “${inv.description}”` : "";
    const expired = inv.expiryDate && inv.expiryDate < new Date() ? " — expired: ask for a new invoice" : "";
    $("send-summary").textContent = `Invoice of ${amount}${what}${expired}.`;
    show("send-amount-row", !inv.satoshi);
    return inv;
  } catch {
    $("send-summary").textContent = "This does not look like a Lightning invoice (it starts with lnbc, lntb or lnbcrt).";
    return null;
  }
}

async function onSend(event) {
  event.preventDefault();
  const invoice = $("send-invoice").value.trim().replace(/^lightning:/i, "");
  const decoded = describeInvoice();
  let amountMsat;
  if (decoded && !decoded.satoshi) {
    const amount = Number($("send-amount").value);
    if (!Number.isInteger(amount) || amount <= 0) {
      fail("This invoice names no amount: enter how many sats to send.");
      $("send-amount").focus();
      return;
    }
    amountMsat = amount * 1000;
  }
  await busy($("send-pay"), async () => {
    $("send-result").textContent = "Paying…";
    $("send-result").dataset.state = "pending";
    try {
      const paid = await wallet.payInvoice(invoice, amountMsat);
      const fee = paid.fees_paid ? ` (fee ${sats(paid.fees_paid)} sats)` : "";
      $("send-result").textContent = `Paid${fee}.`;
      $("send-result").dataset.state = "settled";
      $("send-invoice").value = "";
      $("send-summary").textContent = "";
      say("");
      await Promise.all([refreshBalance(), loadTransactions(0), loadConnections()]);
    } catch (error) {
      $("send-result").textContent = "";
      delete $("send-result").dataset.state;
      fail(error, "Send");
    }
  });
}

// --- transactions -----------------------------------------------------------------------

async function loadTransactions(offset) {
  try {
    const { transactions } = await wallet.transactions(PAGE + 1, offset);
    txOffset = offset;
    const rows = transactions.slice(0, PAGE);
    $("tx-rows").replaceChildren(...rows.map(txRow));
    show("tx-empty", rows.length === 0 && offset === 0);
    $("tx-prev").disabled = offset === 0;
    $("tx-next").disabled = transactions.length <= PAGE;
    const last = offset + rows.length;
    $("tx-page").textContent = rows.length > 1 ? `${offset + 1}–${last}` : rows.length ? `${last}` : "";
  } catch (error) {
    fail(error, "Transactions");
  }
}

function txRow(tx) {
  const tr = document.createElement("tr");
  tr.dataset.type = tx.type;
  tr.dataset.state = tx.state;
  const sign = tx.type === "incoming" ? "+" : "−";
  const cells = [when(tx.settled_at || tx.created_at), `${sign}${sats(tx.amount)}`, tx.state, tx.description || ""];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  tr.children[1].className = tx.type;
  return tr;
}

// --- connections ------------------------------------------------------------------------

async function loadConnections() {
  try {
    const { connections } = await wallet.listConnections();
    $("conn-list").replaceChildren(...connections.map(connItem));
  } catch (error) {
    if (error?.code !== "RESTRICTED") fail(error, "Connections");
  }
}

function connItem(c) {
  const li = document.createElement("li");
  li.dataset.pubkey = c.wallet_pubkey;
  const name = document.createElement("strong");
  name.textContent = c.name + (c.admin ? " (this page)" : "");
  const details = document.createElement("span");
  details.className = "help";
  const budget = c.max_amount
    ? `${sats(c.used_budget)} of ${sats(c.max_amount)} sats used (${c.budget_renewal})`
    : "no budget";
  const expiry = c.expires_at ? `${c.expired ? "expired" : "expires"} ${when(c.expires_at)}` : "never expires";
  details.textContent = `${budget} · ${expiry} · last used ${when(c.last_used_at)} · ${c.request_methods.join(", ")}`;
  li.append(name, details);
  if (!c.admin) {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "danger";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke ${c.name}`);
    revoke.addEventListener("click", () => onRevoke(c, revoke));
    li.append(revoke);
  }
  return li;
}

async function onRevoke(c, button) {
  if (!confirm(`Revoke “${c.name}”? The app stops working with this wallet at once.`)) return;
  await busy(button, async () => {
    try {
      await wallet.revokeConnection(c.wallet_pubkey);
      say(`“${c.name}” was revoked.`);
      await loadConnections();
    } catch (error) {
      fail(error, "Revoke");
    }
  });
}

async function onCreateConnection(event) {
  event.preventDefault();
  const methods = [...document.querySelectorAll("input[name=method]:checked")].map((i) => i.value);
  if (!methods.length) {
    fail("Choose at least one thing the app may do.");
    return;
  }
  const budget = $("conn-budget").value ? Number($("conn-budget").value) : 0;
  if (!Number.isInteger(budget) || budget < 0) {
    fail("The budget is a whole number of sats (or empty for none).");
    return;
  }
  const expiry = $("conn-expiry").value;
  const request = {
    name: $("conn-name").value.trim(),
    request_methods: methods,
    notification_types: $("conn-notify").checked ? ["payment_received", "payment_sent"] : [],
    max_amount: budget * 1000,
    budget_renewal: $("conn-renewal").value,
    ...(expiry ? { expires_at: Math.floor(Date.now() / 1000) + Number(expiry) } : {}),
  };
  await busy($("conn-create"), async () => {
    try {
      const made = await wallet.createConnection(request);
      $("conn-uri").value = made.uri;
      $("conn-deeplink").href = made.uri;
      $("conn-qr").src = await QRCode.toDataURL(made.uri, { margin: 1, width: 240, errorCorrectionLevel: "L" });
      $("conn-new").open = false;
      $("conn-form").reset();
      show("conn-result");
      say(`Connection “${request.name}” created. Give the URI to the app now: it is not kept here.`);
      $("conn-uri").focus();
      await loadConnections();
    } catch (error) {
      fail(error, "New connection");
    }
  });
}

// --- wiring -----------------------------------------------------------------------------

function wire() {
  approver = new Approver({
    wallet: () => wallet, info: () => walletInfo, say, fail, busy, refresh: loadConnections,
  });
  $("setup-form").addEventListener("submit", onSetup);
  $("unlock-form").addEventListener("submit", onUnlock);
  $("forget").addEventListener("click", onForget);
  $("lock").addEventListener("click", () => location.reload());
  $("balance-refresh").addEventListener("click", () => busy($("balance-refresh"), refreshBalance));
  $("receive-form").addEventListener("submit", onReceive);
  $("send-form").addEventListener("submit", onSend);
  $("send-invoice").addEventListener("input", describeInvoice);
  $("tx-prev").addEventListener("click", () => loadTransactions(Math.max(txOffset - PAGE, 0)));
  $("tx-next").addEventListener("click", () => loadTransactions(txOffset + PAGE));
  $("conn-form").addEventListener("submit", onCreateConnection);
  $("conn-done").addEventListener("click", () => {
    $("conn-uri").value = "";
    show("conn-result", false);
    $("conn-title").focus();
  });
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const text = $(button.dataset.copy).value;
      try {
        await navigator.clipboard.writeText(text);
        say("Copied.");
      } catch {
        $(button.dataset.copy).select();
        say("Selected: press Ctrl+C (or ⌘C) to copy.");
      }
    });
  }
}

wire();
start().catch((error) => fail(error, "The page could not start"));
