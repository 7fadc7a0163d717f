// A tiny key-value store in IndexedDB: the current model, the personal digits and every
// training run's record and checkpoint (js/runs.js) survive a reload. Failures (private
// mode, quota) degrade to "not persisted".

const DB_NAME = "wgpu-mnist";
const STORE = "kv";
let db;

function open() {
  db ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return db;
}

async function request(mode, makeRequest) {
  const tx = (await open()).transaction(STORE, mode);
  const req = makeRequest(tx.objectStore(STORE));
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = tx.onabort = () => reject(tx.error);
  });
}

export const get = (key) => request("readonly", (s) => s.get(key));
export const put = (key, value) => request("readwrite", (s) => s.put(value, key));
export const remove = (key) => request("readwrite", (s) => s.delete(key));
/** Every key that starts with `prefix`. */
export const keys = (prefix) =>
  request("readonly", (s) => s.getAllKeys(IDBKeyRange.bound(prefix, `${prefix}\uffff`)));

/** True when the browser refused a write for lack of space (the origin's quota). */
export const isQuotaError = (e) => e?.name === "QuotaExceededError" || /quota/i.test(String(e?.message ?? e));

/** "the browser's storage for this page is full (12.3 MB of 12.0 MB used)"; the numbers
 * where the browser gives them. */
export async function fullText() {
  const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  try {
    const { usage, quota } = await navigator.storage.estimate();
    return `the browser's storage for this page is full (${mb(usage)} of ${mb(quota)} used)`;
  } catch {
    return "the browser's storage for this page is full";
  }
}
