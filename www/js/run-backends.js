// Where a training run's steps execute, behind one shape: a training worker
// (js/train-worker.js: the CPU engine, or WebGPU on a device of its own), or the page's own
// wasm session where no worker can run. The run (js/training-run.js) calls the same
// methods on either and never asks which it has.

import { errorText } from "./util.js";
import { hooks, expose } from "./test-hooks.js";
import { parallelCores, lastParallel } from "./cores.js";
import { TrainWorker } from "./trainer-client.js";
import * as store from "./store.js";

/** The chunk a run asks for takes about this long: on the page's GPU engine a chunk is one submit and readback. */
const PAGE_GPU_CHUNK_MS = 200;
/** On the page's CPU engine a chunk holds the main thread while it runs: keep it short. */
const PAGE_CPU_CHUNK_MS = 50;
/** In a worker a chunk blocks nothing the person sees: longer chunks cost fewer messages. */
const WORKER_CHUNK_MS = 200;

/** The page trains itself, on its own session (under the app's GPU job lock). */
class PageBackend {
  constructor(app) {
    this.app = app;
    this.engine = app.engine;
    this.inWorker = false;
    /** The page's model is the trained one: predictions follow every chunk. */
    this.live = true;
    this.chunkMs = this.engine === "cpu" ? PAGE_CPU_CHUNK_MS : PAGE_GPU_CHUNK_MS;
  }

  /** Starts a run of `config` on the page's current model; resolves to start_training's
   * answer, with `tuned` and `kernelCache` on WebGPU (the kernels timed first). */
  start(config) {
    return this.#tunedThen(config.batch, () => this.app.session.start_training(config));
  }

  /** Continues the checkpoint `saved`, which the page just loaded as its model. */
  resume(saved) {
    return this.#tunedThen(saved.batch, () => this.app.session.resume_training(saved.fileName, saved.bytes));
  }

  #tunedThen(batch, run) {
    const session = this.app.session;
    return this.app.lock.run(async () => {
      const tuned = this.engine === "gpu" && batch ? await session.autotune(batch) : undefined;
      const info = run();
      return tuned ? { ...info, tuned, kernelCache: session.kernel_cache() } : info;
    });
  }

  /** Runs up to `steps` steps; resolves to the chunk's report with its time `ms`. */
  chunk(steps) {
    return this.app.lock.run(async () => {
      const t0 = performance.now();
      const report = await this.app.session.train_chunk(steps);
      return { ...report, ms: performance.now() - t0 };
    });
  }

  evaluate() {
    return this.app.lock.run(() => this.app.session.evaluate_test());
  }

  checkpoint() {
    return this.app.lock.run(() => this.app.session.checkpoint_bytes());
  }

  /** The page's model already holds the run's weights: nothing to take. */
  async pullWeights() {
    return false;
  }

  /** Nothing to give: the run trains the page's own model. */
  async pushWeights() {}

  /** Test hook: only a worker's own GPU device is destroyed. */
  async loseDevice() {}

  end() {}
}

/** A training worker runs the steps; the page follows its weights now and then. */
class WorkerBackend {
  constructor(app, worker) {
    this.app = app;
    this.worker = worker;
    this.engine = worker.engine;
    this.inWorker = true;
    this.live = false;
    this.chunkMs = WORKER_CHUNK_MS;
  }

  /** Starts a run of `config` on a copy of the page's current model in the worker. */
  async start(config) {
    const model = await this.app.lock.run(() => this.app.session.model_bytes());
    await this.#prepare();
    const args = { name: this.app.models.name ?? "model", model: model.buffer, config, workers: await this.#workers() };
    return this.worker.request("start", args, [model.buffer]);
  }

  /** Workers for a run: ?workers=N, else the cores that truly run at once (js/cores.js). */
  async #workers() {
    if (hooks.workers) return hooks.workers;
    const cores = await parallelCores();
    expose({ cores: String(cores), coresMeasured: lastParallel?.toFixed(2) ?? "" });
    return cores;
  }

  /** Continues the checkpoint `saved` in the worker. */
  async resume(saved) {
    await this.#prepare();
    const bytes = saved.bytes.slice().buffer;
    return this.worker.request("resume", { name: saved.fileName, bytes, batch: saved.batch, workers: await this.#workers() }, [bytes]);
  }

  /** The worker's copy of the data set, and on WebGPU the kernel timings this browser
   * kept for its device (a refused copy is deleted). */
  async #prepare() {
    await this.worker.sendData(this.app.dataFiles);
    if (this.engine !== "gpu") return;
    const kept = await store.get("kernels").catch(() => undefined);
    if (kept && !(await this.worker.request("kernels", { json: kept }))) await store.remove("kernels").catch(() => {});
  }

  async chunk(steps) {
    const t0 = performance.now();
    const report = await this.worker.request("chunk", { steps });
    return { ...report, ms: performance.now() - t0 };
  }

  evaluate() {
    return this.worker.request("evaluate");
  }

  checkpoint() {
    return this.worker.request("checkpoint");
  }

  /** The page's model takes the worker's latest weights (for predictions, files,
   * analysis), unless `stillCurrent()` says the run was replaced meanwhile. */
  async pullWeights(stillCurrent) {
    const bytes = await this.worker.request("weights");
    if (!stillCurrent()) return false;
    await this.app.lock.run(() => this.app.session.update_weights(bytes));
    return true;
  }

  /** The worker takes the page's weights (changed by fine-tuning), keeping its optimizer state. */
  async pushWeights() {
    const model = await this.app.lock.run(() => this.app.session.model_bytes());
    await this.worker.request("setWeights", { model: model.buffer }, [model.buffer]);
  }

  /** Test hook (?loseDeviceAfter=N): the worker's GPU device is destroyed. */
  loseDevice() {
    return this.worker.request("loseDevice");
  }

  /** A worker whose run failed cannot be trusted again: the next run starts a new one. */
  end() {
    this.worker.end();
  }
}

/** Picks where each run trains: a worker for the current engine (started on first use,
 * kept between runs), or the page where none can run (no module workers; no WebGPU in
 * workers for the GPU engine). */
export class Backends {
  #worker = null;
  #noGpuWorker = false;

  constructor(app) {
    this.app = app;
  }

  async get() {
    const engine = this.app.engine;
    if (!(engine === "gpu" && this.#noGpuWorker)) {
      if (this.#worker && (this.#worker.dead || this.#worker.engine !== engine)) this.#worker.end();
      if (!this.#worker || this.#worker.dead) this.#worker = TrainWorker.create(engine);
      try {
        const build = await this.#worker?.ready;
        this.app.wasmBuild = build ?? null;
        if (build) expose({ wasmBuild: build });
      } catch (e) {
        this.app.wasmBuild = null;
        console.warn(`training stays on the page: ${errorText(e)}`);
        this.#worker.end();
        this.#worker = null;
        if (engine === "gpu") this.#noGpuWorker = true;
      }
    }
    const usable = this.#worker && !this.#worker.dead && this.#worker.engine === engine;
    return usable ? new WorkerBackend(this.app, this.#worker) : new PageBackend(this.app);
  }
}
