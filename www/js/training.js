// The training panel: the form, Start / Pause / Resume / Reset, the live numbers and
// charts, and the messages a run's end calls for (a lost device, a divergence, storage
// that is full). The run itself (its loop, checkpoints, going back to one) is
// js/training-run.js, where its steps execute js/run-backends.js.

import { $, errorText, notify, dismiss, pct, duration, announce } from "./util.js";
import { TrainingChart } from "./chart.js";
import { Backends } from "./run-backends.js";
import { TrainingRun } from "./training-run.js";
import * as runs from "./runs.js";
import { expose, count, unexpose } from "./test-hooks.js";
import * as store from "./store.js";

export class Training {
  /** The current run (null before the first start). */
  run = null;
  /** Releases this tab's lock on the current run (js/runs.js). */
  #releaseRun = null;
  /** True while this panel itself replaces the model (so its model-changed is not a stop). */
  #installing = false;

  constructor(app) {
    this.app = app;
    this.session = app.session;
    this.backends = new Backends(app);
    this.chart = new TrainingChart($("chart"));
    this.form = $("train-form");
    this.fields = this.form.elements;
    for (const name of this.session.presets()) this.fields.preset.add(new Option(name, name));
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
      if (document.visibilityState === "hidden" && this.state === "running") this.run.checkpointSoon = "hidden";
    });
    // Fine-tuning changed the page's weights: a worker's run takes them before it trains on.
    app.on("weights-changed", ({ live }) => {
      if (!live && this.run?.backend.inWorker) this.run.staleWeights = true;
    });
    this.#fillRecipe();
    this.#updateControls();
  }

  /** "idle" (no run), "running", "paused" or "finished": the current run's state. */
  get state() {
    return this.run?.state ?? "idle";
  }

  /** Fills optimizer, schedule, learning rate, batch and epochs with the preset's recipe. */
  #fillRecipe() {
    const r = this.session.preset_recipe(this.fields.preset.value);
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
    const config = this.#config();
    this.#setBusy(true);
    this.#status("Starting…");
    try {
      const backend = await this.backends.get();
      if (!this.fields.continue.checked) {
        await this.app.lock.run(() => this.#newModel(this.fields.preset.value, config.seed, "trained in this browser"));
      }
      if (backend.engine === "gpu") this.#status("Starting… (the first start on a device times its GPU kernels, up to 30 s)");
      const info = await backend.start(config);
      if (info.tuned) this.#tuned(info.tuned, info.kernelCache);
      dismiss("training");
      const id = runs.newRunId();
      await runs.saveRecord(id, { preset: this.fields.preset.value, recipe: config, engine: backend.engine, startedAt: Date.now(), state: "running" }).catch(() => {});
      const run = this.#begin(backend, info, id, await runs.holdLock(id));
      const pruned = await runs.pruneCheckpoints(id);
      if (pruned.length) {
        const names = pruned.map((r) => `${r.preset ?? r.name ?? "a run"} (${r.id})`).join(", ");
        notify("info", `To keep this browser's storage in bounds, the checkpoints of ${pruned.length} older run${pruned.length > 1 ? "s" : ""} no tab uses were removed: ${names}. Their curves stay in the runs table; pin a run there to keep its checkpoint.`, "runs-pruned");
        expose({ runsPruned: pruned.map((r) => r.id).join(" ") });
      }
      // A first checkpoint at once: a run that diverges early still has finite weights to go back to.
      await run.checkpoint({ epoch: 1, step: 0, steps_per_epoch: info.steps_per_epoch, epochs: info.epochs }, "start");
      run.loop();
    } catch (e) {
      this.#failed(e);
    } finally {
      this.#setBusy(false);
    }
  }

  /** At start: every run that a reload, a crash or a closed tab interrupted, and that no
   * other tab trains or offers, is offered to continue (this tab holds its lock meanwhile). */
  async offerInterrupted() {
    const { claimed, skipped } = await runs.claimInterrupted();
    for (const { id, why } of skipped) notify("warn", `A stored training run (${id}) was skipped: ${why}.`, `run-skipped-${id}`);
    for (const { record, saved, release } of claimed) {
      const when = new Date(saved.savedAt).toLocaleString();
      const what = record.preset ? `A training run of ${record.preset}` : "A training run";
      const banner = notify("info", `${what} was interrupted at epoch ${saved.epoch} of ${saved.epochs}, step ${saved.step} of ${saved.stepsPerEpoch} (checkpoint kept ${when}).`, `checkpoint-${record.id}`);
      this.#offerContinue(banner, { id: record.id, saved, release, history: record });
    }
    expose({ runsOffered: claimed.length });
  }

  /** Continues an interrupted run from its checkpoint: weights, optimizer state, position.
   * `release`: the lock on the run this tab holds (claimed with the offer). */
  async continueFrom({ id, saved, release, history }) {
    this.stop();
    dismiss(`checkpoint-${id}`);
    this.#setBusy(true);
    this.#status("Restoring the checkpoint…");
    try {
      const backend = await this.backends.get();
      await this.install(saved, `restored from a checkpoint (epoch ${saved.epoch}, step ${saved.step})`);
      // On WebGPU the kernels the run started with come back (the cache knows them: nothing is timed again).
      const info = await backend.resume(saved);
      if (info.tuned) this.#tuned(info.tuned, info.kernelCache);
      this.#begin(backend, info, id, release, runs.historyUpTo(history, saved));
      expose({ resumedAt: `${info.epoch}:${info.step}` });
      this.#progress(info.step, info.steps_per_epoch, info.epoch, info.epochs);
      this.run.loop();
    } catch (e) {
      this.#failed(e);
    } finally {
      this.#setBusy(false);
    }
  }

  /** Loads a checkpoint (or model file) as the page's model without stopping the run
   * that asked for it. */
  async install(saved, origin) {
    await this.app.lock.run(async () => {
      this.#installing = true;
      try {
        const name = await this.session.load_model(saved.fileName, saved.bytes);
        this.app.models.changed(name, origin);
      } finally {
        this.#installing = false;
      }
    });
  }

  /** The kernels the autotuner chose for this run: kept (the cache) so the next start times nothing. */
  #tuned(rows, cache) {
    // Passes timed on this page so far (each start with kept timings adds none).
    count("kernelsTimed", rows.filter((r) => !r.cached).length);
    expose({ kernels: rows.map((r) => `${r.layer} ${r.pass}: ${r.kernel}`).join("; ") });
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
      this.#failed(e);
    } finally {
      this.#setBusy(false);
    }
  }

  async #newModel(preset, seed, origin) {
    this.#installing = true;
    try {
      const name = await this.session.new_model(preset, seed);
      this.app.models.changed(name, origin);
    } finally {
      this.#installing = false;
    }
  }

  /** A new run from the backend's answer (start or resume), holding the run's lock. The
   * run it replaces in this tab lets its lock go (and, unless it was finished, its
   * checkpoint: a tab's newest run replaces its last, as it always did). */
  #begin(backend, info, id, release, history) {
    const old = this.run;
    if (old && old.id !== id) {
      if (old.state !== "finished") runs.forgetCheckpoint(old.id);
      this.#releaseRun?.();
    }
    this.#releaseRun = release;
    this.run = new TrainingRun(this.app, id, backend, info, this.#view(), history);
    this.#clearStats();
    this.#progress(0, info.steps_per_epoch, 1, info.epochs);
    return this.run;
  }

  pause() {
    this.run?.pause();
  }

  /** Stops the run for good (the model changed, so the wasm side dropped its trainer). */
  stop() {
    this.run?.stop();
  }

  resume() {
    if (this.state === "paused") this.run.loop();
  }

  /** What a run reports to the panel. Each callback ignores runs other than the current one. */
  #view() {
    const mine = (run) => run === this.run;
    return {
      state: (run, state) => mine(run) && this.#setState(state),
      status: (text) => this.#status(text),
      chunk: (run, c, r) => mine(run) && this.#showChunk(run, c, r),
      testAccuracy: (run, epoch, t) => {
        if (!mine(run)) return;
        this.chart.addTest({ x: epoch, accuracy: t.accuracy });
        $("test-acc").textContent = `${pct(t.accuracy, 2)} (epoch ${epoch})`;
        announce(`Epoch ${epoch} done: test accuracy ${pct(t.accuracy, 2)}.`);
        expose({ testAccuracy: t.accuracy.toFixed(4) });
      },
      testFailed: (run, e) => notify("warn", `Could not measure the test accuracy: ${errorText(e)}`, "evaluate"),
      checkpointKept: (run, reason) => {
        count("checkpoints");
        expose({ checkpointReason: reason });
        dismiss("checkpoint-save");
      },
      checkpointNotKept: async (run, e, saved) => {
        const full = store.isQuotaError(e);
        const where = saved
          ? `the run's newest checkpoint (epoch ${saved.epoch}, step ${saved.step}) is kept in memory only: a lost GPU device or a diverging run still goes back to it, but a reload or a closed tab would lose the run`
          : "training goes on, but a reload would start it again";
        const why = full ? await store.fullText() : errorText(e);
        notify("warn", `Could not keep a checkpoint of this run in the browser's storage: ${why}. ${where[0].toUpperCase()}${where.slice(1)}. Download the model to keep it${full ? ", or free this site's storage in the browser's settings" : ""}.`, "checkpoint-save");
        count("checkpointsInMemory", saved ? 1 : 0);
      },
      install: (saved, origin) => this.install(saved, origin),
      deviceLost: (run, e, lost) => this.#offerAfterLoss(e, lost),
      diverged: (run, e, back) => {
        const text = !back
          ? ""
          : back.saved
            ? ` The weights went back to the run's newest checkpoint (epoch ${back.saved.epoch}, step ${back.saved.step}).`
            : ` Going back to the newest checkpoint failed too (${errorText(back.error)}).`;
        notify("error", `Training stopped: ${errorText(e)}.${text}`, "training");
      },
      failed: (run, e) => this.#failed(e),
    };
  }

  #showChunk(run, c, { rate, elapsedS, etaS }) {
    const x = c.epoch - 1 + c.step / c.steps_per_epoch;
    this.chart.add({ x, loss: c.loss, accuracy: c.accuracy });
    $("train-loss").textContent = c.loss.toFixed(3);
    $("train-acc").textContent = pct(c.accuracy);
    // Where it trains: "2 workers", and the CPU engine's wasm build ("relaxed SIMD": fused multiply-adds).
    const where = [run.workers > 1 ? `${run.workers} workers` : "", this.app.engine === "cpu" ? this.app.wasmBuild : ""].filter(Boolean).join(", ");
    $("train-rate").textContent = Number.isFinite(rate) ? `${Math.round(rate).toLocaleString()} images/s${where ? ` (${where})` : ""}` : "–";
    $("train-elapsed").textContent = duration(elapsedS);
    $("train-eta").textContent = duration(etaS);
    expose({ trainAccuracy: c.accuracy.toFixed(4), trainRate: rate.toFixed(1), trainSteps: run.stats.stepsDone });
    this.#progress(c.step, c.steps_per_epoch, c.epoch, c.epochs);
  }

  #clearStats() {
    this.chart.reset();
    for (const id of ["train-loss", "train-acc", "test-acc", "train-rate", "train-elapsed", "train-eta"]) $(id).textContent = "–";
    $("epoch-bar").value = 0;
    $("epoch-label").textContent = "";
    unexpose("trainAccuracy", "trainRate", "trainSteps", "testAccuracy");
  }

  #progress(step, stepsPerEpoch, epoch, epochs) {
    $("epoch-bar").value = step / stepsPerEpoch;
    $("epoch-label").textContent = `Epoch ${epoch} of ${epochs} · step ${step} of ${stepsPerEpoch}`;
  }

  /** A start that failed, or a run that ended on an error with nothing to go back to. */
  #failed(e) {
    this.stop();
    notify("error", `Training stopped: ${errorText(e)}`, "training");
  }

  /** A worker's GPU device was lost: a new worker gets a new device, and the run
   * continues from its newest checkpoint with one click (the steps since are redone). */
  #offerAfterLoss(e, lost) {
    if (!lost) {
      notify("error", `Training stopped: ${errorText(e)}. No checkpoint of this run was kept yet: start it again.`, "training");
      return;
    }
    const { saved, at, redone } = lost;
    const text = `The GPU device was lost while training (epoch ${at.epoch}, step ${at.step}). The run can go on from its newest checkpoint (epoch ${saved.epoch}, step ${saved.step}) on a new device; ${redone} step${redone === 1 ? "" : "s"} will be redone.`;
    const { id, windows, seconds, reached } = this.run;
    this.#offerContinue(notify("error", text, `checkpoint-${id}`, errorText(e)), { id, saved, release: this.#releaseRun, history: { windows, seconds, reached } });
    expose({ stepsToRedo: redone });
  }

  /** A "Continue it" button on a banner, for the run `offer` ({id, saved, release}). */
  #offerContinue(banner, offer) {
    const button = Object.assign(document.createElement("button"), { className: "train-continue", type: "button", textContent: "Continue it" });
    if (!document.getElementById("train-continue")) button.id = "train-continue"; // the newest run's, for the tests
    button.dataset.run = offer.id;
    button.onclick = () => this.continueFrom(offer);
    banner.querySelector("div").append(button);
  }

  #setState(state) {
    expose({ training: state });
    const text = {
      idle: this.run ? "Stopped." : "Pick a preset and press Start.",
      running: "Training…",
      paused: "Paused. Resume to continue.",
      finished: "Finished: every epoch is done.",
    }[state];
    this.#status(text);
    if (state === "running" || state === "finished") announce(state === "running" ? "Training started." : "Training finished.");
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
    if (can && !document.body.dataset.trainReadyMs) expose({ trainReadyMs: performance.now().toFixed(0) });
    $("train-pause").disabled = !running;
    $("train-resume").disabled = !can || this.state !== "paused";
    $("train-reset").disabled = !canTrain || this.busy;
    for (const el of this.form.querySelectorAll("input, select")) el.disabled = !canTrain || running;
    $("train-note").textContent = !dataReady ? "Waiting for the data set to download…" : `Trains on the ${this.app.engine === "gpu" ? "GPU" : "CPU engine"}.`;
  }
}
