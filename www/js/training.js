// Live training: the form, Start / Pause / Resume / Reset, and the loop that runs
// train_chunk with a step count sized so each chunk takes about CHUNK_MS, yielding to
// the event loop between chunks so drawing stays responsive. The chunks run in a Web
// Worker (js/train-worker.js; on the GPU engine with a WebGPU device of its own) and the
// page's copy of the model follows the worker's weights every SYNC_MS, so drawing never
// waits for a step. Where no worker can run, the page trains itself.

import { $, errorText, notify, dismiss, pct, duration } from "./util.js";
import { TrainingChart } from "./chart.js";
import { TrainWorker } from "./trainer-client.js";
import * as store from "./store.js";

const CHUNK_MS = 200;
/** On the CPU engine a chunk holds the main thread while it runs: keep it short (the
 * per-chunk overhead there is a function call, not a GPU submit and readback). */
const CPU_CHUNK_MS = 50;
/** In the worker a chunk blocks nothing the person sees: longer chunks cost fewer messages. */
const WORKER_CHUNK_MS = 200;
const MAX_CHUNK_STEPS = 500;
/** How often the page takes the worker's weights for its live predictions. */
const SYNC_MS = 1000;
/** Images/s is measured over this much recent training time. */
const RATE_WINDOW_MS = 4000;
/** Test hook: ?stopAfter=N pauses training once the run reaches its step N (counted from
 * the run's first step, so a continued run stops where an uninterrupted one would). */
const STOP_AFTER = Number(new URLSearchParams(location.search).get("stopAfter")) || Infinity;
/** A checkpoint of the run (weights, optimizer state, position) goes to IndexedDB this
 * often and at every epoch's end, so a reload or a crashed tab can continue the run
 * (?checkpointEvery=SECONDS: the end-to-end tests use a short one). */
/** Test hook: ?loseDeviceAfter=N destroys the training worker's GPU device after N steps. */
const LOSE_DEVICE_AFTER = Number(new URLSearchParams(location.search).get("loseDeviceAfter")) || Infinity;
const CHECKPOINT_MS = 1000 * (Number(new URLSearchParams(location.search).get("checkpointEvery")) || 30);

export class Training {
  /** "idle" (no trainer), "running", "paused" or "finished". */
  state = "idle";
  /** True while this panel itself replaces the model (so its model-changed is not a stop). */
  #installing = false;

  constructor(app) {
    this.app = app;
    this.wasm = app.wasm;
    this.chart = new TrainingChart($("chart"));
    this.form = $("train-form");
    this.fields = this.form.elements;
    for (const name of this.wasm.presets()) this.fields.preset.add(new Option(name, name));
    this.fields.preset.onchange = () => this.#fillRecipe();
    this.form.onsubmit = (e) => {
      e.preventDefault();
      this.start();
    };
    $("train-pause").onclick = () => this.pause();
    $("train-resume").onclick = () => this.resume();
    $("train-reset").onclick = () => this.reset();
    app.on("model-changed", () => {
      if (!this.#installing) this.stop();
    });
    app.on("capabilities", () => this.#updateControls());
    // A hidden tab may be frozen or discarded (mobile browsers, memory pressure, energy
    // saver) without another event: the run's checkpoint is taken after the chunk in flight.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden" && this.state === "running" && this.run) this.run.checkpointSoon = "hidden";
    });
    // Fine-tuning changed the page's weights: the worker takes them before it trains on.
    app.on("weights-changed", ({ live }) => {
      if (!live && this.run?.worker) this.run.staleWorker = true;
    });
    this.#fillRecipe();
    this.#updateControls();
  }

  /** Fills optimizer, schedule, learning rate, batch and epochs with the preset's recipe. */
  #fillRecipe() {
    const r = JSON.parse(this.wasm.preset_recipe(this.fields.preset.value));
    const f = this.fields;
    // lr arrives as an f32 widened to f64 (0.001000000047...): show it as typed.
    [f.optimizer.value, f.schedule.value, f.lr.value, f.batch.value, f.epochs.value] = [r.optimizer, r.schedule, Number(r.lr.toPrecision(6)), r.batch, r.epochs];
  }

  #config() {
    const f = this.fields;
    return { optimizer: f.optimizer.value, schedule: f.schedule.value, lr: Number(f.lr.value), batch: Number(f.batch.value), epochs: Number(f.epochs.value), seed: Number(f.seed.value) };
  }

  /** Starts training: a fresh model of the picked preset, or the current one if asked. */
  async start() {
    if (this.state === "running") return;
    this.stop();
    const preset = this.fields.preset.value;
    const config = this.#config();
    const fresh = !this.fields.continue.checked;
    this.#setBusy(true);
    this.#status("Starting…");
    try {
      const worker = await this.#trainingWorker();
      const started = await this.app.lock.run(async () => {
        if (fresh) await this.#newModel(preset, config.seed, "trained in this browser");
        if (worker) return { model: await this.wasm.model_bytes() };
        if (this.app.engine === "gpu") this.#tuned(JSON.parse(await this.wasm.autotune(config.batch)), this.wasm.kernel_cache());
        return { info: JSON.parse(this.wasm.start_training(JSON.stringify(config))) };
      });
      let info = started.info;
      if (worker) {
        await worker.sendData(this.app.dataFiles);
        await this.#sendKernels(worker);
        const args = { name: this.app.models.name ?? "model", model: started.model.buffer, config: JSON.stringify(config) };
        info = JSON.parse(await worker.request("start", args, [started.model.buffer]));
        if (info.tuned) this.#tuned(info.tuned, info.kernelCache);
      }
      dismiss("training");
      dismiss("checkpoint");
      await store.remove("checkpoint").catch(() => {});
      this.#begin(info, worker);
      // A first checkpoint at once: a run that diverges early still has finite weights to go back to.
      await this.#checkpoint(this.run, { epoch: 1, step: 0, steps_per_epoch: info.steps_per_epoch, epochs: info.epochs }, "start");
      this.#loop();
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#setBusy(false);
    }
  }

  /** A WebGPU worker gets the kernel timings this browser kept for its device. */
  async #sendKernels(worker) {
    if (worker.engine !== "gpu") return;
    const kept = await store.get("kernels").catch(() => undefined);
    if (kept && !(await worker.request("kernels", { json: kept }))) await store.remove("kernels").catch(() => {});
    this.#status("Starting… (the first start on a device times its GPU kernels, up to 30 s)");
  }

  /** The kernels the autotuner chose for this run: kept (the cache) so the next start times nothing. */
  #tuned(rows, cache) {
    // Passes timed on this page so far (each start with kept timings adds none).
    document.body.dataset.kernelsTimed = Number(document.body.dataset.kernelsTimed ?? 0) + rows.filter((r) => !r.cached).length;
    document.body.dataset.kernels = rows.map((r) => `${r.layer} ${r.pass}: ${r.kernel}`).join("; ");
    store.put("kernels", cache).catch(() => {});
  }

  /** Reset: a fresh random model of the picked preset (stops any training). */
  async reset() {
    this.stop();
    this.#setBusy(true);
    try {
      await this.app.lock.run(() => this.#newModel(this.fields.preset.value, Number(this.fields.seed.value), "new, untrained (random weights)"));
      this.#clearStats();
      this.#status("Reset: the model has random weights. Start to train it.");
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#setBusy(false);
    }
  }

  /** The training worker for the current engine, started on first use and ready; null
   * where none can run (then the page trains itself: no module workers, or no WebGPU in
   * workers for the GPU engine). */
  async #trainingWorker() {
    const engine = this.app.engine;
    if (engine === "gpu" && this.noGpuWorker) return null;
    if (this.worker && (this.worker.dead || this.worker.engine !== engine)) this.worker.end();
    if (!this.worker || this.worker.dead) this.worker = TrainWorker.create(engine);
    try {
      await this.worker?.ready;
    } catch (e) {
      console.warn(`training stays on the page: ${errorText(e)}`);
      this.worker.end();
      this.worker = null;
      if (engine === "gpu") this.noGpuWorker = true;
    }
    return this.worker ?? null;
  }

  /** The page's model takes the worker's latest weights (for predictions, files, analysis). */
  async #syncWeights(run) {
    run.lastSync = performance.now();
    const bytes = await run.worker.request("weights");
    if (this.run !== run) return;
    await this.app.lock.run(() => this.wasm.update_weights(bytes));
    this.app.emit("weights-changed", { live: true });
  }

  async #newModel(preset, seed, origin) {
    this.#installing = true;
    try {
      const name = await this.wasm.new_model(preset, seed);
      this.app.models.changed(name, origin);
    } finally {
      this.#installing = false;
    }
  }

  /** The run's bookkeeping, from start_training's answer. */
  #begin(info, worker) {
    // `at`: the run's position in steps from its first (a continued run starts past 0).
    const at = info.epoch ? (info.epoch - 1) * info.steps_per_epoch + info.step : 0;
    this.run = { ...info, worker, at, chunks: 0, stepsDone: 0, lastSteps: 1, msPerStep: null, activeMs: 0, recent: [], started: performance.now() };
    document.body.dataset.trainingIn = worker ? "worker" : "page";
    document.body.dataset.trainingWorkers = info.workers ?? (worker ? 1 : 0);
    this.#clearStats();
    this.#progress(0, info.steps_per_epoch, 1, info.epochs);
  }

  #clearStats() {
    this.chart.reset();
    for (const id of ["train-loss", "train-acc", "test-acc", "train-rate", "train-elapsed", "train-eta"]) $(id).textContent = "–";
    $("epoch-bar").value = 0;
    $("epoch-label").textContent = "";
    for (const key of ["trainAccuracy", "trainRate", "trainSteps", "testAccuracy"]) delete document.body.dataset[key];
  }

  pause() {
    if (this.state === "running") this.#setState("paused");
  }

  /** Stops the loop for good (the model changed, so the wasm side dropped its trainer). */
  stop() {
    if (this.state !== "idle") this.#setState("idle");
  }

  resume() {
    if (this.state === "paused") this.#loop();
  }

  /**
   * The training loop: one chunk at a time until paused, stopped or finished. A loop
   * belongs to one run; Resume while the previous loop still waits for its last chunk
   * lets that loop carry on instead of starting a second one.
   */
  async #loop() {
    const run = this.run;
    this.#setState("running");
    if (run.looping) return;
    run.looping = true;
    try {
      if (run.worker && run.staleWorker) {
        const model = await this.app.lock.run(() => this.wasm.model_bytes());
        await run.worker.request("setWeights", { model: model.buffer }, [model.buffer]);
        run.staleWorker = false;
      }
      while (this.state === "running" && this.run === run) {
        let chunk;
        try {
          chunk = await this.#chunk(run);
        } catch (e) {
          if (this.run === run && this.state !== "idle") this.#fail(e);
          return;
        }
        if (this.run !== run || this.state === "idle") return; // the model was replaced meanwhile
        this.#record(chunk);
        run.position = { epoch: chunk.epoch, step: chunk.step, stepsPerEpoch: chunk.steps_per_epoch };
        if (run.worker?.engine === "gpu" && !this.deviceLossForced && run.stepsDone >= LOSE_DEVICE_AFTER) {
          this.deviceLossForced = true; // once per page: the continued run trains on
          await run.worker.request("loseDevice");
        }
        if (run.worker && (chunk.epoch_done || chunk.finished || performance.now() - (run.lastSync ?? 0) > SYNC_MS)) {
          try {
            await this.#syncWeights(run);
          } catch (e) {
            // The worker failed between chunks (its GPU device lost): as a failed chunk.
            if (this.run === run && this.state !== "idle") this.#fail(e);
            return;
          }
        }
        // A chunk on the page's CPU engine resolves without a macrotask (no GPU readback to
        // wait for): hand the event loop a turn, so input, predictions and painting go on.
        await yieldToEventLoop();
        if (chunk.epoch_done) await this.#epochEnd(chunk);
        if (chunk.finished) {
          await store.remove("checkpoint").catch(() => {});
          this.#setState("finished");
        } else if (chunk.epoch_done || run.checkpointSoon || performance.now() - (run.lastCheckpoint ?? run.started) > CHECKPOINT_MS) {
          await this.#checkpoint(run, chunk, run.checkpointSoon || (chunk.epoch_done ? "epoch" : "timer"));
        }
        if (!chunk.finished && run.at >= STOP_AFTER) this.#setState("paused");
      }
    } finally {
      run.looping = false;
    }
    if (this.run === run && this.state !== "idle") {
      try {
        if (run.worker) await this.#syncWeights(run);
      } catch (e) {
        this.#fail(e);
        return;
      }
      await this.app.models.trained(this.state === "finished" ? "trained in this browser" : "trained in this browser (paused)");
    }
  }

  /** One train_chunk, sized from the measured time per step. */
  async #chunk(run) {
    const target = run.worker ? WORKER_CHUNK_MS : this.app.engine === "cpu" ? CPU_CHUNK_MS : CHUNK_MS;
    const steps = run.msPerStep != null ? Math.max(1, Math.min(MAX_CHUNK_STEPS, Math.round(target / run.msPerStep), 2 * run.lastSteps)) : 1;
    const n = Math.min(steps, STOP_AFTER - run.at);
    const timed = async (f) => {
      const t0 = performance.now();
      const r = await f();
      return [r, performance.now() - t0];
    };
    const [json, ms] = run.worker
      ? await timed(() => run.worker.request("chunk", { steps: n }))
      : await this.app.lock.run(() => timed(() => this.wasm.train_chunk(n)));
    const chunk = JSON.parse(json);
    chunk.ms = ms;
    chunk.steps = Math.round(chunk.examples / run.batch);
    return chunk;
  }

  #record(c) {
    const run = this.run;
    run.chunks += 1;
    run.stepsDone += c.steps;
    run.at = (c.epoch - 1) * c.steps_per_epoch + c.step;
    run.lastSteps = Math.max(1, c.steps);
    run.activeMs += c.ms;
    // The first chunk of a run includes compiling the pipelines: the second one's time
    // replaces its estimate, and it does not count towards images/s.
    const perStep = c.ms / run.lastSteps;
    run.msPerStep = run.chunks <= 2 ? perStep : 0.6 * run.msPerStep + 0.4 * perStep;
    if (run.chunks > 1) run.recent.push({ ms: c.ms, examples: c.examples });
    while (run.recent.length > 1 && sum(run.recent, "ms") - run.recent[0].ms > RATE_WINDOW_MS) run.recent.shift();
    const rate = run.recent.length ? (1000 * sum(run.recent, "examples")) / sum(run.recent, "ms") : NaN;
    const stepsLeft = (c.epochs - c.epoch) * c.steps_per_epoch + (c.steps_per_epoch - c.step);
    const x = c.epoch - 1 + c.step / c.steps_per_epoch;

    this.chart.add({ x, loss: c.loss, accuracy: c.accuracy });
    $("train-loss").textContent = c.loss.toFixed(3);
    $("train-acc").textContent = pct(c.accuracy);
    const cores = this.run.workers > 1 ? ` (${this.run.workers} workers)` : "";
    $("train-rate").textContent = Number.isFinite(rate) ? `${Math.round(rate).toLocaleString()} images/s${cores}` : "–";
    $("train-elapsed").textContent = duration(run.activeMs / 1000);
    $("train-eta").textContent = duration((stepsLeft * run.batch) / rate);
    Object.assign(document.body.dataset, { trainAccuracy: c.accuracy.toFixed(4), trainRate: rate.toFixed(1), trainSteps: run.stepsDone });
    this.#progress(c.step, c.steps_per_epoch, c.epoch, c.epochs);
    if (!run.worker) this.app.emit("weights-changed", { live: true });
  }

  async #epochEnd(c) {
    this.#status(`Epoch ${c.epoch} done: measuring test accuracy on 10,000 images…`);
    try {
      const worker = this.run?.worker;
      const t = JSON.parse(await (worker ? worker.request("evaluate") : this.app.lock.run(() => this.wasm.evaluate_test())));
      this.chart.addTest({ x: c.epoch, accuracy: t.accuracy });
      $("test-acc").textContent = `${pct(t.accuracy, 2)} (epoch ${c.epoch})`;
      document.body.dataset.testAccuracy = t.accuracy.toFixed(4);
    } catch (e) {
      notify("warn", `Could not measure the test accuracy: ${errorText(e)}`, "evaluate");
    }
    await this.app.models.trained("trained in this browser");
    this.app.emit("epoch-end", { epoch: c.epoch });
    this.#setState(this.state); // restore the status line
  }

  /** Takes the run's checkpoint: kept in memory (a lost device or a divergence goes back
   * to it) and in IndexedDB (a reload or a crashed tab continues from it); the newest
   * replaces the last. `reason` ("start", "timer", "epoch", "hidden") is for the tests. */
  async #checkpoint(run, chunk, reason) {
    run.lastCheckpoint = performance.now();
    run.checkpointSoon = null;
    let saved;
    try {
      const bytes = run.worker ? await run.worker.request("checkpoint") : await this.app.lock.run(() => this.wasm.checkpoint_bytes());
      saved = { fileName: `${this.app.models.name ?? "model"}.safetensors`, bytes, savedAt: Date.now(), epoch: chunk.epoch, step: chunk.step, stepsPerEpoch: chunk.steps_per_epoch, epochs: chunk.epochs, batch: run.batch };
      run.saved = saved;
      await store.put("checkpoint", saved);
      document.body.dataset.checkpoints = Number(document.body.dataset.checkpoints ?? 0) + 1;
      document.body.dataset.checkpointReason = reason;
      dismiss("checkpoint-save");
    } catch (e) {
      // A lost device fails the run's next chunk, which says so: not a storage problem.
      if (isDeviceLoss(e)) return;
      const where = saved ? `the run's newest checkpoint (epoch ${saved.epoch}, step ${saved.step}) is kept in memory only: a lost GPU device or a diverging run still goes back to it, but a reload or a closed tab would lose the run` : "training goes on, but a reload would start it again";
      const why = store.isQuotaError(e) ? await store.fullText() : errorText(e);
      notify("warn", `Could not keep a checkpoint of this run in the browser's storage: ${why}. ${where[0].toUpperCase()}${where.slice(1)}. Download the model to keep it${store.isQuotaError(e) ? ", or free this site's storage in the browser's settings" : ""}.`, "checkpoint-save");
      document.body.dataset.checkpointsInMemory = Number(document.body.dataset.checkpointsInMemory ?? 0) + (saved ? 1 : 0);
    }
  }

  /** The run's newest checkpoint: the one in memory, else the one in IndexedDB. */
  async #newest(run) {
    return run?.saved ?? (await store.get("checkpoint").catch(() => undefined));
  }

  /** At start: a run that a reload or a crash interrupted is offered to continue. */
  async offerInterrupted() {
    const saved = await store.get("checkpoint").catch(() => undefined);
    if (!saved) return;
    const when = new Date(saved.savedAt).toLocaleString();
    const banner = notify("info", `A training run was interrupted at epoch ${saved.epoch} of ${saved.epochs}, step ${saved.step} of ${saved.stepsPerEpoch} (checkpoint kept ${when}).`, "checkpoint");
    const button = Object.assign(document.createElement("button"), { id: "train-continue", type: "button", textContent: "Continue it" });
    button.onclick = () => this.continueFrom(saved);
    banner.querySelector("div").append(button);
  }

  /** Continues an interrupted run from its checkpoint: weights, optimizer state, position. */
  async continueFrom(saved) {
    this.stop();
    dismiss("checkpoint");
    this.#setBusy(true);
    this.#status("Restoring the checkpoint…");
    try {
      const worker = await this.#trainingWorker();
      let info = await this.app.lock.run(async () => {
        this.#installing = true;
        try {
          const name = await this.wasm.load_model(saved.fileName, saved.bytes);
          this.app.models.changed(name, `restored from a checkpoint (epoch ${saved.epoch}, step ${saved.step})`);
        } finally {
          this.#installing = false;
        }
        if (worker) return null;
        // The kernels the run started with (the cache knows them: nothing is timed again).
        if (this.app.engine === "gpu" && saved.batch) this.#tuned(JSON.parse(await this.wasm.autotune(saved.batch)), this.wasm.kernel_cache());
        return JSON.parse(this.wasm.resume_training(saved.fileName, saved.bytes));
      });
      if (worker) {
        await worker.sendData(this.app.dataFiles);
        await this.#sendKernels(worker);
        const bytes = saved.bytes.slice().buffer;
        info = JSON.parse(await worker.request("resume", { name: saved.fileName, bytes, batch: saved.batch }, [bytes]));
        if (info.tuned) this.#tuned(info.tuned, info.kernelCache);
      }
      this.#begin(info, worker);
      document.body.dataset.resumedAt = `${info.epoch}:${info.step}`;
      this.#progress(info.step, info.steps_per_epoch, info.epoch, info.epochs);
      this.#loop();
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#setBusy(false);
    }
  }

  #progress(step, stepsPerEpoch, epoch, epochs) {
    $("epoch-bar").value = step / stepsPerEpoch;
    $("epoch-label").textContent = `Epoch ${epoch} of ${epochs} · step ${step} of ${stepsPerEpoch}`;
  }

  #fail(e) {
    // A worker whose run failed (divergence, a crash, a lost device, running out of
    // memory) is replaced at the next start; the page's model keeps the last weights it
    // took from it.
    const run = this.run;
    if (run?.worker) run.worker.end();
    this.#setState("idle");
    if (run?.worker?.engine === "gpu" && isDeviceLoss(e)) this.#offerAfterLoss(run, e);
    else if (/diverged/.test(errorText(e))) this.#rollBack(run, e);
    else notify("error", `Training stopped: ${errorText(e)}`, "training");
  }

  /** A diverged run: the model goes back to the run's newest checkpoint (all finite). */
  async #rollBack(run, e) {
    const saved = await this.#newest(run);
    let back = "";
    if (saved) {
      try {
        await this.app.lock.run(async () => {
          this.#installing = true;
          try {
            const name = await this.wasm.load_model(saved.fileName, saved.bytes);
            this.app.models.changed(name, `back to the checkpoint of epoch ${saved.epoch}, step ${saved.step} (training diverged after it)`);
          } finally {
            this.#installing = false;
          }
        });
        back = ` The weights went back to the run's newest checkpoint (epoch ${saved.epoch}, step ${saved.step}).`;
        // Its recipe diverges: it is not offered to continue after a reload.
        await store.remove("checkpoint").catch(() => {});
        await this.app.models.save();
      } catch (err) {
        back = ` Going back to the newest checkpoint failed too (${errorText(err)}).`;
      }
    }
    notify("error", `Training stopped: ${errorText(e)}.${back}`, "training");
  }

  /** The training worker's GPU device was lost: a new worker gets a new device, and the
   * run continues from its newest checkpoint with one click (the steps since are redone). */
  async #offerAfterLoss(run, e) {
    const saved = await this.#newest(run);
    const at = run.position;
    if (!saved || !at) {
      notify("error", `Training stopped: ${errorText(e)}. No checkpoint of this run was kept yet: start it again.`, "training");
      return;
    }
    const redone = (at.epoch - saved.epoch) * at.stepsPerEpoch + (at.step - saved.step);
    const banner = notify(
      "error",
      `The GPU device was lost while training (epoch ${at.epoch}, step ${at.step}). The run can go on from its newest checkpoint (epoch ${saved.epoch}, step ${saved.step}) on a new device; ${redone} step${redone === 1 ? "" : "s"} will be redone.`,
      "checkpoint",
      errorText(e),
    );
    const button = Object.assign(document.createElement("button"), { id: "train-continue", type: "button", textContent: "Continue it" });
    button.onclick = () => this.continueFrom(saved);
    banner.querySelector("div").append(button);
    document.body.dataset.stepsToRedo = redone;
  }

  #setState(state) {
    this.state = state;
    document.body.dataset.training = state;
    const text = {
      idle: this.run ? "Stopped." : "Pick a preset and press Start.",
      running: "Training…",
      paused: "Paused. Resume to continue.",
      finished: "Finished: every epoch is done.",
    }[state];
    this.#status(text);
    this.#updateControls();
    this.app.emit("training-state", { state });
  }

  #status(text) {
    $("train-status").textContent = text;
  }

  #setBusy(busy) {
    this.busy = busy;
    this.#updateControls();
  }

  /** Enables what makes sense now; says why training is unavailable. */
  #updateControls() {
    const { canTrain, dataReady } = this.app;
    const can = canTrain && dataReady && !this.busy;
    const running = this.state === "running";
    $("train-start").disabled = !can || running;
    $("train-pause").disabled = !running;
    $("train-resume").disabled = !can || this.state !== "paused";
    $("train-reset").disabled = !canTrain || this.busy;
    for (const el of this.form.querySelectorAll("input, select")) el.disabled = !canTrain || running;
    $("train-note").textContent = !dataReady ? "Waiting for the data set to download…" : `Trains on the ${this.app.engine === "gpu" ? "GPU" : "CPU engine"}.`;
  }
}

const sum = (rows, key) => rows.reduce((s, r) => s + r[key], 0);

/** Resolves after pending input and rendering tasks (a MessageChannel task: setTimeout's clamp would cost 4 ms a chunk). */
function yieldToEventLoop() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** Whether an error says the GPU device was lost (wasm's `Error::DeviceLost` text). */
function isDeviceLoss(e) {
  return /device (was )?lost|GPU device lost/i.test(errorText(e));
}
