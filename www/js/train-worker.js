// The CPU engine's training, off the page's main thread: a second instance of the same
// wasm module, holding its own copy of the data set and of the model being trained. The
// page sends requests ({id, type, args}) and gets {id, result} or {id, error} back, so
// drawing and live predictions never wait for a training step.

let wasm = null;

const handlers = {
  /** Loads the app's wasm module (its URLs come from the page) on the CPU engine. */
  async init({ glue, module }) {
    const m = await import(glue);
    await m.default({ module_or_path: module });
    m.use_cpu_engine();
    wasm = m;
    return true;
  },
  data({ files }) {
    wasm.load_data(...files.map((b) => new Uint8Array(b)));
    return true;
  },
  /** A model file and a training config: resolves to start_training's answer. */
  async start({ name, model, config }) {
    await wasm.load_model(name, new Uint8Array(model));
    return wasm.start_training(config);
  },
  chunk({ steps }) {
    return wasm.train_chunk(steps);
  },
  evaluate() {
    return wasm.evaluate_test();
  },
  /** The trained weights, as a model file. */
  weights() {
    return wasm.model_bytes();
  },
  /** Weights changed on the page (fine-tuning): take them, keeping the optimizer state. */
  setWeights({ model }) {
    wasm.update_weights(new Uint8Array(model));
    return true;
  },
};

self.onmessage = async ({ data: { id, type, args } }) => {
  try {
    const result = await handlers[type](args);
    self.postMessage({ id, result }, result instanceof Uint8Array ? [result.buffer] : []);
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
};
