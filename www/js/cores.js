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
  measured ??= (async () => {
    const iterations = 2_000_000; // about 20 ms of one core
    const one = await spin(1, iterations);
    const all = await spin(reported, iterations);
    // n loops in `all` ms against one in `one`: (n * one / all) cores ran them at once.
    // Other work on the page (a prediction, the model's bytes for the workers) can slow a
    // round by a core's share, so the reported count stands unless the loops ran on well
    // under it (on this 2-core VM a measurement inside a worker once gave 1 of Chromium's 2).
    const parallel = (reported * one) / all;
    lastParallel = parallel;
    return parallel >= 0.6 * reported ? reported : Math.max(1, Math.round(parallel));
  })().catch(() => reported);
  return measured;
}
