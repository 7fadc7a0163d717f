// "See inside": how the network reads the person's drawing, live. Every layer's output
// (each channel a heat map, flat layers as bars, the probabilities last) with the filter
// that made each map, saliency (which pixels pushed towards a digit, for any digit), the
// drawing's probabilities over training, and the map of the digits. Everything is
// computed on the page's own model and engine, after each prediction of the drawing (so
// as the person draws and after each training chunk), and only while the card is on
// screen: off screen the views cost nothing.

import { $, h, errorText, pct } from "./util.js";
import { paintChannel, paintFilter, barsCanvas, largest, diverging } from "./layer-maps.js";
import { DigitMapView } from "./digit-map-view.js";
import { HistoryChart } from "./history-chart.js";
import { expose } from "./test-hooks.js";

/** Re-reads every filter at most this often while training changes them (a GPU readback). */
const FILTERS_EVERY_MS = 2000;

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
  /** When the drawing last changed, until the views show it (the stroke-to-views latency). */
  #changedAt = null;
  /** Stroke-to-views latencies (ms), for the benchmark. */
  latencies = [];
  /** The last saliency and activations shown (the end-to-end tests read them). */
  shown = null;

  constructor(app, predictor, pad) {
    this.app = app;
    this.session = app.session;
    this.predictor = predictor;
    this.map = new DigitMapView(app, () => this.#visible);
    this.history = new HistoryChart($("history"));
    this.#classButtons();
    $("why-integrated").onclick = () => this.#setMethod("integrated");
    $("why-gradient").onclick = () => this.#setMethod("gradient");
    new IntersectionObserver((entries) => {
      this.#visible = entries.some((e) => e.isIntersecting);
      if (this.#visible && this.#dirty) this.schedule();
      if (this.#visible) this.map.wake();
    }).observe($("inside-card"));
    pad.addEventListener("change", () => {
      this.#changedAt ??= performance.now();
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

  /** Redraws the views for the current drawing and model at the next frame (or when the card comes on screen). */
  schedule() {
    this.#dirty = true;
    this.#publish();
    if (!this.#visible || this.#busy || this.#frameQueued) return;
    this.#frameQueued = true;
    requestAnimationFrame(() => {
      this.#frameQueued = false;
      this.#refresh();
    });
  }

  async #refresh() {
    this.#dirty = false;
    this.#busy = true;
    const [model, input, changedAt] = [this.#model, this.predictor.input, this.#changedAt];
    this.#changedAt = null;
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
      this.#drawLayers(seen);
      this.#drawSaliency(input, why, guess);
      const n = seen.layers.length;
      this.map.mark(n >= 2 ? seen.layers[n - 2].values : input);
      this.shown = { input, layers: seen.layers.map(({ name, shape }) => ({ name, shape })), probs: Array.from(seen.probs), saliency: why };
      if (changedAt != null) this.latencies.push(performance.now() - changedAt);
      $("inside-status").textContent = `Reading your ${guess} (${pct(seen.probs[guess], 0)} sure).`;
    } catch (e) {
      this.#showEmpty(`Could not look inside: ${errorText(e)}`);
    } finally {
      this.#busy = false;
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
    const ctx = $("saliency").getContext("2d");
    ctx.clearRect(0, 0, 28, 28);
    $("saliency").ariaLabel = "which pixels made the answer: no drawing";
    $("why-note").textContent = "Red pixels push towards the digit, blue ones away from it.";
    this.map.mark(null);
  }

  /** One row per layer: each channel's map (with its filter under it for a convolution), or bars for a flat layer. */
  #drawLayers(seen) {
    const rows = seen.layers.map((layer) => {
      const [c, hgt, w] = layer.shape;
      const flat = hgt * w === 1;
      const filters = this.#filters?.get(layer.name);
      const title = `${layer.name} · ${flat ? `${c} units` : `${c} maps of ${hgt}×${w}`}`;
      const row = h("div", { className: "layer-row" }, h("h4", { textContent: title }));
      row.dataset.layer = layer.name;
      row.dataset.maps = flat ? 0 : c;
      if (flat) {
        row.append(barsCanvas(layer.values));
      } else {
        const scale = largest(layer.values);
        const maps = h("div", { className: "layer-maps" });
        for (let ch = 0; ch < c; ch++) maps.append(this.#mapFigure(layer, ch, scale, filters));
        row.append(maps);
      }
      return row;
    });
    const probs = h("div", { className: "layer-row" }, h("h4", { textContent: "softmax · the probabilities" }), barsCanvas(seen.probs, { labels: [..."0123456789"], max: 1 }));
    probs.dataset.layer = "softmax";
    $("layers").replaceChildren(...rows, probs);
  }

  #mapFigure(layer, ch, scale, filters) {
    const [, hgt, w] = layer.shape;
    const map = h("canvas", { className: "map" });
    paintChannel(map, layer.values, ch, hgt, w, scale);
    const fig = h("figure", { tabIndex: 0 }, map);
    fig.ariaLabel = `${layer.name} map ${ch + 1}${filters ? ", made by the filter drawn under it" : ""}`;
    if (filters) {
      const kernel = h("canvas", { className: "kernel" });
      paintFilter(kernel, filters, ch, 0);
      fig.append(kernel);
      const show = () => this.#zoom(fig, filters, ch);
      fig.onmouseenter = show;
      fig.onfocus = show;
      fig.onmouseleave = fig.onblur = () => ($("filter-zoom").hidden = true);
    }
    return fig;
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
        this.schedule();
      };
      return b;
    });
    $("why-classes").replaceChildren(...buttons);
  }

  #setMethod(method) {
    this.#method = method;
    $("why-integrated").setAttribute("aria-pressed", String(method === "integrated"));
    $("why-gradient").setAttribute("aria-pressed", String(method === "gradient"));
    this.schedule();
  }
}
