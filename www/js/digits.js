// 28x28 digit thumbnails, drawn the way the network sees them: light ink on dark.

import { h } from "./util.js";

const PAPER = [17, 24, 39];
const INK = [255, 255, 255];

/**
 * Paints a 28x28 image into a 28x28 canvas. `pixels` holds 784 values, either bytes
 * (0..255) or floats (0..1); `max` says which.
 */
export function paintDigit(canvas, pixels, max = 255) {
  canvas.width = canvas.height = 28;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.min(1, Math.max(0, pixels[i] / max));
    for (let c = 0; c < 3; c++) img.data[i * 4 + c] = PAPER[c] + (INK[c] - PAPER[c]) * v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** A captioned thumbnail: <figure><canvas/><figcaption/></figure>. */
export function digitFigure(pixels, caption, { max = 255, className = "" } = {}) {
  const canvas = h("canvas", { className: "digit" });
  paintDigit(canvas, pixels, max);
  return h("figure", { className: `thumb ${className}` }, canvas, caption == null ? null : h("figcaption", { textContent: caption }));
}
