// How many cores can really run at once. `navigator.hardwareConcurrency` alone
// oversubscribes where it overstates them (WebKitGTK reported 4 on a 2-core machine, and
// its 4 training workers ran 15% slower than 2): this times the same busy loop on one
// worker, then on as many as the browser reports at once; the ratio is the cores that
// truly ran in parallel. About 0.3 s, once per worker lifetime.

const SPIN = `onmessage = (e) => {
  const t0 = performance.now();
  let x = 0;
  for (let i = 0; i < e.data; i++) x += Math.sqrt(i + x % 7);
  postMessage([performance.now() - t0, x]);
};`;

/** Runs the loop of `iterations` on `n` workers at once; resolves to the best wall time (ms)
 * of three rounds (other work on the machine only ever makes a round slower). */
async function spin(n, iterations) {
  const url = URL.createObjectURL(new Blob([SPIN], { type: "text/javascript" }));
  const workers = Array.from({ length: n }, () => new Worker(url));
  try {
    // A warm-up round (start-up and compilation), then the timed one.
    const round = () => Promise.all(workers.map((w) => new Promise((done) => {
      w.onmessage = () => done();
      w.postMessage(iterations);
    })));
    await round();
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await round();
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  } finally {
    workers.forEach((w) => w.terminate());
    URL.revokeObjectURL(url);
  }
}

let measured = null;
/** What the last measurement saw (cores that ran at once, unrounded), for the benchmark. */
export let lastParallel = null;

/** The cores that run in parallel here, at most `reported` (navigator.hardwareConcurrency). */
export function parallelCores(reported = self.navigator?.hardwareConcurrency ?? 1) {
  if (reported <= 1 || typeof Worker === "undefined") return Promise.resolve(1);
  // Two reported cores are taken as they are: the measurement is noisiest there (1.0-2.0
  // on this 2-core VM while other tabs trained), and a count that changed between a run
  // and its continuation would change its rounding (the two-tab test requires the same
  // weights as a run never interrupted).
  if (reported <= 2) return Promise.resolve(reported);
  measured ??= (async () => {
    const iterations = 2_000_000; // about 20 ms of one core
    const one = await spin(1, iterations);
    const all = await spin(reported, iterations);
    // n loops in `all` ms against one in `one`: (n * one / all) cores ran them at once.
    // Noise either way (WebKitGTK's 4 measured 1.6 and once 2.4+ on this 2-core VM): the
    // reported count stands only if nearly all of it ran at once.
    const parallel = (reported * one) / all;
    lastParallel = parallel;
    return parallel >= 0.8 * reported ? reported : Math.max(1, Math.min(reported - 1, Math.round(parallel)));
  })().catch(() => reported);
  return measured;
}
