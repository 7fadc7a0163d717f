// The caller's side of js/train-worker.js: starts the worker with the app's own wasm
// module and turns its messages into promises. The page uses it for its training worker,
// and that worker for its helpers (data-parallel training).

export class TrainWorker {
  #worker;
  #next = 0;
  #pending = new Map();
  #dataSent = false;
  /** Set once the worker failed or was ended: a new one must be started. */
  dead = false;

  /** Null where module workers or the wasm URLs are missing (training then stays on the
   * page). `engine`: "cpu", or "gpu" for a worker with its own WebGPU device. */
  static create(engine = "cpu") {
    const glue = document.querySelector('link[rel="modulepreload"][href*="wgpu-mnist"]')?.href;
    const module = document.querySelector('link[rel="preload"][href$=".wasm"]')?.href;
    if (!glue || !module || typeof Worker === "undefined") return null;
    return new TrainWorker(glue, module, new URL("js/train-worker.js", document.baseURI), "coordinator", engine);
  }

  constructor(glue, module, script, role = "coordinator", engine = "cpu") {
    this.engine = engine;
    this.#worker = new Worker(script, { type: "module" });
    this.#worker.onmessage = ({ data: { id, result, error } }) => {
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      if (error !== undefined) p.reject(Object.assign(new Error(error.message), { kind: error.kind }));
      else p.resolve(result);
    };
    this.#worker.onerror = (e) => this.end(`the training worker failed: ${e.message || "no reason given"}`);
    this.ready = this.request("init", { glue, module, role, engine });
  }

  /** Stops the worker (after a failure its wasm instance cannot be trusted) and rejects what is pending. */
  end(reason = "the training worker was stopped") {
    this.dead = true;
    this.#worker.terminate();
    for (const p of this.#pending.values()) p.reject(new Error(reason));
    this.#pending.clear();
  }

  request(type, args = {}, transfer = []) {
    if (this.dead) return Promise.reject(new Error("the training worker has stopped"));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, type, args }, transfer);
    });
  }

  /** Gives the worker its copy of the data set (once). */
  async sendData(files) {
    if (this.#dataSent) return;
    await this.ready;
    await this.request("data", { files: files.map((f) => f.slice().buffer) });
    this.#dataSent = true;
  }
}
