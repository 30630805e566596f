// App-initiated connection requests (nostr+walletauth://, NWC-07 nostrnwc://connect): the
// home page's copy of signer_core/protocol/walletauth.py. Same rules, same error kinds;
// both are tested against tests/fixtures/walletauth_vectors.json (tests/test_walletauth.py
// runs this file in node), so change both with the vectors. No imports: node loads it as is.

export const KNOWN_METHODS = [
  "pay_invoice", "multi_pay_invoice", "pay_keysend", "multi_pay_keysend", "make_invoice",
  "lookup_invoice", "list_transactions", "get_balance", "get_info", "get_budget",
  "sign_message", "make_hold_invoice", "settle_hold_invoice", "cancel_hold_invoice", "pay",
  "receive",
];
export const ADMIN_METHODS = ["create_connection", "list_connections", "revoke_connection"];
export const KNOWN_NOTIFICATIONS = ["payment_received", "payment_sent", "hold_invoice_accepted"];
export const RENEWALS = ["never", "daily", "weekly", "monthly", "yearly"];
export const DEFAULT_RENEWAL = "monthly";
export const MAX_AMOUNT_MSAT = 10 ** 15;
export const ERROR_KINDS = [
  "bad_uri", "unsupported_draft", "bad_pubkey", "bad_relay", "missing_methods",
  "unknown_method", "forbidden_method", "unknown_notification", "bad_amount", "bad_renewal",
  "bad_expiry", "bad_isolated", "bad_return_to", "bad_name", "bad_metadata",
];
const MAX_URI = 8192, MAX_RELAYS = 8, MAX_NAME = 100, MAX_METADATA = 4096, MAX_URL = 2048;
const SINGLE = ["name", "icon", "request_methods", "notification_types", "max_amount",
  "budget_renewal", "expires_at", "isolated", "return_to", "metadata", "appname", "appicon",
  "callback"];
export const DENIED_SCHEMES = ["javascript", "data", "file", "blob", "vbscript", "about",
  "filesystem", "view-source", "chrome", "intent", "ftp", "ws", "wss", "mailto", "sms", "tel",
  "nostr+walletconnect"];
const LOOPBACK = ["127.0.0.1", "localhost", "[::1]"];
const SCHEME = /^(nostr\+walletauth|nostrnwc)(?:\+([a-z0-9][a-z0-9.-]{0,63}))?:/i;
const HEX64 = /^[0-9a-fA-F]{64}$/;
const URL_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):([\s\S]*)$/;
const AUTHORITY = /^\/\/([^/?#]*)/;
const P = 2n ** 256n - 2n ** 32n - 977n;

export class WalletAuthError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const fail = (kind, message) => { throw new WalletAuthError(kind, message); };
const short = (t) => ([...t].length > 40 ? [...t].slice(0, 40).join("") + "…" : t);

export function parseRequest(text, now) {
  if (typeof text !== "string") fail("bad_uri", "the request must be text");
  const uri = text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  if (uri.length > MAX_URI) fail("bad_uri", `the request is longer than ${MAX_URI} characters`);
  const match = SCHEME.exec(uri);
  if (!match) fail("bad_uri", "not a nostr+walletauth:// or nostrnwc:// request");
  const kind = match[1].toLowerCase() === "nostr+walletauth" ? "walletauth" : "nostrnwc";
  const suffix = match[2] ? match[2].toLowerCase() : null;
  let rest = uri.slice(match[0].length).split("#")[0];
  if (rest.startsWith("//")) rest = rest.slice(2);
  const q = rest.indexOf("?");
  let target = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q + 1);
  if (target.endsWith("/")) target = target.slice(0, -1);
  const params = parseQuery(query);
  const one = {};
  for (const [k, v] of params) if (SINGLE.includes(k)) one[k] = v[0];
  return kind === "nostrnwc" ? deepLink(target, suffix, one) : walletAuth(target, suffix, params, one, now);
}

function walletAuth(target, suffix, params, one, now) {
  if (!("request_methods" in one) && (params.has("secret") || params.has("required_commands"))) {
    fail("unsupported_draft", "this is the older NWA draft (secret, required_commands); ask the app for a request with request_methods");
  }
  if (!HEX64.test(target)) fail("bad_pubkey", "the app's public key must be 64 hex characters");
  const pubkey = target.toLowerCase();
  if (!onCurve(BigInt("0x" + pubkey))) fail("bad_pubkey", "the app's public key is not a valid secp256k1 key");
  const relays = parseRelays(params.get("relay") || []);
  if (!relays.length) fail("bad_relay", "the request names no relay");
  const methods = words(one.request_methods ?? "");
  if (!methods.length) fail("missing_methods", "the request names no request_methods");
  const admin = methods.filter((m) => ADMIN_METHODS.includes(m));
  if (admin.length) fail("forbidden_method", `an app cannot be allowed to manage connections (${admin.join(", ")})`);
  let unknown = methods.filter((m) => !KNOWN_METHODS.includes(m));
  if (unknown.length) fail("unknown_method", `unknown methods: ${unknown.map(short).join(", ")}`);
  const notifications = words(one.notification_types ?? "");
  unknown = notifications.filter((n) => !KNOWN_NOTIFICATIONS.includes(n));
  if (unknown.length) fail("unknown_notification", `unknown notification types: ${unknown.map(short).join(", ")}`);
  let amount = 0;
  if ("max_amount" in one) {
    const value = parseUint(one.max_amount, 19);
    if (value === null || value > BigInt(MAX_AMOUNT_MSAT)) {
      fail("bad_amount", "max_amount must be a whole number of millisatoshis up to 10,000 BTC");
    }
    amount = Number(value);
  }
  const renewal = one.budget_renewal ?? null;
  if (renewal !== null && !RENEWALS.includes(renewal)) fail("bad_renewal", `budget_renewal must be one of ${RENEWALS.join(", ")}`);
  const isolated = one.isolated ?? "false";
  if (isolated !== "true" && isolated !== "false") fail("bad_isolated", "isolated must be true or false");
  const metadata = parseMetadata(one.metadata);
  return {
    kind: "walletauth",
    app_pubkey: pubkey,
    scheme_suffix: suffix,
    name: parseName(one.name, `app ${pubkey.slice(0, 8)}`),
    icon: parseIcon(one.icon),
    relays,
    methods,
    notifications,
    max_amount_msat: amount,
    budget_renewal: amount ? (renewal || DEFAULT_RENEWAL) : null,
    expires_at: parseExpiry(one.expires_at, now),
    isolated: isolated === "true",
    return_to: parseReturnTo(one.return_to, "return_to"),
    metadata,
  };
}

function deepLink(target, suffix, one) {
  if (target.toLowerCase() !== "connect") fail("bad_uri", "an NWC deep link must be nostrnwc://connect?…");
  return {
    kind: "nostrnwc", app_pubkey: null, scheme_suffix: suffix,
    name: parseName(one.appname, "NWC app"), icon: parseIcon(one.appicon), relays: [],
    methods: null, notifications: [], max_amount_msat: 0, budget_renewal: null,
    expires_at: null, isolated: false, return_to: parseReturnTo(one.callback, "callback"),
    metadata: null,
  };
}

function parseQuery(query) {
  const out = new Map();
  for (const part of query ? query.split("&") : []) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = decode(eq < 0 ? part : part.slice(0, eq));
    const value = decode(eq < 0 ? "" : part.slice(eq + 1));
    if (!out.has(key)) out.set(key, []);
    out.get(key).push(value);
    if (SINGLE.includes(key) && out.get(key).length > 1) fail("bad_uri", `${short(key)} is given more than once`);
  }
  return out;
}

function decode(text) {
  text = text.replace(/\+/g, " ");
  if (/%(?![0-9A-Fa-f]{2})/.test(text)) fail("bad_uri", "the request has a broken %-escape");
  try {
    return decodeURIComponent(text);
  } catch {
    return fail("bad_uri", "the request is not valid UTF-8");
  }
}

const words = (text) => [...new Set(text.split(" ").filter((w) => w))];

function parseUint(text, maxDigits) {
  if (typeof text !== "string" || !/^[0-9]+$/.test(text) || text.length > maxDigits) return null;
  return BigInt(text);
}

function modpow(b, e, m) {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

function onCurve(x) {
  if (x >= P) return false;
  const c = (modpow(x, 3n, P) + 7n) % P;
  const y = modpow(c, (P + 1n) / 4n, P);
  return (y * y) % P === c;
}

function host(authority) {
  if (!authority || authority.includes("@")) return null;
  let h, port;
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    if (end < 0) return null;
    h = authority.slice(0, end + 1);
    port = authority.slice(end + 1);
  } else {
    const colon = authority.indexOf(":");
    h = colon < 0 ? authority : authority.slice(0, colon);
    port = colon < 0 ? "" : authority.slice(colon);
  }
  if (port && !/^:[0-9]{1,5}$/.test(port)) return null;
  if (!h || /[\s<>"\\^`{|}%]/.test(h)) return null;
  return h.toLowerCase();
}

const clean = (text) => !/[\x00-\x20\x7f]/.test(text);

function parseRelays(values) {
  const relays = [];
  for (const value of values) {
    const m = URL_RE.exec(value);
    const scheme = m ? m[1].toLowerCase() : "";
    const auth = m ? AUTHORITY.exec(m[2]) : null;
    const h = auth ? host(auth[1]) : null;
    const ok = value.length <= MAX_URL && clean(value) && h !== null &&
      (scheme === "wss" || (scheme === "ws" && LOOPBACK.includes(h)));
    if (!ok) fail("bad_relay", `'${short(value)}' is not a relay address (wss://, or ws:// on this machine)`);
    if (!relays.includes(value)) relays.push(value);
  }
  if (relays.length > MAX_RELAYS) fail("bad_relay", `the request names more than ${MAX_RELAYS} relays`);
  return relays;
}

function webUrl(value) {
  const m = URL_RE.exec(value);
  if (!m || value.length > MAX_URL || !clean(value)) return null;
  const scheme = m[1].toLowerCase();
  const auth = AUTHORITY.exec(m[2]);
  const h = auth ? host(auth[1]) : null;
  if (h === null || (scheme !== "https" && scheme !== "http")) return null;
  if (scheme === "http" && !LOOPBACK.includes(h)) return null;
  return value;
}

function parseReturnTo(value, label) {
  if (value === undefined || value === "") return null;
  const m = URL_RE.exec(value);
  const scheme = m ? m[1].toLowerCase() : "";
  let ok;
  if (scheme === "http" || scheme === "https") ok = webUrl(value) !== null;
  else ok = !!m && value.length <= MAX_URL && clean(value) && !DENIED_SCHEMES.includes(scheme) && !!m[2];
  if (!ok) fail("bad_return_to", `${label} must be an https:// address, http:// on this machine, or an app's own scheme`);
  return value;
}

const parseIcon = (value) => (value ? webUrl(value) : null);

// Python's str.isprintable by Unicode category: other (C*), line/paragraph separators, and
// every space separator except the ASCII space.
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;

function parseName(value, fallback) {
  const name = (value || "").replace(/^ +| +$/g, "");
  if (!name) return fallback;
  if ([...name].length > MAX_NAME) fail("bad_name", `the app's name is longer than ${MAX_NAME} characters`);
  if (UNPRINTABLE.test(name)) fail("bad_name", "the app's name has control or invisible characters");
  return name;
}

function parseExpiry(value, now) {
  if (value === undefined) return null;
  const when = parseUint(value, 12);
  if (when === null || when === 0n) fail("bad_expiry", "expires_at must be a unix time in seconds");
  if (when <= BigInt(now)) fail("bad_expiry", "expires_at is in the past");
  return Number(when);
}

function parseMetadata(value) {
  if (value === undefined) return null;
  if ([...value].length > MAX_METADATA) fail("bad_metadata", `metadata is longer than ${MAX_METADATA} characters`);
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch {
    fail("bad_metadata", "metadata is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) fail("bad_metadata", "metadata must be a JSON object");
  return parsed;
}

// create_connection's params (Alby's) for a request and a client pubkey.
export function createParams(req, pubkey) {
  const params = {
    pubkey, name: req.name, request_methods: [...(req.methods || [])],
    notification_types: [...req.notifications],
  };
  if (req.max_amount_msat) {
    params.max_amount = req.max_amount_msat;
    params.budget_renewal = req.budget_renewal || DEFAULT_RENEWAL;
  }
  if (req.expires_at !== null) params.expires_at = req.expires_at;
  if (req.isolated) params.isolated = true;
  if (req.metadata !== null) params.metadata = req.metadata;
  return params;
}

// Where the app is sent back once the connection exists: walletauth's return_to gets the
// relays and the wallet-service pubkey (as Alby Hub adds them), NWC-07's callback gets
// value=<the nostr+walletconnect URI>. Same as nwc_signer/connections.py's return_url.
export function returnUrl(req, { relays, walletPubkey, lud16, uri }) {
  if (!req.return_to) return null;
  const add = [];
  if (req.kind === "nostrnwc") add.push(["value", uri]);
  else {
    for (const r of relays) add.push(["relay", r]);
    add.push(["pubkey", walletPubkey]);
    if (lud16) add.push(["lud16", lud16]);
  }
  const query = add.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  const [base, fragment] = splitFragment(req.return_to);
  const sep = base.includes("?") ? (base.endsWith("?") || base.endsWith("&") ? "" : "&") : "?";
  return base + sep + query + fragment;
}

// A relay URL compared loosely: scheme and host in lower case, no trailing slash.
export function normRelay(url) {
  const u = url.trim();
  const i = u.indexOf("://");
  const [scheme, sep, rest] = i < 0 ? [u, "", ""] : [u.slice(0, i), "://", u.slice(i + 3)];
  const j = rest.indexOf("/");
  const [host, slash, path] = j < 0 ? [rest, "", ""] : [rest.slice(0, j), "/", rest.slice(j + 1)];
  return `${scheme.toLowerCase()}${sep}${host.toLowerCase()}${slash}${path}`.replace(/\/+$/, "");
}

// The app's relays the wallet also listens on, in the app's order.
export function sharedRelays(appRelays, walletRelays) {
  const mine = new Set(walletRelays.map(normRelay));
  return appRelays.filter((r) => mine.has(normRelay(r)));
}

function splitFragment(url) {
  const i = url.indexOf("#");
  return i < 0 ? [url, ""] : [url.slice(0, i), url.slice(i)];
}

const METHOD_WORDS = {
  pay_invoice: "send payments", multi_pay_invoice: "send several payments at once",
  pay_keysend: "send keysend payments", multi_pay_keysend: "send several keysends",
  pay: "send payments to invoices, offers and lightning addresses",
  make_invoice: "create invoices", receive: "create payment requests",
  lookup_invoice: "look up invoices", list_transactions: "read your transaction history",
  get_balance: "read your balance", get_info: "read the wallet's info",
  get_budget: "read its own budget", sign_message: "sign messages with the wallet's key",
  make_hold_invoice: "create hold invoices", settle_hold_invoice: "settle hold invoices",
  cancel_hold_invoice: "cancel hold invoices",
};
const PERIOD_WORDS = { never: "in total, never renewed", daily: "per day", weekly: "per week", monthly: "per month", yearly: "per year" };
export const SPENDING = ["pay_invoice", "multi_pay_invoice", "pay_keysend", "multi_pay_keysend", "pay"];

export function sats(msat) {
  const whole = Math.floor(msat / 1000), rest = msat % 1000;
  const frac = rest ? ("." + String(rest).padStart(3, "0")).replace(/0+$/, "") : "";
  return whole.toLocaleString("en-US") + frac + " sats";
}

// The request in plain words: [label, text] rows for the page.
export function describe(req, walletMethods) {
  const rows = [];
  const methods = req.methods ?? walletMethods ?? null;
  rows.push(["Asks to", methods ? methods.map((m) => METHOD_WORDS[m] || m).join("; ") : "use every method this wallet grants"]);
  if (req.notifications.length) rows.push(["Told of", req.notifications.map((n) => n.replace(/_/g, " ")).join(", ")]);
  if (req.max_amount_msat) rows.push(["Budget", `at most ${sats(req.max_amount_msat)} ${PERIOD_WORDS[req.budget_renewal || DEFAULT_RENEWAL]}`]);
  else if (!req.methods || req.methods.some((m) => SPENDING.includes(m))) rows.push(["Budget", "none asked: it could spend the whole balance"]);
  rows.push(["Expires", req.expires_at ? new Date(req.expires_at * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "never (you can revoke it)"]);
  if (req.isolated) rows.push(["Isolated", "it gets its own balance, apart from the wallet's"]);
  if (req.relays.length) rows.push(["Relays", req.relays.join(", ")]);
  if (req.return_to) rows.push(["Then back to", req.return_to]);
  return rows;
}
