// The map of the digits: 2,000 test digits placed by the network's penultimate layer
// (PCA to 2-D, computed in the engine's session with axes kept steady between updates),
// coloured by their true digit; the person's drawing is the ringed point. Re-projected
// as training runs, at most a twentieth of the time (its cost is measured each update),
// and only while on screen. Clicking a point shows that test digit and the guess.

import { $, h, errorText, pct } from "./util.js";
import { digitFigure } from "./digits.js";
import { expose, unexpose } from "./test-hooks.js";

export const CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/** Test images on the map: enough to see ten clusters, few enough to re-project often. */
const MAP_IMAGES = 2000;
/** Test images per engine call: each is a few tens of ms, so strokes are never kept waiting. */
const CHUNK = 250;
/** An update may take this share of the time at most (the views cost budget is 10%). */
const DUTY = 0.03;
const MIN_GAP_MS = 1000;

export class DigitMapView {
  #busy = false;
  #wanted = false;
  #timer = null;
  #nextAt = 0;
  #version = 0;
  #extent = null;
  #layer = null;
  #layerKey = "";
  /** Updates drawn so far (the tests wait for the next one). */
  updates = 0;

  constructor(app, isVisible, isDrawing) {
    this.app = app;
    this.isDrawing = isDrawing;
    this.session = app.session;
    this.isVisible = isVisible;
    this.canvas = $("digit-map");
    this.frame = null;
    this.marker = null;
    this.canvas.onclick = (e) => this.#pick(e);
    new ResizeObserver(() => this.draw()).observe(this.canvas);
    $("map-legend").replaceChildren(...CLASS_COLORS.map((c, d) => {
      const s = h("span", { textContent: d });
      s.style.setProperty("--c", c);
      return s;
    }));
  }

  /** Another network: the old map is gone at once. */
  reset() {
    this.#version++;
    this.frame = null;
    this.marker = null;
    this.markerFeatures = null;
    this.#extent = null;
    this.#nextAt = 0;
    unexpose("mapAccuracy");
    $("map-pick").replaceChildren();
    this.draw();
    this.schedule();
  }

  /** The card came on screen: a wanted update runs now. */
  wake() {
    if (this.#wanted || !this.frame) this.schedule();
  }

  /** Asks for a re-projection, as soon as the duty budget allows. */
  schedule() {
    this.#wanted = true;
    if (this.#busy || this.#timer || !this.isVisible() || !this.app.dataReady) return;
    const wait = Math.max(0, this.#nextAt - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#update();
    }, wait);
  }

  async #update() {
    if (!this.isVisible()) return;
    this.#wanted = false;
    this.#busy = true;
    const version = this.#version;
    let busyMs = 0;
    try {
      // In chunks, yielding between them (to a stroke on the pad above all): the cost
      // counted is the time spent computing, not the waits.
      const n = Math.min(MAP_IMAGES, this.app.testSet.size);
      const parts = [];
      for (let from = 0; from < n; from += CHUNK) {
        while (this.isDrawing()) await new Promise((r) => setTimeout(r, 100));
        const c0 = performance.now();
        parts.push(await this.session.map_features(from, Math.min(CHUNK, n - from)));
        busyMs += performance.now() - c0;
        await new Promise((r) => setTimeout(r, 0));
        if (version !== this.#version) return;
      }
      const features = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      parts.reduce((at, p) => (features.set(p, at), at + p.length), 0);
      const f0 = performance.now();
      const frame = this.session.map_fit(features, n);
      const ms = busyMs + performance.now() - f0;
      this.frame = frame;
      this.updates++;
      this.#project();
      this.draw();
      $("map-note").textContent = `${frame.labels.length.toLocaleString()} test digits placed by ${frame.layer} (${frame.width} values each), PCA to 2-D (${pct(frame.explained[0], 0)} and ${pct(frame.explained[1], 0)} of the variance). A nearest-centre rule on this map alone is right for ${pct(frame.centroid_accuracy, 1)}. Click a point to see it.`;
      this.canvas.ariaLabel = `the map of the digits: ${frame.labels.length} test digits; nearest-centre accuracy ${pct(frame.centroid_accuracy, 1)}`;
      expose({ mapAccuracy: frame.centroid_accuracy.toFixed(4), mapMs: ms.toFixed(0), mapUpdates: String(this.updates) });
      this.#nextAt = performance.now() + Math.max(MIN_GAP_MS, ms / DUTY);
    } catch (e) {
      if (version === this.#version) $("map-note").textContent = `The map could not be drawn: ${errorText(e)}`;
      // Tried again in 5 s (a call made while the model was being replaced can fail).
      this.#wanted = true;
      this.#nextAt = performance.now() + 5000;
    } finally {
      this.#busy = false;
      if (this.#wanted) this.schedule();
    }
  }

  /** The drawing's penultimate features (null: no drawing): its point on the map. */
  mark(features) {
    this.markerFeatures = features ? Float32Array.from(features) : null;
    this.#project();
    this.draw();
  }

  /** The drawing's point on the current picture (again after each re-projection). */
  #project() {
    this.marker = this.markerFeatures ? this.session.map_project(this.markerFeatures) ?? null : null;
  }

  /** Canvas coordinates of map point (x, y). */
  #toCanvas(x, y, w, hgt) {
    const e = this.#extent;
    return [w / 2 + (x / e[0]) * (w / 2 - 10), hgt / 2 - (y / e[1]) * (hgt / 2 - 10)];
  }

  /** The points, drawn once per picture (and size) into a layer of their own; `draw` adds the drawing's ring on top. */
  #paintPoints() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const layer = (this.#layer ??= document.createElement("canvas"));
    layer.width = Math.max(1, Math.round(r.width * dpr));
    layer.height = Math.max(1, Math.round(r.height * dpr));
    const ctx = layer.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const [w, hgt] = [r.width, r.height];
    const f = this.frame;
    if (!f) {
      ctx.fillStyle = "#5b6578";
      ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(this.app.dataReady ? "Placing the test digits…" : "Waiting for the data set…", w / 2, hgt / 2);
      this.#layerKey = this.#key();
      return;
    }
    // Axes scaled to hold most points, eased so the picture does not jump between updates.
    const wanted = [0, 1].map((a) => quantile(f.points.filter((_, i) => i % 2 === a).map(Math.abs), 0.98) || 1);
    this.#extent = this.#extent ? this.#extent.map((e, a) => (wanted[a] > e ? wanted[a] : 0.7 * e + 0.3 * wanted[a])) : wanted;
    for (let i = 0; i < f.labels.length; i++) {
      const [x, y] = this.#toCanvas(f.points[2 * i], f.points[2 * i + 1], w, hgt);
      ctx.fillStyle = CLASS_COLORS[f.labels[i]];
      ctx.globalAlpha = 0.55;
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
    this.#layerKey = this.#key();
  }

  #key() {
    const r = this.canvas.getBoundingClientRect();
    return `${r.width}x${r.height}@${window.devicePixelRatio}:${this.updates}:${this.frame ? 1 : 0}:${this.app.dataReady}`;
  }

  draw() {
    if (this.#layerKey !== this.#key()) this.#paintPoints();
    const layer = this.#layer;
    if (this.canvas.width !== layer.width || this.canvas.height !== layer.height) [this.canvas.width, this.canvas.height] = [layer.width, layer.height];
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, layer.width, layer.height);
    ctx.drawImage(layer, 0, 0);
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const r = this.canvas.getBoundingClientRect();
    if (this.frame && this.marker) {
      const [x, y] = this.#toCanvas(this.marker[0], this.marker[1], r.width, r.height);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#fff";
      ctx.beginPath();
      ctx.arc(x, y, 8, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#111827";
      ctx.stroke();
    }
  }

  /** The test digit nearest the click, with its label and the network's guess. */
  async #pick(e) {
    const f = this.frame;
    if (!f) return;
    const r = this.canvas.getBoundingClientRect();
    const [cx, cy] = [e.clientX - r.left, e.clientY - r.top];
    let best = -1;
    let bestD = 100; // within 10 px
    for (let i = 0; i < f.labels.length; i++) {
      const [x, y] = this.#toCanvas(f.points[2 * i], f.points[2 * i + 1], r.width, r.height);
      const d = (x - cx) ** 2 + (y - cy) ** 2;
      if (d < bestD) [best, bestD] = [i, d];
    }
    if (best < 0) return;
    const pixels = this.app.testSet.image(best);
    const probs = await this.session.predict(Float32Array.from(pixels, (p) => p / 255));
    const guess = probs.indexOf(Math.max(...probs));
    const label = f.labels[best];
    $("map-pick").replaceChildren(digitFigure(pixels, null), h("span", { textContent: `Test digit #${best}: a ${label}; the network says ${guess} (${pct(probs[guess], 0)}).` }));
  }
}

function quantile(values, q) {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
