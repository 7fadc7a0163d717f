// Training off the page's main thread: a second instance of the same wasm module, holding
// its own copy of the data set and of the model being trained, on the CPU engine or on a
// WebGPU device of its own. The
// page sends requests ({id, type, args}) and gets {id, result} or {id, error} back, so
// drawing and live predictions never wait for a training step.
//
// On a machine with more than one core this worker (the coordinator) starts helpers, one
// per further core that runs in parallel (measured by the page, js/cores.js; up to
// MAX_WORKERS in all), each with its own copy of the data and the
// model: every step, each computes the gradient of its share of the batch, the
// coordinator combines them and all apply the same update (src/train/parallel.rs), for
// networks whose step does not depend on how the batch is cut (no batch norm, no dropout).

import { TrainWorker } from "./trainer-client.js";

/** Workers in all, coordinator included. */
const MAX_WORKERS = 4;

/** This worker's wasm Session (src/web). */
let session = null;
let role = "coordinator";
/** The wasm build this worker loaded ({ name, glue, module }); its helpers load the same. */
let build = null;
let files = null;
/** "gpu" or "cpu": the engine this worker trains on. */
let workerEngine = "cpu";
/** The helpers of the current run (empty: this worker trains alone). */
let helpers = [];
/** Helpers started so far, kept between runs (their wasm and data are ready). */
let spare = [];

/** Helpers for a run: as many as further cores, started once, given the data. */
async function helpersFor(count) {
  while (spare.length < count && typeof Worker !== "undefined") {
    const h = new TrainWorker([build], new URL("train-worker.js", import.meta.url), "helper");
    await h.ready;
    await h.request("data", { files: files.map((b) => b.slice(0)) });
    spare.push(h);
  }
  return spare.slice(0, count);
}

/** Loads `file` (a model file or a checkpoint) as the model, starts the run with `run()`,
 * and, as the coordinator of a splittable run, has helpers do the same (`type` request,
 * `extra` fields). On WebGPU with `batch` given, the model's kernels are first chosen by
 * timing them on this device (`autotune`; instant when the kernel cache knows them).
 * Resolves to the run's info with `workers`, and on WebGPU `tuned` and `kernelCache`. */
async function begin(type, name, file, workers, run, extra, batch) {
  const copy = role === "coordinator" ? file.slice(0) : null;
  await session.load_model(name, new Uint8Array(file));
  const tuned = workerEngine === "gpu" && batch ? await session.autotune(batch) : undefined;
  const info = run();
  if (tuned) Object.assign(info, { tuned, kernelCache: session.kernel_cache() });
  // The page says how many (js/cores.js: cores that truly run at once; or ?workers=N).
  const cores = Math.min(workers ?? self.navigator?.hardwareConcurrency ?? 1, MAX_WORKERS);
  helpers = role === "coordinator" && cores > 1 && session.splittable() ? await helpersFor(cores - 1) : [];
  const field = type === "start" ? "model" : "bytes";
  await Promise.all(helpers.map((h) => h.request(type, { name, [field]: copy.slice(0), ...extra })));
  return { ...info, workers: helpers.length + 1 };
}

/** `steps` data-parallel steps (not past the epoch's end), reported as train_chunk does. */
async function parallelChunk(steps) {
  session.begin_chunk();
  const applied = [];
  for (let s = 0; s < steps; s++) {
    const plan = session.next_shards(helpers.length + 1);
    if (plan == null) break;
    const shards = plan;
    const pending = helpers.map((h, i) => h.request("grads", { ids: shards[i + 1] }));
    const parts = [session.shard_gradients(new Uint32Array(shards[0])), ...(await Promise.all(pending))];
    const grads = session.combine_gradients(parts.map((p) => p.grads), new Uint32Array(parts.map((p) => p.count)));
    const sum = (key) => parts.reduce((t, p) => t + p[key], 0);
    session.apply_gradients(grads, sum("loss"), sum("correct"), sum("count"));
    for (const h of helpers) applied.push(h.request("apply", { grads: grads.buffer.slice(0) }));
  }
  await Promise.all(applied);
  return session.chunk_report();
}

const handlers = {
  /** Loads the first of the app's wasm builds that loads here (their URLs come from the
   * page, js/wasm-build.js), on the CPU engine; resolves to its name. */
  async init({ builds, role: r, engine }) {
    let m;
    for (const [i, b] of builds.entries()) {
      try {
        m = await import(b.glue);
        await m.default({ module_or_path: b.module });
        build = b;
        break;
      } catch (e) {
        if (i === builds.length - 1) throw e;
      }
    }
    // A session starts on the CPU engine; a GPU worker connects to WebGPU first.
    const s = new m.Session();
    if (engine === "gpu") {
      // WebGPU in a worker (Chrome, Edge; where a browser has none there, the page trains).
      const found = await s.init();
      if (!found.webgpu) throw new Error(`no WebGPU in this worker: ${found.error}`);
      await s.set_engine("gpu");
    }
    session = s;
    workerEngine = engine;
    role = r ?? "coordinator";
    return build.name;
  },
  data({ files: f }) {
    session.load_data(...f.map((b) => new Uint8Array(b)));
    files = f;
    return true;
  },
  /** A model file and a training config: resolves to start_training's answer, with
   * `workers`, how many workers share each step (at most `workers` if given, else one
   * per core). */
  start({ name, model, config, workers }) {
    return begin("start", name, model, workers, () => session.start_training(config), { config }, config.batch);
  },
  /** A checkpoint a page saved: the run continues where it stopped (helpers too). */
  resume({ name, bytes, workers, batch }) {
    return begin("resume", name, bytes, workers, () => session.resume_training(name, new Uint8Array(bytes)), {}, batch);
  },
  /** The kernel cache the page kept (`kernel_cache` JSON); false if it was refused. */
  kernels({ json }) {
    try {
      session.set_kernel_cache(json);
      return true;
    } catch {
      return false;
    }
  },
  /** Test hook (?loseDeviceAfter=N on the page): this worker's GPU device is destroyed. */
  loseDevice() {
    session.lose_gpu_device_for_tests();
    return true;
  },
  /** The run as a checkpoint file. */
  checkpoint() {
    return session.checkpoint_bytes();
  },
  chunk({ steps }) {
    return helpers.length ? parallelChunk(steps) : session.train_chunk(steps);
  },
  /** A helper's share of a step: the mean gradient over these training images. */
  grads({ ids }) {
    return session.shard_gradients(new Uint32Array(ids));
  },
  /** A helper applies the step's combined gradient, as the coordinator did. */
  apply({ grads }) {
    session.apply_gradients(new Float32Array(grads), 0, 0, 0);
    return true;
  },
  evaluate() {
    return session.evaluate_test();
  },
  /** The trained weights, as a model file. */
  weights() {
    return session.model_bytes();
  },
  /** Weights changed on the page (fine-tuning): take them, keeping the optimizer state. */
  async setWeights({ model }) {
    await Promise.all(helpers.map((h) => h.request("setWeights", { model: model.slice(0) })));
    session.update_weights(new Uint8Array(model));
    return true;
  },
};

self.onmessage = async ({ data: { id, type, args } }) => {
  try {
    const result = await handlers[type](args);
    const transfer = result instanceof Uint8Array ? [result.buffer] : result?.grads instanceof Float32Array ? [result.grads.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    // The error's kind (src/web/error.rs) travels with it, so the page can switch on it.
    self.postMessage({ id, error: { message: String(e?.message ?? e), kind: e?.kind } });
  }
};
