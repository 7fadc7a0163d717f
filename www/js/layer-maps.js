// Drawing what a layer holds: channels as small heat maps, filters as weight mosaics, flat
// layers as bars. Shared colour scales so a layer's maps compare with each other.

import { h, trackCanvasSize } from "./util.js";

/** 0..1 to a dark-to-bright ramp (dark blue, purple, orange, pale yellow): strong is bright. */
const RAMP = [[17, 24, 39], [94, 38, 140], [232, 89, 12], [255, 236, 153]];
export function ramp(v) {
  const t = Math.min(1, Math.max(0, v)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t));
  const f = t - i;
  return RAMP[i].map((c, k) => c + (RAMP[i + 1][k] - c) * f);
}

/** -1..1 to blue-white-red. */
export function diverging(v) {
  const a = Math.min(1, Math.abs(v));
  return v < 0 ? [255 * (1 - a) + 33 * a, 255 * (1 - a) + 102 * a, 255 * (1 - a) + 172 * a] : [255 * (1 - a) + 178 * a, 255 * (1 - a) + 24 * a, 255 * (1 - a) + 43 * a];
}

/** The largest |value| of a typed array (1e-12 at least, so dividing by it is safe). */
export function largest(values) {
  let m = 1e-12;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

/** Channel `c` of a [channels, hgt, w] tensor as a heat map scaled by `scale`; negative values (before a ReLU) in blue. */
export function paintChannel(canvas, values, c, hgt, w, scale) {
  if (canvas.width !== w || canvas.height !== hgt) [canvas.width, canvas.height] = [w, hgt];
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, hgt);
  const base = c * hgt * w;
  for (let i = 0; i < hgt * w; i++) {
    const v = values[base + i] / scale;
    img.data.set(v >= 0 ? ramp(v) : diverging(v), i * 4);
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Filter `f` of a convolution ([out, in_c, k, k]): its in_c kernels side by side in a square-ish mosaic. */
export function paintFilter(canvas, { in_c, k, values }, f, gap = 1) {
  const cols = Math.ceil(Math.sqrt(in_c));
  const rows = Math.ceil(in_c / cols);
  canvas.width = cols * (k + gap) - gap;
  canvas.height = rows * (k + gap) - gap;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.fill(255);
  const w = values.subarray(f * in_c * k * k, (f + 1) * in_c * k * k);
  const scale = largest(w);
  for (let c = 0; c < in_c; c++) {
    const [ox, oy] = [(c % cols) * (k + gap), Math.floor(c / cols) * (k + gap)];
    for (let i = 0; i < k * k; i++) img.data.set([...diverging(w[c * k * k + i] / scale), 255], ((oy + Math.floor(i / k)) * canvas.width + ox + (i % k)) * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** A flat layer (a dense layer's units, or the probabilities) as bars, up for positive, down (blue) for negative; redrawn in place. */
export class Bars {
  constructor({ labels = null, max = null } = {}) {
    Object.assign(this, { labels, max, values: null });
    this.canvas = h("canvas", { className: "layer-bars" });
    trackCanvasSize(this.canvas, (w, hgt, dpr) => {
      this.size = { w, hgt, dpr };
      this.draw();
    });
  }

  show(values) {
    this.values = values;
    this.draw();
  }

  draw() {
    const { canvas, values, labels, size } = this;
    if (!size || !values) return;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(size.dpr, 0, 0, size.dpr, 0, 0);
    ctx.clearRect(0, 0, size.w, size.hgt);
    const [w, hgt] = [size.w, size.hgt - (labels ? 14 : 0)];
    const scale = this.max ?? largest(values);
    const hasNegative = values.some((v) => v < 0);
    const zero = hasNegative ? hgt / 2 : hgt;
    const bw = w / values.length;
    values.forEach((v, i) => {
      const len = (Math.abs(v) / scale) * (hasNegative ? hgt / 2 : hgt);
      ctx.fillStyle = v < 0 ? "#2166ac" : "#e8590c";
      ctx.fillRect(i * bw + (bw > 3 ? 0.5 : 0), v < 0 ? zero : zero - len, Math.max(0.5, bw - (bw > 3 ? 1 : 0)), len);
    });
    if (labels) {
      ctx.fillStyle = "#5b6578";
      ctx.font = "11px system-ui, sans-serif";
      ctx.textAlign = "center";
      labels.forEach((l, i) => ctx.fillText(l, (i + 0.5) * bw, hgt + 12));
    }
  }
}
