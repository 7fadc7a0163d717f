// Every hook the page reads from its address, in one place: the end-to-end tests and the
// benchmark drive the app through them; a person never needs them.

const params = new URLSearchParams(location.search);
const number = (name) => Number(params.get(name)) || undefined;

export const hooks = Object.freeze({
  /** ?engine=gpu|cpu: use this engine instead of the automatic choice. */
  engine: params.get("engine") ?? undefined,
  /** ?bench: scripts/bench-browser.mjs drives the wasm module itself; the app stays out of its way. */
  bench: params.has("bench"),
  /** ?stopAfter=N: pause training once the run reaches its step N (counted from the
   * run's first step, so a continued run stops where an uninterrupted one would). */
  stopAfter: number("stopAfter") ?? Infinity,
  /** ?loseDeviceAfter=N: destroy the training worker's GPU device after N steps. */
  loseDeviceAfter: number("loseDeviceAfter") ?? Infinity,
  /** ?workers=N: train on N workers (at most), not the count the page picks (the benchmark measures 1, 2, 4). */
  workers: number("workers"),
  /** ?simd=128: training workers load the simd128 build even where relaxed SIMD runs (js/wasm-build.js). */
  simd: params.get("simd") ?? undefined,
  /** ?checkpointEvery=SECONDS: how often a running run keeps a checkpoint (default 30). */
  checkpointEverySeconds: number("checkpointEvery") ?? 30,
});

/** Publishes values on `<body data-*>`, where the end-to-end tests read the page's state. */
export function expose(values) {
  Object.assign(document.body.dataset, values);
}

/** Adds `by` to the counter `key` on `<body data-*>`. */
export function count(key, by = 1) {
  document.body.dataset[key] = Number(document.body.dataset[key] ?? 0) + by;
}

/** Removes values from `<body data-*>`. */
export function unexpose(...keys) {
  for (const key of keys) delete document.body.dataset[key];
}
