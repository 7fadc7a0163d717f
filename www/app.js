// The page's entry point: starts the data download at once, waits for trunk to start
// the wasm module, connects to WebGPU, loads a model so drawing works right away, then
// wires the panels together. Each panel lives in js/.

import { $, Mutex, errorText, notify } from "./js/util.js";
import { downloadMnist, TestSet } from "./js/data.js";
import { DrawingPad } from "./js/pad.js";
import { Predictor } from "./js/predictor.js";
import { Models } from "./js/models.js";
import { Training } from "./js/training.js";
import { Analysis } from "./js/analysis.js";
import { Views } from "./js/views.js";
import { Compare } from "./js/compare.js";
import { PersonalSet } from "./js/personal.js";
import { setUpSelfTest } from "./js/selftest.js";
import * as store from "./js/store.js";
import { hooks, expose } from "./js/test-hooks.js";

const GPU_POLL_MS = 3000;

/**
 * What the panels share: the wasm exports, the GPU job lock, capabilities, the test
 * split, and events ("model-changed", "weights-changed", "epoch-end",
 * "training-state", "capabilities").
 */
class App extends EventTarget {
  lock = new Mutex();
  webgpu = false;
  /** "gpu" or "cpu": where the model trains and predicts. Training works on either. */
  engine = "cpu";
  canTrain = true;
  dataReady = false;
  testSet = null;
  on(type, handler) {
    this.addEventListener(type, (e) => handler(e.detail));
  }
  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function whenWasmReady() {
  return new Promise((resolve) => {
    if (window.wasmBindings) return resolve(window.wasmBindings);
    addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true });
  });
}

/** Starts downloading MNIST, reporting progress in the header (every browser trains). */
function startDataDownload(unpackAfter) {
  const mb = (b) => (b / 1e6).toFixed(1);
  return downloadMnist((received, total) => {
    $("data-progress").value = received / total;
    $("data-label").textContent = `Downloading MNIST: ${mb(received)} of ${mb(total)} MB`;
  }, unpackAfter);
}

async function loadData(app, download) {
  try {
    const files = await download;
    $("data-label").textContent = "Unpacking MNIST…";
    app.session.load_data(...files);
    app.dataFiles = files;
    app.testSet = new TestSet(files[2], files[3]);
    app.dataReady = true;
    $("data-progress").value = 1;
    $("data-label").textContent = `MNIST: 60,000 training and ${app.testSet.size.toLocaleString()} test images`;
    expose({ dataReady: "1", dataReadyMs: performance.now().toFixed(0) });
    app.emit("capabilities");
  } catch (e) {
    $("data-label").textContent = "The data set did not load.";
    notify("error", `Could not load the MNIST data set: ${errorText(e)}. Drawing still works; training needs the data.`, "data");
  }
}

/** The engine line: which engine runs and why, and the adapter when there is WebGPU. */
async function showEngine(app, init) {
  const el = $("adapter");
  el.classList.remove("error");
  let details = "";
  if (init.webgpu) {
    try {
      const info = (await navigator.gpu.requestAdapter())?.info;
      details = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ");
    } catch {
      // The name from wgpu is enough.
    }
  }
  const gpuName = details || init.adapter;
  el.textContent = app.engine === "gpu" ? `GPU: ${gpuName}` : `CPU engine: ${init.reason}`;
  el.title = app.engine === "gpu" ? `wgpu: ${init.adapter}` : `${init.cpu}${init.webgpu ? `; WebGPU adapter: ${gpuName}` : ""}`;
  const select = $("engine-select");
  select.value = app.engine;
  select.querySelector('option[value="gpu"]').disabled = !init.webgpu;
  expose({ engine: app.engine });
}

/** The engine picker: moves the model to the other engine (weights kept; training stops). */
function setUpEnginePicker(app, init) {
  const select = $("engine-select");
  select.onchange = async () => {
    const engine = select.value;
    app.training.stop();
    try {
      await app.lock.run(() => app.session.set_engine(engine));
      app.engine = engine;
      init.reason = "picked on this page";
      await showEngine(app, init);
      app.models.changed(app.models.name ?? "model", "moved to the " + engine.toUpperCase() + " engine");
    } catch (e) {
      select.value = app.engine;
      notify("error", `Could not switch the engine: ${errorText(e)}`, "engine");
    }
    app.emit("capabilities");
  };
}

/** Watches for a lost device: the model moves to the CPU engine, which trains too. */
function watchGpu(app, init) {
  const timer = setInterval(async () => {
    const status = app.session.gpu_status();
    if (!status.startsWith("lost")) return;
    clearInterval(timer);
    app.webgpu = false;
    init.webgpu = false;
    app.training.stop();
    if (app.engine === "gpu") {
      try {
        await app.lock.run(() => app.session.set_engine("cpu"));
      } catch {
        // The reference network still predicts from the last copy.
      }
      app.engine = "cpu";
    }
    init.reason = "the GPU device was lost";
    await showEngine(app, init);
    $("adapter").classList.add("error");
    notify("error", `The GPU device was lost (${status.slice(5).trim() || "no reason given"}). The model moved to the CPU engine, which trains and recognises digits too.`, "gpu-lost");
    app.emit("capabilities");
  }, GPU_POLL_MS);
}

/** The pad's view toggle: the drawing, or the 28x28 input laid over it. */
function setUpPadView() {
  const show = (input) => {
    $("pad-input").hidden = !input;
    $("view-drawing").setAttribute("aria-pressed", String(!input));
    $("view-input").setAttribute("aria-pressed", String(input));
  };
  $("view-drawing").onclick = () => show(false);
  $("view-input").onclick = () => show(true);
}

async function main() {
  // The data downloads at once but unpacks once the first model is in (or failed to load).
  let modelSettled;
  const download = startDataDownload(new Promise((resolve) => (modelSettled = resolve)));
  // The pad works before the wasm module is ready; the first prediction catches up.
  const pad = new DrawingPad($("pad"));
  $("clear").onclick = () => pad.clear();
  setUpPadView();
  const app = new App();
  // One Session holds this page's models, data and training run (src/web).
  app.session = new (await whenWasmReady()).Session();
  // The end-to-end tests read the page's model through it (and a person may, in the console).
  window.appSession = app.session;
  const init = await app.session.init();
  app.webgpu = init.webgpu;
  app.engine = init.engine;
  // The GPU kernels timed on this device at an earlier start (training runs the fastest).
  const kernels = await store.get("kernels").catch(() => undefined);
  if (kernels) {
    try {
      app.session.set_kernel_cache(kernels);
    } catch {
      await store.remove("kernels").catch(() => {});
    }
  }
  expose({ webgpu: String(init.webgpu) });
  // ?engine=gpu|cpu overrides the automatic choice (the end-to-end tests use it).
  const asked = hooks.engine;
  if (asked && asked !== app.engine) {
    try {
      await app.session.set_engine(asked);
      app.engine = asked;
      init.reason = "asked for in the address";
    } catch (e) {
      notify("error", `Could not use the ${asked} engine: ${errorText(e)}`, "engine");
    }
  }
  if (!init.webgpu) notify("info", "No usable WebGPU here: the CPU engine trains and recognises digits instead.", "webgpu", init.error);
  showEngine(app, init);

  const predictor = new Predictor(app.session, pad);
  app.models = new Models(app);
  app.training = new Training(app);
  new Analysis(app);
  new Views(app, predictor, pad);
  new Compare(app);
  new PersonalSet(app, predictor);
  setUpSelfTest(app);
  setUpEnginePicker(app, init);
  app.on("model-changed", () => predictor.schedule());
  // Live training changes the weights every chunk: refresh the guess; fine-tuning replaces it.
  app.on("weights-changed", ({ live }) => (live ? predictor.refresh() : predictor.schedule()));
  if (app.webgpu) watchGpu(app, init);

  await Promise.all([
    app.models.loadInitial().then(() => {
      predictor.ready();
      expose({ modelReadyMs: performance.now().toFixed(0) });
    }).finally(modelSettled),
    download && loadData(app, download),
  ]);
  // Offered once the data and a model are in place, so Continue can act at once.
  await app.training.offerInterrupted();
}

addEventListener("unhandledrejection", (e) => notify("error", `Something went wrong: ${errorText(e.reason)}`, "unexpected"));
// scripts/bench-browser.mjs drives the wasm module itself on "?bench": the app stays out of its way.
if (!hooks.bench) {
  main().catch((e) => notify("error", `The app could not start: ${errorText(e)}`, "start"));
}
