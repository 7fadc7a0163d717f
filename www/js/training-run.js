// One training run, without the DOM: its state, the loop of chunks (each sized so it
// takes about the backend's chunk time, the event loop served between them), the
// checkpoints that a reload, a lost device or a divergence go back to, and going back.
// Where the steps execute is the backend's (js/run-backends.js); what the person sees is
// the panel's (js/training.js), told through `view`.

import * as runs from "./runs.js";
import { hooks, expose } from "./test-hooks.js";

const MAX_CHUNK_STEPS = 500;
/** How often the page takes a worker's weights for its live predictions. */
const SYNC_MS = 1000;
/** A metric window (a row of the run's record, and of `train --log`'s CSV) closes after
 * this many training images. */
const WINDOW_IMAGES = 2000;
/** Images/s is measured over this much recent training time. */
const RATE_WINDOW_MS = 4000;
/** A checkpoint of the run (weights, optimizer state, position) goes to IndexedDB this
 * often and at every epoch's end, so a reload or a crashed tab can continue the run. */
const CHECKPOINT_MS = 1000 * hooks.checkpointEverySeconds;
/** Whether an error says the GPU device was lost (its kind, from wasm's `Error::DeviceLost`). */
export const isDeviceLoss = (e) => e?.kind === "device_lost";

export class TrainingRun {
  /** "running", "paused", "finished", or "idle" once stopped for good. */
  state = "paused";
  /** The run's newest checkpoint (also in IndexedDB unless storage refused it). */
  saved = null;
  /** Where the last chunk left the run: {epoch, step, stepsPerEpoch}. */
  position = null;
  /** Set when the page's weights changed under a worker's run (fine-tuning). */
  staleWeights = false;
  /** Set to a reason ("hidden") to take a checkpoint after the chunk in flight. */
  checkpointSoon = null;
  #looping = false;
  /** Record writes, one after another (each reads and merges the last). */
  #writes = Promise.resolve();
  #lastSync = 0;
  #lastCheckpoint = null;

  /** `id`: the run's (js/runs.js; a continued run keeps its id); `info`: what the
   * backend's start or resume resolved to; `history`: a continued run's record
   * ({windows, seconds, reached}). */
  constructor(app, id, backend, info, view, history = {}) {
    Object.assign(this, { app, id, backend, view });
    /** The run's metric windows (js/runs.js `HEADER`'s columns), training seconds, and the
     * seconds at which the test accuracy first reached 98% and 99%. */
    this.windows = [...(history.windows ?? [])];
    this.seconds = history.seconds ?? 0;
    this.reached = { ...(history.reached ?? {}) };
    this.pending = { examples: 0, loss: 0, correct: 0, ms: 0 };
    this.batch = info.batch;
    this.stepsPerEpoch = info.steps_per_epoch;
    this.epochs = info.epochs;
    this.workers = info.workers ?? (backend.inWorker ? 1 : 0);
    // `at`: the run's position in steps from its first (a continued run starts past 0).
    this.at = info.epoch ? (info.epoch - 1) * info.steps_per_epoch + info.step : 0;
    this.stats = { chunks: 0, stepsDone: 0, lastSteps: 1, msPerStep: null, activeMs: 0, recent: [] };
    this.started = performance.now();
    expose({ trainingIn: backend.inWorker ? "worker" : "page", trainingWorkers: this.workers, runId: id });
  }

  #setState(state) {
    this.state = state;
    if (state !== "running") this.#closeWindow();
    this.view.state(this, state);
    this.#record({ state: state === "idle" ? "stopped" : state });
  }

  /** Updates the run's record in IndexedDB (a storage failure is said by the checkpoints). */
  #record(fields = {}) {
    const all = { position: this.position, workers: this.workers, windows: this.windows, seconds: this.seconds, reached: this.reached, ...fields };
    this.#writes = this.#writes.then(() => runs.saveRecord(this.id, all)).then(runs.announce, () => {});
  }

  pause() {
    if (this.state === "running") this.#setState("paused");
  }

  /** Stops the run for good (its model was replaced, or a new run starts). */
  stop() {
    if (this.state !== "idle") this.#setState("idle");
  }

  /**
   * Runs chunks until paused, stopped or finished. Resume while the previous loop still
   * waits for its last chunk lets that loop carry on instead of starting a second one.
   */
  async loop() {
    this.#setState("running");
    if (this.#looping) return;
    this.#looping = true;
    try {
      if (this.staleWeights) {
        await this.backend.pushWeights();
        this.staleWeights = false;
      }
      while (this.state === "running") {
        const chunk = await this.#chunk();
        if (this.state === "idle") return; // the model was replaced meanwhile
        this.#tally(chunk);
        this.position = { epoch: chunk.epoch, step: chunk.step, stepsPerEpoch: chunk.steps_per_epoch };
        if (this.backend.inWorker && this.backend.engine === "gpu" && this.stats.stepsDone >= hooks.loseDeviceAfter && !TrainingRun.deviceLossForced) {
          TrainingRun.deviceLossForced = true; // once per page: the continued run trains on
          await this.backend.loseDevice();
        }
        if (chunk.epoch_done || chunk.finished || performance.now() - this.#lastSync > SYNC_MS) await this.#pullWeights();
        // A chunk on the page's CPU engine resolves without a macrotask (no GPU readback
        // to wait for): hand the event loop a turn, so input, predictions and painting go on.
        await yieldToEventLoop();
        if (chunk.epoch_done) await this.#epochEnd(chunk);
        if (chunk.finished) {
          await runs.forgetCheckpoint(this.id);
          this.#setState("finished");
        } else if (chunk.epoch_done || this.checkpointSoon || performance.now() - (this.#lastCheckpoint ?? this.started) > CHECKPOINT_MS) {
          await this.checkpoint(chunk, this.checkpointSoon || (chunk.epoch_done ? "epoch" : "timer"));
        }
        if (!chunk.finished && this.at >= hooks.stopAfter) this.#setState("paused");
      }
    } catch (e) {
      if (this.state !== "idle") await this.#fail(e);
      return;
    } finally {
      this.#looping = false;
    }
    if (this.state === "idle") return;
    try {
      await this.#pullWeights();
    } catch (e) {
      await this.#fail(e);
      return;
    }
    await this.app.models.trained(this.state === "finished" ? "trained in this browser" : "trained in this browser (paused)");
  }

  /** One chunk, sized from the measured time per step. */
  async #chunk() {
    const s = this.stats;
    const target = this.backend.chunkMs;
    const steps = s.msPerStep != null ? Math.max(1, Math.min(MAX_CHUNK_STEPS, Math.round(target / s.msPerStep), 2 * s.lastSteps)) : 1;
    const chunk = await this.backend.chunk(Math.min(steps, hooks.stopAfter - this.at));
    chunk.steps = Math.round(chunk.examples / this.batch);
    return chunk;
  }

  #tally(c) {
    const s = this.stats;
    s.chunks += 1;
    s.stepsDone += c.steps;
    this.seconds += c.ms / 1000;
    const w = this.pending;
    Object.assign(w, { examples: w.examples + c.examples, loss: w.loss + c.loss * c.examples, correct: w.correct + c.accuracy * c.examples, ms: w.ms + c.ms });
    w.at = { epoch: c.epoch, step: c.step, steps_per_epoch: c.steps_per_epoch };
    if (w.examples >= WINDOW_IMAGES) this.#closeWindow();
    this.at = (c.epoch - 1) * c.steps_per_epoch + c.step;
    s.lastSteps = Math.max(1, c.steps);
    s.activeMs += c.ms;
    // The first chunk of a run includes compiling the pipelines: the second one's time
    // replaces its estimate, and it does not count towards images/s.
    const perStep = c.ms / s.lastSteps;
    s.msPerStep = s.chunks <= 2 ? perStep : 0.6 * s.msPerStep + 0.4 * perStep;
    if (s.chunks > 1) s.recent.push({ ms: c.ms, examples: c.examples });
    while (s.recent.length > 1 && sum(s.recent, "ms") - s.recent[0].ms > RATE_WINDOW_MS) s.recent.shift();
    const rate = s.recent.length ? (1000 * sum(s.recent, "examples")) / sum(s.recent, "ms") : NaN;
    const stepsLeft = (c.epochs - c.epoch) * c.steps_per_epoch + (c.steps_per_epoch - c.step);
    this.view.chunk(this, c, { rate, elapsedS: s.activeMs / 1000, etaS: (stepsLeft * this.batch) / rate });
    this.stepsPerEpoch = c.steps_per_epoch;
    if (this.backend.live) this.app.emit("weights-changed", { live: true, epochs: this.at / c.steps_per_epoch });
  }

  /** The training window so far becomes a row of the run's metrics. */
  #closeWindow() {
    const w = this.pending;
    if (!w.examples) return;
    const row = { kind: "train", ...w.at, seconds: this.seconds, examples: w.examples, loss: w.loss / w.examples, accuracy: w.correct / w.examples };
    this.windows.push({ ...row, images_per_s: w.ms > 0 ? (1000 * w.examples) / w.ms : null });
    this.pending = { examples: 0, loss: 0, correct: 0, ms: 0 };
  }

  /** A worker's run: the page's model takes its latest weights. */
  async #pullWeights() {
    this.#lastSync = performance.now();
    if (await this.backend.pullWeights(() => this.state !== "idle")) this.app.emit("weights-changed", { live: true, epochs: this.at / (this.stepsPerEpoch ?? NaN) });
  }

  async #epochEnd(c) {
    this.view.status(`Epoch ${c.epoch} done: measuring test accuracy on 10,000 images…`);
    try {
      const t = await this.backend.evaluate();
      this.#closeWindow();
      this.windows.push({ kind: "test", epoch: c.epoch, step: c.step, steps_per_epoch: c.steps_per_epoch, seconds: this.seconds, examples: t.examples, loss: t.loss, accuracy: t.accuracy, images_per_s: null });
      for (const target of [98, 99]) if (this.reached[target] == null && t.accuracy >= target / 100) this.reached[target] = this.seconds;
      this.#record();
      this.view.testAccuracy(this, c.epoch, t);
    } catch (e) {
      this.view.testFailed(this, e);
    }
    await this.app.models.trained("trained in this browser");
    this.app.emit("epoch-end", { epoch: c.epoch, accuracy: this.windows.findLast((w) => w.kind === "test" && w.epoch === c.epoch)?.accuracy });
    this.view.state(this, this.state); // restore the status line
  }

  /** Takes the run's checkpoint: kept in memory (a lost device or a divergence goes back
   * to it) and in IndexedDB (a reload or a crashed tab continues from it); the newest
   * replaces the last. `reason` ("start", "timer", "epoch", "hidden") is for the tests. */
  async checkpoint(at, reason) {
    this.#lastCheckpoint = performance.now();
    this.checkpointSoon = null;
    let saved;
    try {
      const bytes = await this.backend.checkpoint();
      saved = { fileName: `${this.app.models.name ?? "model"}.safetensors`, bytes, savedAt: Date.now(), epoch: at.epoch, step: at.step, stepsPerEpoch: at.steps_per_epoch, epochs: at.epochs, batch: this.batch };
      this.saved = saved;
      await runs.saveCheckpoint(this.id, saved);
      this.view.checkpointKept(this, reason);
    } catch (e) {
      // A lost device fails the run's next chunk, which says so: not a storage problem.
      if (!isDeviceLoss(e)) await this.view.checkpointNotKept(this, e, saved);
    }
  }

  /** The run's newest checkpoint: the one in memory, else the one in IndexedDB. */
  async newest() {
    return this.saved ?? (await runs.checkpointOf(this.id));
  }

  /** A failed run ends (its worker is replaced at the next start; the page's model keeps
   * the last weights it took). A worker's lost GPU device is offered to continue from
   * the newest checkpoint on a new device; a diverged run's model goes back to it. */
  async #fail(e) {
    this.backend.end();
    this.stop();
    if (this.backend.inWorker && this.backend.engine === "gpu" && isDeviceLoss(e)) {
      const saved = await this.newest();
      const at = this.position;
      const redone = saved && at ? (at.epoch - saved.epoch) * at.stepsPerEpoch + (at.step - saved.step) : null;
      this.#record({ state: "device lost" });
      this.view.deviceLost(this, e, saved && at ? { saved, at, redone } : null);
    } else if (e?.kind === "diverged") {
      this.#record({ state: "diverged" });
      this.view.diverged(this, e, await this.#rollBack());
    } else this.view.failed(this, e);
  }

  /** A diverged run: the model goes back to the run's newest checkpoint (all finite).
   * Resolves to {saved} once back, {error} if that failed too, or null without one. */
  async #rollBack() {
    const saved = await this.newest();
    if (!saved) return null;
    try {
      await this.view.install(saved, `back to the checkpoint of epoch ${saved.epoch}, step ${saved.step} (training diverged after it)`);
      // Its recipe diverges: it is not offered to continue after a reload.
      await runs.forgetCheckpoint(this.id);
      await this.app.models.save();
      return { saved };
    } catch (error) {
      return { error };
    }
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
