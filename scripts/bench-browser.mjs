// The in-browser benchmark: builds nothing itself (run `trunk build --release` first, or
// use scripts/bench), serves dist/, opens it in headless Chromium with WebGPU, loads
// MNIST into the page and runs the same benchmark code as `wgpu-mnist bench`, then
// prints the table. Usage: [WINDOWS=5] [IMAGES=1000] node scripts/bench-browser.mjs [models] [batches]
// [--profile] [--conv=tiled|direct] [--engine=gpu|cpu] (cpu: the CPU engine's wasm, simd128,
// one thread, with WebGPU unused) [--time-to-accuracy=fast,pytorch-cnn] (instead of the
// throughput table: each preset trained by its recipe, seconds to 98% and 99% test accuracy;
// with --engine=cpu it trains as the app does, in its training worker and that worker's
// helpers, one per further core; --workers=1 keeps to one; --seed=N another seed than 1)
import { serveDist, launch } from "../tests/e2e/harness.mjs";

const [models = "pytorch-cnn", batches = "64,200"] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const profile = process.argv.includes("--profile");
const conv = (process.argv.find((a) => a.startsWith("--conv=")) || "").slice(7) || undefined;
const engine = (process.argv.find((a) => a.startsWith("--engine=")) || "").slice(9) || "gpu";
const tta = (process.argv.find((a) => a.startsWith("--time-to-accuracy=")) || "").slice(19);
const maxWorkers = Number((process.argv.find((a) => a.startsWith("--workers=")) || "").slice(10)) || undefined;
// (--batch=N --chunks=N: another batch size, and stop after N tenths of an epoch: a quick
// images/s of the worker path.)
const batchArg = Number((process.argv.find((a) => a.startsWith("--batch=")) || "").slice(8)) || undefined;
// (--epochs=N --lr=X: the recipe's epochs and peak learning rate, for a variant of a preset's recipe.)
const epochsArg = Number((process.argv.find((a) => a.startsWith("--epochs=")) || "").slice(9)) || undefined;
const lrArg = Number((process.argv.find((a) => a.startsWith("--lr=")) || "").slice(5)) || undefined;
const chunksArg = Number((process.argv.find((a) => a.startsWith("--chunks=")) || "").slice(9)) || Infinity;
// (--seed=N: the initial weights and the shuffle of --time-to-accuracy in workers; default 1.)
const seedArg = Number((process.argv.find((a) => a.startsWith("--seed=")) || "").slice(7)) || 1;
// (--peak: only the CPU's multiply-add peak in this wasm build, one thread: with --simd=relaxed
// the relaxed-SIMD build's.)
// (--simd=128: the training workers load the simd128 build where the relaxed-SIMD one would
// run; --simd=relaxed: the page's own measurements run on the relaxed-SIMD build, from
// dist/relaxed/ or RELAXED_DIR.)
const simdArg = (process.argv.find((a) => a.startsWith("--simd=")) || "").slice(7);
const server = await serveDist(process.env.DIST || undefined);
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", String(e)));
  await page.goto(server.url + "?bench" + (simdArg ? `&simd=${simdArg}` : ""));
  await page.waitForFunction(() => window.wasmBindings, null, { timeout: 120_000 });
  const result = await page.evaluate(async ({ models, batches, profile, conv, engine, env, tta, maxWorkers, batchArg, chunksArg, seedArg, simdArg, epochsArg, lrArg }) => {
    // --simd=relaxed: the page's own measurements run on the relaxed-SIMD twin (dist/relaxed/).
    let bindings = window.wasmBindings;
    if (simdArg === "relaxed") {
      bindings = await import(new URL(`${env.RELAXED_DIR}/wgpu-mnist.js`, document.baseURI).href);
      await bindings.default({ module_or_path: new URL(`${env.RELAXED_DIR}/wgpu-mnist_bg.wasm`, document.baseURI).href });
    }
    if (env.PEAK) return { peak: bindings.cpu_peak() };
    const wasm = new bindings.Session();
    const init = await wasm.init();
    if (!init.webgpu && engine === "gpu") throw new Error(init.error);
    const fetchGz = async (name) => {
      const res = await fetch(`data/${name}.gz`);
      const stream = res.body.pipeThrough(new DecompressionStream("gzip"));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    };
    const files = await Promise.all(["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"].map(fetchGz));
    const loading = performance.now();
    wasm.load_data(...files);
    const loadMs = performance.now() - loading;
    if (tta && engine === "cpu") return { tta: await inWorkers(tta.split(","), files), loadMs, adapter: "CPU engine in Web Workers" };
    if (tta) {
      const rows = [];
      for (const preset of tta.split(",")) rows.push({ preset, ...(await wasm.benchmark_time_to_accuracy(engine, preset, 10)) });
      return { tta: rows, loadMs, adapter: init.adapter ?? "" };
    }

    /** The protocol of benchmark::time_to_accuracy, through the app's training worker. */
    async function inWorkers(presets, files) {
      const { TrainWorker } = await import(new URL("js/trainer-client.js", document.baseURI).href);
      const rows = [];
      for (const preset of presets) {
        const setup = performance.now();
        const worker = TrainWorker.create();
        const build = await worker.ready;
        await worker.sendData(files);
        const name = await wasm.new_model(preset, seedArg);
        const bytes = await wasm.model_bytes();
        const info = await worker.request("start", { name, model: bytes.buffer, config: { seed: seedArg, batch: batchArg, epochs: epochsArg, lr: lrArg }, workers: maxWorkers }, [bytes.buffer]);
        const row = { preset, build, batch: info.batch, workers: info.workers, setup_s: (performance.now() - setup) / 1000, reached: [null, null], trained_s: 0, epochs: 1, last_accuracy: 0, examples: 0 };
        const steps = Math.ceil(info.steps_per_epoch / 10);
        let chunksLeft = chunksArg;
        for (;;) {
          const t = performance.now();
          const c = await worker.request("chunk", { steps });
          row.trained_s += (performance.now() - t) / 1000;
          row.epochs = c.epoch;
          row.examples += c.examples;
          row.last_accuracy = (await worker.request("evaluate")).accuracy;
          [0.98, 0.99].forEach((target, i) => { if (row.reached[i] == null && row.last_accuracy >= target) row.reached[i] = row.trained_s; });
          if (c.finished || row.reached.every((r) => r != null) || --chunksLeft <= 0) break;
        }
        worker.end();
        rows.push(row);
      }
      return rows;
    }
    const config = { models: models.split(","), batches: batches.split(",").map(Number), windows: Number(env.WINDOWS || 5), images: Number(env.IMAGES || 1000), profile, conv, engine };
    return await wasm.benchmark(config);
  }, { models, batches, profile, conv, engine, tta, maxWorkers, batchArg, chunksArg, seedArg, simdArg, epochsArg, lrArg, env: { WINDOWS: process.env.WINDOWS, IMAGES: process.env.IMAGES, PEAK: process.argv.includes("--peak"), RELAXED_DIR: process.env.RELAXED_DIR || "relaxed" } });
  const ua = await page.evaluate(() => navigator.userAgent);
  if (result.peak) {
    console.log(`browser: ${ua}\n| wasm build | peak GFLOP/s (1 thread) |\n|---|---|\n| ${result.peak.isa} | ${result.peak.gflops.toFixed(1)} |`);
  } else if (result.tta) {
    const show = (s) => (s == null ? "not reached" : `${s.toFixed(1)} s`);
    console.log(`browser: ${ua}\nengine ${engine}${result.adapter ? `: ${result.adapter}` : ""}; data parsed in ${(result.loadMs / 1000).toFixed(2)} s`);
    console.log("| engine | preset | batch | to 98% | to 99% | last test accuracy measured (epochs begun) | setup s (not timed) | train img/s |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const r of result.tta) {
      console.log(`| ${engine} (browser${r.build ? `, ${r.build}` : ""}${r.workers ? `, ${r.workers} worker${r.workers > 1 ? "s" : ""}` : ""}) | ${r.preset} | ${r.batch} | ${show(r.reached[0])} | ${show(r.reached[1])} | ${(100 * r.last_accuracy).toFixed(2)}% (${r.epochs}) | ${r.setup_s.toFixed(2)} | ${r.examples ? (r.examples / r.trained_s).toFixed(0) : ""} |`);
    }
    console.log(`(training time only, the test set checked 10 times an epoch off the clock; seed ${seedArg})`);
  } else printThroughput(result, ua);
} finally {
  await browser.close();
  server.close();
}

function printThroughput(result, ua) {
  const peak = result.peak_gflops;
  const how = peak ? `, convolutions: ${result.conv}; measured f32 peak ${peak.toFixed(1)} GFLOP/s` : "";
  console.log(`browser: ${ua}\nengine ${engine}: ${result.adapter}${how}`);
  console.log(`| engine | model | batch | train img/s (median of ${process.env.WINDOWS || 5}) | GFLOP/s${peak ? " (% of peak)" : ""} | 1-image inference ms | 1000-image inference ms |`);
  console.log("|---|---|---|---|---|---|---|");
  for (const r of result.rows) {
    const pct = peak ? ` (${((100 * r.gflops) / peak).toFixed(0)}%)` : "";
    console.log(`| ${engine} (browser) | ${r.model} | ${r.batch} | ${r.train_images_per_s.toFixed(0)} | ${r.gflops.toFixed(2)}${pct} | ${r.infer_1_ms.toFixed(2)} | ${r.infer_1000_ms.toFixed(1)} |`);
  }
  for (const p of result.profiles) {
    const total = p.kernels.reduce((s, k) => s + k[1], 0);
    const what = engine === "cpu" ? "by layer and pass (ms, median of 3 steps)" : "(ms, each dispatch alone)";
    console.log(`\ntime of one ${p.model} step at batch ${p.batch} ${what}:`);
    for (const [label, ms] of p.kernels) console.log(`  ${label.padEnd(28)} ${ms.toFixed(2).padStart(8)}  ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
    console.log(`  ${"total".padEnd(28)} ${total.toFixed(2).padStart(8)}`);
    if (!p.inference?.length) continue;
    const all = p.inference.reduce((s, k) => s + k[1], 0);
    console.log(`\ntime of one ${p.model} prediction of 1000 images (ms, each dispatch alone):`);
    for (const [label, ms] of p.inference) console.log(`  ${label.padEnd(28)} ${ms.toFixed(2).padStart(8)}  ${((100 * ms) / all).toFixed(1).padStart(5)}%`);
    console.log(`  ${"total".padEnd(28)} ${all.toFixed(2).padStart(8)}`);
  }
}
