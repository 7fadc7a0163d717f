// "See inside": how the network reads the person's drawing, live. Every layer's output
// (each channel a heat map, flat layers as bars, the probabilities last) with the filter
// that made each map, saliency (which pixels pushed towards a digit, for any digit), the
// drawing's probabilities over training, and the map of the digits. Everything is
// computed on the page's own model and engine, after each prediction of the drawing (so
// as the person draws and after each training chunk), and only while the card is on
// screen: off screen the views cost nothing.

import { $, h, errorText, pct } from "./util.js";
import { paintChannel, paintFilter, Bars, largest, diverging } from "./layer-maps.js";
import { DigitMapView } from "./digit-map-view.js";
import { HistoryChart } from "./history-chart.js";
import { expose } from "./test-hooks.js";

/** Re-reads every filter at most this often while training changes them (a GPU readback). */
const FILTERS_EVERY_MS = 2000;
/** The share of the time the views may take when only the weights changed (a training
 * chunk), and while the person draws: training's workers share the cores with the page,
 * so every millisecond here is one they lose (budget: 10% of training's speed). */
const TRAINING_DUTY = 0.03;
const DRAWING_DUTY = 0.25;

export class Views {
  #visible = false;
  #dirty = false;
  #busy = false;
  #frameQueued = false;
  /** The digit to explain, or null for the guess. */
  #picked = null;
  #method = "integrated";
  /** Bumped when the model changes: results computed for an older model are dropped. */
  #model = 0;
  #filters = null;
  #filtersAt = -Infinity;
  #filtersStale = true;
  /** When the drawing last changed (a pad event), and whether the views show that change. */
  #changedAt = null;
  #changeShown = true;
  #lastEnd = -Infinity;
  #lastCost = 0;
  #timer = null;
  #urgent = false;
  /** The layer rows drawn (reused while the network's shape stays), and what their filters show. */
  #rows = [];
  #rowsKey = "";
  #kernelsOf = null;
  #probs = new Bars({ labels: [..."0123456789"], max: 1 });
  /** Stroke-to-views latencies (ms: from a stroke's end to its views drawn), for the benchmark. */
  latencies = [];
  /** Each refresh's time in engine calls and in drawing (ms), for the benchmark. */
  costs = [];
  /** The last saliency and activations shown (the end-to-end tests read them). */
  shown = null;

  constructor(app, predictor, pad) {
    this.app = app;
    this.session = app.session;
    this.predictor = predictor;
    this.pad = pad;
    this.map = new DigitMapView(app, () => this.#visible, () => pad.drawing);
    this.history = new HistoryChart($("history"));
    this.#classButtons();
    $("why-integrated").onclick = () => this.#setMethod("integrated");
    $("why-gradient").onclick = () => this.#setMethod("gradient");
    new IntersectionObserver((entries) => {
      this.#visible = entries.some((e) => e.isIntersecting);
      if (this.#visible && this.#dirty) this.schedule(true);
      if (this.#visible) this.map.wake();
    }).observe($("inside-card"));
    pad.addEventListener("change", () => {
      this.#changedAt = performance.now();
      this.#changeShown = false;
      this.history.reset();
    });
    predictor.addEventListener("input", () => {
      this.history.observe(predictor.probs);
      this.schedule();
    });
    app.on("model-changed", () => {
      this.#model++;
      this.#filtersStale = true;
      this.history.reset();
      this.map.reset();
      this.#showEmpty("Loading the new network…");
      // Emitted once the new network is in the session: show it now (on screen), not at
      // the predictor's next input, which may have come before this.
      this.schedule(true);
    });
    app.on("weights-changed", ({ live, epochs }) => {
      this.#filtersStale = true;
      if (live) this.history.at(epochs);
      this.map.schedule();
    });
    app.on("epoch-end", () => this.map.schedule());
    app.on("capabilities", () => this.map.schedule());
    window.appViews = this;
    this.#showEmpty();
  }

  /** Redraws the views for the current drawing and model: at the next frame after a
   * stroke or a click (`urgent`), later after a training chunk (within the duty budgets),
   * and only on screen. */
  schedule(urgent = false) {
    this.#dirty = true;
    this.#urgent ||= urgent;
    this.#publish();
    // A finished stroke is shown at once; while the pen moves, and after a training chunk,
    // the views keep to their share of the time.
    const now = this.#urgent || (!this.#changeShown && !this.pad.drawing);
    if (now && this.#timer) [this.#timer] = [clearTimeout(this.#timer)];
    if (!this.#visible || this.#busy || this.#frameQueued || this.#timer) return;
    const duty = this.#changeShown ? TRAINING_DUTY : DRAWING_DUTY;
    const wait = now ? 0 : this.#lastEnd + this.#lastCost / duty - this.#lastCost - performance.now();
    const go = () => {
      this.#frameQueued = true;
      requestAnimationFrame(() => {
        this.#frameQueued = false;
        this.#refresh();
      });
    };
    if (wait <= 0) return go();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      go();
    }, wait);
  }

  async #refresh() {
    this.#dirty = false;
    this.#urgent = false;
    this.#busy = true;
    // The stroke-to-views latency is timed from a stroke's end (the pen lifted) to its views drawn.
    // A pad change after the predictor took its input is not in this refresh: it stays pending.
    const covered = this.predictor.inputAt >= this.#changedAt;
    const [model, input, changedAt, started] = [this.#model, this.predictor.input, this.#changeShown || this.pad.drawing || !covered ? null : this.#changedAt, performance.now()];
    if (covered) this.#changeShown = true;
    try {
      if (!input) return this.#showEmpty();
      const seen = await this.session.activations(input);
      if (model !== this.#model) return;
      const bad = seen.layers.find((l) => !l.values.every(Number.isFinite));
      if (bad || !seen.probs.every(Number.isFinite)) {
        return this.#showEmpty(`The network outputs NaN (first at ${bad?.name ?? "the probabilities"}): it has diverged. Reset it or load another model.`);
      }
      await this.#refreshFilters();
      const guess = seen.probs.indexOf(Math.max(...seen.probs));
      const cls = this.#picked ?? guess;
      const why = await this.session.saliency(input, cls);
      if (model !== this.#model) return;
      if (![...why.gradient, ...why.integrated].every(Number.isFinite)) return this.#showEmpty("The saliency holds NaN: the network has diverged.");
      const drawStart = performance.now();
      this.#drawLayers(seen);
      this.#drawSaliency(input, why, guess);
      const n = seen.layers.length;
      this.map.mark(n >= 2 ? seen.layers[n - 2].values : input);
      this.shown = { input, layers: seen.layers.map(({ name, shape }) => ({ name, shape })), probs: Array.from(seen.probs), saliency: why };
      if (changedAt != null) this.latencies.push(performance.now() - changedAt);
      this.costs.push({ calls: drawStart - started, draw: performance.now() - drawStart });
      this.#lastCost = performance.now() - started;
      $("inside-status").textContent = `Reading your ${guess} (${pct(seen.probs[guess], 0)} sure).`;
    } catch (e) {
      this.#showEmpty(`Could not look inside: ${errorText(e)}`);
    } finally {
      this.#busy = false;
      this.#lastEnd = performance.now();
      if (this.#dirty) this.schedule();
      this.#publish();
    }
  }

  /** For tests: "idle" once the views show the current drawing and model. */
  #publish() {
    expose({ views: this.#dirty || this.#busy ? "busy" : "idle" });
  }

  async #refreshFilters() {
    const training = this.app.training?.run?.state === "running";
    if (!this.#filtersStale || (training && this.#filters && performance.now() - this.#filtersAt < FILTERS_EVERY_MS)) return;
    this.#filters = new Map((await this.session.filters()).map((f) => [f.layer, f]));
    this.#filtersAt = performance.now();
    this.#filtersStale = false;
  }

  #showEmpty(message = "Draw a digit to see how the network reads it.") {
    this.shown = null;
    $("inside-status").textContent = message;
    $("layers").replaceChildren();
    [this.#rows, this.#rowsKey, this.#kernelsOf] = [[], "", null];
    const ctx = $("saliency").getContext("2d");
    ctx.clearRect(0, 0, 28, 28);
    $("saliency").ariaLabel = "which pixels made the answer: no drawing";
    $("why-note").textContent = "Red pixels push towards the digit, blue ones away from it.";
    this.map.mark(null);
  }

  /** One row per layer: each channel's map (with its filter under it for a convolution),
   * or bars for a flat layer; the rows are built once per network shape and repainted. */
  #drawLayers(seen) {
    const filters = this.#filters;
    const key = seen.layers.map((l) => `${l.name}:${l.shape}:${filters?.has(l.name) ? "f" : ""}`).join("|");
    if (key !== this.#rowsKey) this.#buildRows(seen, filters, key);
    seen.layers.forEach((layer, i) => {
      const row = this.#rows[i];
      if (row.bars) return row.bars.show(layer.values);
      const [, hgt, w] = layer.shape;
      const scale = largest(layer.values);
      row.maps.forEach((canvas, ch) => paintChannel(canvas, layer.values, ch, hgt, w, scale));
      if (row.kernels.length && this.#kernelsOf !== filters) row.kernels.forEach((canvas, ch) => paintFilter(canvas, filters.get(layer.name), ch, 0));
    });
    this.#kernelsOf = filters;
    this.#probs.show(seen.probs);
  }

  #buildRows(seen, filters, key) {
    this.#rows = seen.layers.map((layer) => {
      const [c, hgt, w] = layer.shape;
      const flat = hgt * w === 1;
      const f = filters?.get(layer.name);
      const row = { el: h("div", { className: "layer-row" }, h("h4", { textContent: `${layer.name} · ${flat ? `${c} units` : `${c} map${c > 1 ? "s" : ""} of ${hgt}×${w}`}` })), maps: [], kernels: [] };
      row.el.dataset.layer = layer.name;
      row.el.dataset.maps = flat ? 0 : c;
      if (flat) {
        row.bars = new Bars();
        row.el.append(row.bars.canvas);
        return row;
      }
      const maps = h("div", { className: "layer-maps" });
      for (let ch = 0; ch < c; ch++) {
        const map = h("canvas", { className: "map" });
        const fig = h("figure", { tabIndex: 0 }, map);
        fig.ariaLabel = `${layer.name} map ${ch + 1}${f ? ", made by the filter drawn under it" : ""}`;
        row.maps.push(map);
        if (f) {
          const kernel = h("canvas", { className: "kernel" });
          fig.append(kernel);
          row.kernels.push(kernel);
          const show = () => this.#zoom(fig, this.#filters?.get(layer.name) ?? f, ch);
          fig.onmouseenter = show;
          fig.onfocus = show;
          fig.onmouseleave = fig.onblur = () => ($("filter-zoom").hidden = true);
        }
        maps.append(fig);
      }
      row.el.append(maps);
      return row;
    });
    const probs = h("div", { className: "layer-row" }, h("h4", { textContent: "softmax · the probabilities" }), this.#probs.canvas);
    probs.dataset.layer = "softmax";
    $("layers").replaceChildren(...this.#rows.map((r) => r.el), probs);
    [this.#rowsKey, this.#kernelsOf] = [key, null];
  }

  /** The filter that made map `ch`, large, beside the map under the pointer. */
  #zoom(fig, filters, ch) {
    const zoom = $("filter-zoom");
    const canvas = h("canvas");
    paintFilter(canvas, filters, ch);
    const px = Math.max(4, Math.floor(160 / Math.max(canvas.width, canvas.height)));
    canvas.style.width = `${canvas.width * px}px`;
    canvas.style.height = `${canvas.height * px}px`;
    zoom.replaceChildren(h("div", { textContent: `${filters.name} filter ${ch + 1}: ${filters.in_c} input${filters.in_c > 1 ? "s" : ""} × ${filters.k}×${filters.k}` }), canvas);
    const r = fig.getBoundingClientRect();
    zoom.hidden = false;
    zoom.style.left = `${Math.min(innerWidth - zoom.offsetWidth - 8, r.right + 8)}px`;
    zoom.style.top = `${Math.max(8, Math.min(innerHeight - zoom.offsetHeight - 8, r.top))}px`;
  }

  /** The input in grey, the chosen attribution over it: red towards the class, blue away. */
  #drawSaliency(input, why, guess) {
    const values = this.#method === "integrated" ? why.integrated : why.gradient;
    const scale = largest(values);
    const canvas = $("saliency");
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = values[i] / scale;
      const ink = 20 + 70 * input[i];
      const [r, g, b] = diverging(v);
      const a = Math.min(1, Math.sqrt(Math.abs(v)) * 1.2); // square root: weak attributions stay visible
      img.data.set([ink * (1 - a) + r * a, ink * (1 - a) + g * a, ink * (1 - a) + b * a, 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
    const cls = why.class;
    const change = why.logits[cls] - why.baseline_logit;
    const sum = why.integrated.reduce((s, v) => s + v, 0);
    const name = cls === guess ? `the guess, ${cls}` : `${cls} (the guess is ${guess})`;
    $("why-note").textContent =
      this.#method === "integrated"
        ? `Why ${name}: red pixels raised its score, blue ones lowered it. They add up to ${sum.toFixed(2)} of the score's ${change.toFixed(2)} rise from a blank page.`
        : `Why ${name}: red pixels would raise its score if inked more, blue ones lower it (the gradient).`;
    canvas.ariaLabel = `which pixels made the answer ${cls}: ${this.#method === "integrated" ? "integrated gradients" : "gradient"}`;
    for (const b of $("why-classes").children) b.setAttribute("aria-pressed", String(Number(b.dataset.digit) === cls));
  }

  #classButtons() {
    const buttons = [..."0123456789"].map((d) => {
      const b = h("button", { type: "button", textContent: d, title: `why (not) a ${d}?` });
      b.dataset.digit = d;
      b.setAttribute("aria-pressed", "false");
      b.onclick = () => {
        this.#picked = this.#picked === Number(d) ? null : Number(d);
        this.schedule(true);
      };
      return b;
    });
    $("why-classes").replaceChildren(...buttons);
  }

  #setMethod(method) {
    this.#method = method;
    $("why-integrated").setAttribute("aria-pressed", String(method === "integrated"));
    $("why-gradient").setAttribute("aria-pressed", String(method === "gradient"));
    this.schedule(true);
  }
}
