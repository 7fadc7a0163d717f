// Live recognition: preprocesses the drawing and predicts at most once per animation
// frame, with at most one prediction in flight, and shows the probabilities.

import { $, h, pct, errorText } from "./util.js";
import { paintDigit } from "./digits.js";
import { INK_SIDE } from "./pad.js";
import { expose, unexpose } from "./test-hooks.js";

export class Predictor extends EventTarget {
  /** The 28x28 input of the current drawing (784 floats in 0..1), or null. */
  input = null;
  /** Its probabilities as last shown, or null. */
  probs = null;
  /** When `input` was taken from the pad (performance.now()). */
  inputAt = -Infinity;
  #ready = false;
  /** Bumped by each change the guess must reflect (drawing, model); #shown is the one shown. */
  #wanted = 0;
  #shown = -1;
  #dirty = false;
  #frameQueued = false;
  #inFlight = false;

  constructor(session, pad) {
    super();
    this.session = session;
    this.pad = pad;
    this.bars = $("bars");
    this.rows = Array.from({ length: 10 }, (_, d) => this.#barRow(d));
    pad.addEventListener("change", () => this.schedule());
    this.#showEmpty();
  }

  /** Starts predicting (once a model is loaded). */
  ready() {
    this.#ready = true;
    this.schedule();
  }

  /** Asks for a prediction of the current drawing (or with a new model) at the next animation frame. */
  schedule() {
    this.#wanted++;
    this.refresh();
  }

  /** Re-predicts with the latest weights (during training) without making the shown guess stale. */
  refresh() {
    this.#dirty = true;
    this.#publish();
    if (!this.#ready || this.#frameQueued || this.#inFlight) return;
    this.#frameQueued = true;
    requestAnimationFrame(() => {
      this.#frameQueued = false;
      this.#run();
    });
  }

  async #run() {
    this.#dirty = false;
    const version = this.#wanted;
    this.inputAt = performance.now();
    this.input = this.pad.isEmpty ? null : this.session.preprocess(this.pad.ink(), INK_SIDE, INK_SIDE) ?? null;
    this.#showInput();
    if (!this.input) {
      this.#showEmpty();
    } else {
      this.#inFlight = true;
      try {
        this.#show(await this.session.predict(this.input));
        if (!document.body.dataset.firstPredictionMs) expose({ firstPredictionMs: performance.now().toFixed(0) });
      } catch (e) {
        this.#showMessage(`Could not predict: ${errorText(e)}`);
      } finally {
        this.#inFlight = false;
      }
    }
    this.#shown = version;
    this.dispatchEvent(new Event("input"));
    if (this.#dirty) this.refresh();
    this.#publish();
  }

  /** For tests: "idle" once the shown guess is the one for the current drawing and model. */
  #publish() {
    expose({ predictor: this.#shown === this.#wanted ? "idle" : "busy" });
  }

  #barRow(digit) {
    const fill = h("div", { className: "fill" });
    const value = h("span", { className: "p" });
    const row = h("div", { className: "bar-row" }, h("span", { className: "d", textContent: digit }), h("div", { className: "bar" }, fill), value);
    this.bars.append(row);
    return { row, fill, value };
  }

  #show(probs) {
    if (probs.some((p) => !Number.isFinite(p))) {
      this.#showMessage("The model outputs NaN: reset or load another model.");
      return;
    }
    this.probs = probs;
    const top = probs.indexOf(Math.max(...probs));
    this.rows.forEach(({ row, fill, value }, d) => {
      fill.style.width = pct(probs[d]);
      value.textContent = pct(probs[d], 0);
      row.classList.toggle("best", d === top);
    });
    $("guess").textContent = top;
    $("guess-note").textContent = `${pct(probs[top], 0)} sure`;
    expose({ guess: top });
  }

  #showEmpty() {
    this.#clearBars();
    $("guess").textContent = "–";
    $("guess-note").textContent = "Waiting for a digit";
  }

  #showMessage(message) {
    this.#clearBars();
    $("guess").textContent = "?";
    $("guess-note").textContent = message;
  }

  #clearBars() {
    this.probs = null;
    for (const { row, fill, value } of this.rows) {
      fill.style.width = "0";
      value.textContent = "";
      row.classList.remove("best");
    }
    unexpose("guess");
  }

  /** The 28x28 view: the small preview, and the pad's overlay when toggled on. */
  #showInput() {
    const blank = new Float32Array(784);
    for (const canvas of [$("input-preview"), $("pad-input")]) paintDigit(canvas, this.input ?? blank, 1);
  }
}
