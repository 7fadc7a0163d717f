// Training runs as records of their own, shared by every tab of the app: each run has an
// id, a record (`run:<id>`: its preset, recipe, engine, position and state) and its newest
// checkpoint (`checkpoint:<id>`) in IndexedDB, so finishing or deleting one run never
// touches another's. A tab holds a Web Lock named after each run it trains or offers to
// continue; a run whose lock nobody holds was interrupted (its tab closed or crashed), and
// is offered to the next page that claims the lock, one tab at a time. No DOM here.

import * as store from "./store.js";

const RECORD = "run:";
const CHECKPOINT = "checkpoint:";
/** The one checkpoint key of the page before runs had ids. */
const LEGACY_CHECKPOINT = "checkpoint";
const LOCK = "wgpu-mnist-run:";
/** Records' format; a record of another version is skipped (and named). */
const VERSION = 1;

/** A fresh run id: time and chance, unique across tabs. */
export const newRunId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** Writes a run's record (merged into what it had). */
export async function saveRecord(id, fields) {
  const old = (await store.get(RECORD + id).catch(() => undefined)) ?? {};
  await store.put(RECORD + id, { ...old, ...fields, id, version: VERSION, updatedAt: Date.now() });
}

export const saveCheckpoint = (id, saved) => store.put(CHECKPOINT + id, saved);

export const checkpointOf = (id) => store.get(CHECKPOINT + id).catch(() => undefined);

/** Forgets a run's checkpoint (finished, or diverging: not to be continued); its record stays. */
export const forgetCheckpoint = (id) => store.remove(CHECKPOINT + id).catch(() => {});

/**
 * Holds the lock of run `id` until the returned function is called (or the tab goes).
 * `ifAvailable`: only if no other tab holds it; resolves to null if one does. Where the
 * browser has no Web Locks, every claim succeeds (one tab's behaviour, as before).
 */
export function holdLock(id, { ifAvailable = false } = {}) {
  if (!navigator.locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    navigator.locks
      .request(LOCK + id, { ifAvailable }, (lock) => {
        if (!lock) {
          resolve(null);
          return undefined;
        }
        return new Promise((release) => resolve(release));
      })
      .catch(() => resolve(null));
  });
}

/**
 * The runs that were interrupted (a checkpoint kept, no tab training them) and that this
 * tab could claim: each {record, saved, release}; the tab holds their locks until it
 * calls `release` (or continues the run). `skipped`: records that could not be read
 * (damaged, another version), each with why.
 */
export async function claimInterrupted() {
  await adoptLegacyCheckpoint();
  const ids = (await store.keys(CHECKPOINT).catch(() => [])).map((k) => k.slice(CHECKPOINT.length));
  const claimed = [];
  const skipped = [];
  for (const id of ids) {
    const release = await holdLock(id, { ifAvailable: true });
    if (!release) continue; // a tab trains it, or offers it already
    const [record, saved] = await Promise.all([store.get(RECORD + id).catch(() => undefined), checkpointOf(id)]);
    const why = !record ? "it has no record" : record.version !== VERSION ? `its record is of version ${record.version}` : !isCheckpoint(saved) ? "its checkpoint is damaged" : null;
    if (why || ["finished", "diverged"].includes(record.state)) {
      release();
      if (why) skipped.push({ id, why });
      continue;
    }
    claimed.push({ record, saved, release });
  }
  claimed.sort((a, b) => b.saved.savedAt - a.saved.savedAt);
  return { claimed, skipped };
}

const isCheckpoint = (c) => c && c.bytes instanceof Uint8Array && c.bytes.length > 8 && Number.isFinite(c.epoch) && Number.isFinite(c.step);

/** The page's single checkpoint from before runs had ids becomes a run of its own. */
async function adoptLegacyCheckpoint() {
  const saved = await store.get(LEGACY_CHECKPOINT).catch(() => undefined);
  if (!saved) return;
  const id = newRunId();
  await saveCheckpoint(id, saved);
  await saveRecord(id, { preset: saved.fileName?.replace(/\.safetensors$/, ""), state: "interrupted", startedAt: saved.savedAt });
  await store.remove(LEGACY_CHECKPOINT);
}
