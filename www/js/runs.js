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

/** The columns of a run's metric windows, as `train --log FILE.csv` writes them
 * (src/train/log.rs): a run exported here and one logged natively compare on one chart. */
export const HEADER = "kind,epoch,step,steps_per_epoch,seconds,examples,loss,accuracy,images_per_s";
const COLUMNS = HEADER.split(",");

/** A run's windows as CSV, formatted as `train --log` formats them. */
export function windowsCsv(windows) {
  const row = (w) =>
    [w.kind, w.epoch, w.step, w.steps_per_epoch, w.seconds.toFixed(3), w.examples, w.loss.toFixed(6), w.accuracy.toFixed(6), w.images_per_s == null ? "" : w.images_per_s.toFixed(1)].join(",");
  return [HEADER, ...windows.map(row)].join("\n") + "\n";
}

/** Reads a metrics CSV (`HEADER`, then rows) into windows; anything else is an Error
 * that names the line and the column at fault. */
export function parseCsv(name, text) {
  const lines = text.split(/\r?\n/);
  const fail = (line, what) => {
    throw new Error(`${name}: line ${line}: ${what}`);
  };
  if (!lines[0]) fail(1, "the file is empty");
  if (lines[0].trim() !== HEADER) fail(1, `the header is not a metrics log's (${HEADER})`);
  const windows = [];
  lines.slice(1).forEach((text, i) => {
    const line = i + 2;
    if (!text.trim()) return;
    const cells = text.split(",").map((c) => c.trim());
    if (cells.length !== COLUMNS.length) fail(line, `${cells.length} columns, a metrics log has ${COLUMNS.length}`);
    const number = (k, whole) => {
      const v = Number(cells[k]);
      if (cells[k] === "" || !Number.isFinite(v) || (whole && !Number.isInteger(v))) fail(line, `column ${k + 1} (${COLUMNS[k]}): '${cells[k]}' is not ${whole ? "a whole" : "a finite"} number`);
      return v;
    };
    if (!["train", "validation", "test"].includes(cells[0])) fail(line, `column 1 (kind): '${cells[0]}' is not train, validation or test`);
    windows.push({
      kind: cells[0],
      epoch: number(1, true),
      step: number(2, true),
      steps_per_epoch: number(3, true),
      seconds: number(4),
      examples: number(5, true),
      loss: number(6),
      accuracy: number(7),
      images_per_s: cells[8] === "" ? null : number(8),
    });
  });
  return windows;
}

/** The test accuracy's best and last, and the seconds to 98% and 99%, from windows. */
export function summary(windows) {
  const tests = windows.filter((w) => w.kind === "test");
  const reached = (t) => tests.find((w) => w.accuracy >= t)?.seconds ?? null;
  return {
    best: tests.length ? Math.max(...tests.map((w) => w.accuracy)) : null,
    last: tests.at(-1)?.accuracy ?? null,
    seconds: windows.at(-1)?.seconds ?? 0,
    to98: reached(0.98),
    to99: reached(0.99),
  };
}

/** A metrics CSV (a native `train --log`, or another browser's export) kept as a run. */
export async function importRun(fileName, text) {
  const windows = parseCsv(fileName, text);
  const id = newRunId();
  await saveRecord(id, { name: fileName.replace(/\.csv$/i, ""), imported: true, state: "imported", startedAt: Date.now(), windows, seconds: windows.at(-1)?.seconds ?? 0 });
  return id;
}

/** Every run's record, newest first; `skipped`: records that could not be read, with why. */
export async function listRecords() {
  const ids = (await store.keys(RECORD).catch(() => [])).map((k) => k.slice(RECORD.length));
  const records = [];
  const skipped = [];
  for (const id of ids) {
    const r = await store.get(RECORD + id).catch(() => undefined);
    if (!r || typeof r !== "object") skipped.push({ id, why: "its record cannot be read" });
    else if (r.version !== VERSION) skipped.push({ id, why: `its record is of version ${r.version}` });
    else if (r.windows !== undefined && !Array.isArray(r.windows)) skipped.push({ id, why: "its metrics are damaged" });
    else records.push(r);
  }
  // A run left "running" or "paused" whose lock no tab holds was interrupted (its tab
  // closed or crashed): its result says so.
  const held = new Set(((await navigator.locks?.query().catch(() => null))?.held ?? []).map((l) => l.name));
  for (const r of records) if (["running", "paused"].includes(r.state) && navigator.locks && !held.has(LOCK + r.id)) r.state = "interrupted";
  records.sort((a, b) => (b.startedAt ?? 0) - (a.startedAt ?? 0));
  return { records, skipped };
}

/** A continued run's history: the windows up to its checkpoint (later ones are redone). */
export function historyUpTo(record, saved) {
  if (!record?.windows) return {};
  const at = (w) => (w.epoch - 1) * w.steps_per_epoch + w.step;
  const limit = (saved.epoch - 1) * saved.stepsPerEpoch + saved.step;
  const windows = record.windows.filter((w) => at(w) <= limit);
  const reached = {};
  for (const w of windows) for (const t of [98, 99]) if (w.kind === "test" && reached[t] == null && w.accuracy >= t / 100) reached[t] = w.seconds;
  return { windows, seconds: windows.at(-1)?.seconds ?? 0, reached };
}

/** Checkpoints kept of runs no tab uses, besides pinned ones (a keras-bn checkpoint is 23 MB). */
export const KEEP_CHECKPOINTS = 3;

/**
 * Storage is finite: forgets the checkpoints of all but the newest `KEEP_CHECKPOINTS`
 * runs that no tab trains or offers, sparing pinned runs and `spare` (the current run);
 * their records and curves stay. Resolves to the records of the runs pruned.
 */
export async function pruneCheckpoints(spare) {
  const ids = (await store.keys(CHECKPOINT).catch(() => [])).map((k) => k.slice(CHECKPOINT.length)).filter((id) => id !== spare);
  const candidates = [];
  for (const id of ids) {
    const record = await store.get(RECORD + id).catch(() => undefined);
    if (record?.pinned) continue;
    const release = await holdLock(id, { ifAvailable: true });
    if (!release) continue; // in use by a tab
    const saved = await checkpointOf(id);
    candidates.push({ id, record, savedAt: saved?.savedAt ?? 0, release });
  }
  candidates.sort((a, b) => b.savedAt - a.savedAt);
  const pruned = [];
  for (const [i, c] of candidates.entries()) {
    if (i >= KEEP_CHECKPOINTS) {
      await forgetCheckpoint(c.id);
      pruned.push(c.record ?? { id: c.id });
    }
    c.release();
  }
  return pruned;
}

/** Pins a run (its checkpoint is never pruned) or unpins it. */
export const pin = (id, pinned) => saveRecord(id, { pinned });

/** Deletes a run: its record and its checkpoint (no other run's). */
export async function deleteRun(id) {
  await store.remove(RECORD + id).catch(() => {});
  await forgetCheckpoint(id);
}

/** Tells the app's other tabs that the runs changed (a run started, ended, was imported). */
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("wgpu-mnist-runs") : null;
export const announce = () => channel?.postMessage("changed");
export const onChange = (f) => channel?.addEventListener("message", f);

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

const isCheckpoint = (c) => c && c.bytes instanceof Uint8Array && Number.isFinite(c.epoch) && Number.isFinite(c.step) && tilesItsFile(c.bytes);

/** Whether safetensors `bytes` are whole: the header's length within the file, its JSON
 * readable, and the last tensor ending where the file ends (a truncated checkpoint is
 * skipped when the runs are listed, not offered and then refused). The wasm reader checks
 * everything else when the run is continued. */
function tilesItsFile(bytes) {
  if (bytes.length < 8) return false;
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > bytes.length - 8) return false;
  try {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const end = Math.max(0, ...Object.entries(header).filter(([k]) => k !== "__metadata__").map(([, t]) => t.data_offsets?.[1] ?? Infinity));
    return end === bytes.length - 8 - headerLength;
  } catch {
    return false;
  }
}

/** The page's single checkpoint from before runs had ids becomes a run of its own. */
async function adoptLegacyCheckpoint() {
  const saved = await store.get(LEGACY_CHECKPOINT).catch(() => undefined);
  if (!saved) return;
  const id = newRunId();
  await saveCheckpoint(id, saved);
  await saveRecord(id, { preset: saved.fileName?.replace(/\.safetensors$/, ""), state: "interrupted", startedAt: saved.savedAt });
  await store.remove(LEGACY_CHECKPOINT);
}
