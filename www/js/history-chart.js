// A drawn digit's history: its ten probabilities after each training chunk since it was
// drawn, so a person sees when the network "got" their digit.

import { trackCanvasSize, pct } from "./util.js";
import { CLASS_COLORS } from "./digit-map-view.js";

const PAD = { left: 34, right: 22, top: 8, bottom: 22 };

export class HistoryChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.reset();
    trackCanvasSize(canvas, (w, hgt, dpr) => {
      this.size = { w, h: hgt, dpr };
      this.draw();
    });
  }

  /** A new drawing (or model): the history starts again. */
  reset() {
    this.points = [];
    this.x = null;
    this.draw();
  }

  /** The weights changed at `epochs` of training: the next prediction is a point of the history. */
  at(epochs) {
    this.x = Number.isFinite(epochs) ? epochs : null;
  }

  /** A prediction of the drawing; kept when it follows a weights change. */
  observe(probs) {
    if (!probs || this.x == null || this.points.at(-1)?.x === this.x) return;
    this.points.push({ x: this.x, probs: Array.from(probs) });
    this.draw();
  }

  draw() {
    if (!this.size) return;
    const { ctx } = this;
    const { w, h, dpr } = this.size;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    const pts = this.points;
    const [x0, x1] = pts.length ? [pts[0].x, Math.max(pts.at(-1).x, pts[0].x + 1e-3)] : [0, 1];
    const X = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (w - PAD.left - PAD.right);
    const Y = (p) => h - PAD.bottom - p * (h - PAD.top - PAD.bottom);
    ctx.strokeStyle = "#e9ecf2";
    ctx.fillStyle = "#5b6578";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const p of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(PAD.left, Y(p));
      ctx.lineTo(w - PAD.right, Y(p));
      ctx.stroke();
      ctx.fillText(`${p * 100}%`, PAD.left - 4, Y(p));
    }
    if (!pts.length) {
      ctx.textAlign = "center";
      ctx.fillText("Draw a digit, then train", (PAD.left + w - PAD.right) / 2, h / 2);
      this.canvas.ariaLabel = "your digit's probabilities over training: no training since it was drawn";
      return;
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText(`epoch ${trim(x0)}`, X(x0) + 24, h - PAD.bottom + 6);
    ctx.fillText(`${trim(x1)}`, X(x1) - 8, h - PAD.bottom + 6);
    const last = pts.at(-1).probs;
    const top = last.indexOf(Math.max(...last));
    for (let d = 0; d < 10; d++) {
      ctx.strokeStyle = CLASS_COLORS[d];
      ctx.globalAlpha = d === top ? 1 : 0.45;
      ctx.lineWidth = d === top ? 2.5 : 1.2;
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(X(p.x), Y(p.probs[d])) : ctx.moveTo(X(p.x), Y(p.probs[d]))));
      if (pts.length === 1) ctx.arc(X(pts[0].x), Y(pts[0].probs[d]), 2, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = CLASS_COLORS[top];
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(String(top), X(pts.at(-1).x) + 4, Y(last[top]));
    const first = pts.findIndex((p) => p.probs.indexOf(Math.max(...p.probs)) === top && p.probs[top] >= 0.5);
    this.canvas.ariaLabel = `your digit's probabilities over ${pts.length} training updates: now ${top} at ${pct(last[top], 0)}${first >= 0 ? `, first above 50% at epoch ${trim(pts[first].x)}` : ""}`;
  }
}

const trim = (v) => String(Number(v.toPrecision(3)));
