// Corrections: "Not right? This is a [digit]" keeps the current 28x28 input with that
// label in a small personal set (persisted), and "Fine-tune on my digits" trains the
// current model on them mixed with MNIST.

import { $, h, errorText, notify, dismiss, pct, countUp } from "./util.js";
import { digitFigure } from "./digits.js";
import * as store from "./store.js";

const MAX_EXAMPLES = 200;
const FINE_TUNE_STEPS = 20;

export class PersonalSet {
  /** [{label, pixels: Uint8Array(784)}] */
  examples = [];

  constructor(app, predictor) {
    this.app = app;
    this.predictor = predictor;
    this.canFineTune = typeof app.session.fine_tune === "function";
    const buttons = Array.from({ length: 10 }, (_, d) => h("button", { type: "button", className: "digit-button", textContent: d, onclick: () => this.add(d) }));
    $("correct-buttons").replaceChildren(...buttons);
    this.buttons = buttons;
    $("fine-tune").onclick = () => this.fineTune();
    $("personal-clear").onclick = () => this.#set([]);
    predictor.addEventListener("input", () => this.#updateControls());
    for (const type of ["capabilities", "training-state"]) app.on(type, () => this.#updateControls());
    store.get("personal").then((saved) => this.#set(saved ?? [], false)).catch(() => this.#set([], false));
  }

  /** Adds the current drawing's 28x28 input with the label the user gave. */
  add(label) {
    const input = this.predictor.input;
    if (!input) return;
    const pixels = Uint8Array.from(input, (v) => Math.round(v * 255));
    this.#set([...this.examples, { label, pixels }].slice(-MAX_EXAMPLES));
    $("personal-note").textContent = `Added as a ${label}.`;
  }

  #set(examples, persist = true) {
    this.examples = examples;
    if (persist) {
      store.put("personal", examples).then(
        () => dismiss("personal-save"),
        async (e) => {
          if (store.isQuotaError(e)) notify("warn", `Your digits could not be kept in this browser: ${await store.fullText()}. They are used until the page is closed.`, "personal-save");
          else console.warn("could not save the personal digits:", e);
        },
      );
    }
    $("personal").replaceChildren(...examples.map((ex, i) => {
      const fig = digitFigure(ex.pixels, ex.label);
      fig.title = "Click to remove";
      fig.onclick = () => this.#set(this.examples.filter((_, j) => j !== i));
      return fig;
    }));
    $("personal-count").textContent = examples.length ? `${examples.length} of your digits (click one to remove it)` : "None yet.";
    this.#updateControls();
  }

  #updateControls() {
    const { canTrain, dataReady } = this.app;
    const training = this.app.training?.state === "running";
    for (const b of this.buttons) b.disabled = !this.predictor.input;
    $("personal-clear").disabled = !this.examples.length;
    $("fine-tune").disabled = !this.canFineTune || !canTrain || !dataReady || training || !this.examples.length || this.busy;
    $("fine-tune-note").textContent = !this.canFineTune ? "Fine-tuning is not in this build."
      : !dataReady ? "Waiting for the data set…" : training ? "Pause training to fine-tune." : "";
  }

  async fineTune() {
    this.busy = true;
    this.#updateControls();
    const stopCounting = countUp($("personal-note"), "Fine-tuning…");
    try {
      const n = this.examples.length;
      const images = new Float32Array(n * 784);
      this.examples.forEach((ex, i) => images.set(Array.from(ex.pixels, (v) => v / 255), i * 784));
      const labels = Uint8Array.from(this.examples, (ex) => ex.label);
      const t0 = performance.now();
      const r = await this.app.lock.run(() => this.app.session.fine_tune(images, labels, FINE_TUNE_STEPS));
      stopCounting();
      $("personal-note").textContent = `Fine-tuned for ${FINE_TUNE_STEPS} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s (last batch: loss ${r.loss.toFixed(3)}, accuracy ${pct(r.accuracy, 0)}).`;
      dismiss("fine-tune");
      this.app.emit("weights-changed", { live: false });
      await this.app.models.trained("fine-tuned on your digits");
    } catch (e) {
      stopCounting();
      $("personal-note").textContent = "";
      notify("error", `Fine-tuning failed: ${errorText(e)}`, "fine-tune");
    } finally {
      this.busy = false;
      this.#updateControls();
    }
  }
}
