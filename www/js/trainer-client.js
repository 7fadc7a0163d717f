// The caller's side of js/train-worker.js: starts the worker with the app's own wasm
// module and turns its messages into promises. The page uses it for its training worker,
// and that worker for its helpers (data-parallel training).

import { wasmBuilds } from "./wasm-build.js";

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
    const builds = wasmBuilds(engine);
    if (!builds.length || typeof Worker === "undefined") return null;
    return new TrainWorker(builds, new URL("js/train-worker.js", document.baseURI), "coordinator", engine);
  }

  /** `builds`: the wasm builds to try in turn ([{ name, glue, module }], js/wasm-build.js);
   * `ready` resolves to the one that loaded. */
  constructor(builds, script, role = "coordinator", engine = "cpu") {
    this.engine = engine;
    this.#worker = new Worker(script, { type: "module" });
    this.#worker.onmessage = ({ data: { id, result, error } }) => {
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      if (error !== undefined) p.reject(Object.assign(new Error(error.message), { kind: error.kind }));
      else p.resolve(result);
    };
    this.#worker.onerror = (e) => this.end(`the training worker failed: ${e.message || "no reason given"}`);
    this.ready = this.request("init", { builds, role, engine });
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
