// Where the admin connection lives: this browser's IndexedDB, nowhere else.
//
// The record is either the URI as is, or the URI sealed with AES-256-GCM under a key that
// PBKDF2-SHA256 derives from a password (WebCrypto; the key is not extractable). The page
// never sends the URI anywhere: it only signs NWC requests with its secret, in the page.

const DB_NAME = "nwc-signer-home";
const STORE = "keys";
const KEY = "admin";
export const PBKDF2_ITERATIONS = 600000; // OWASP's figure for PBKDF2-HMAC-SHA256

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export const load = () => run("readonly", (s) => s.get(KEY));
export const save = (record) => run("readwrite", (s) => s.put(record, KEY));
export const forget = () => run("readwrite", (s) => s.delete(KEY));

const enc = new TextEncoder();
const dec = new TextDecoder();
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function passwordKey(password, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** The record to keep: the URI itself, or sealed under the password when one is given. */
export async function seal(uri, password) {
  if (!password) return { version: 1, sealed: false, uri };
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await passwordKey(password, salt, PBKDF2_ITERATIONS);
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, enc.encode(uri));
  return {
    version: 1,
    sealed: true,
    kdf: "PBKDF2-SHA256",
    iterations: PBKDF2_ITERATIONS,
    salt: b64(salt),
    iv: b64(iv),
    ct: b64(ct),
  };
}

/** The URI of a record; throws WrongPassword when the password does not open it. */
export async function unseal(record, password) {
  if (!record.sealed) return record.uri;
  const key = await passwordKey(password, unb64(record.salt), record.iterations);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: unb64(record.iv) },
      key,
      unb64(record.ct),
    );
    return dec.decode(plain);
  } catch {
    throw new WrongPassword();
  }
}

export class WrongPassword extends Error {
  constructor() {
    super("That password does not open this wallet. Try again, or forget the wallet and paste its admin connection again.");
  }
}
