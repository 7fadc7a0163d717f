// The live training chart: loss (left axis) and training accuracy (right axis) per
// chunk, and test accuracy as dots, against epochs.

import { trackCanvasSize } from "./util.js";

const COLORS = { loss: "#e8590c", train: "#3b5bdb", test: "#2b8a3e", grid: "#e9ecf2", text: "#5b6578" };
const PAD = { left: 44, right: 46, top: 10, bottom: 26 };

export class TrainingChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.reset();
    trackCanvasSize(canvas, (w, hgt, dpr) => {
      this.size = { w, h: hgt, dpr };
      this.draw();
    });
  }

  reset() {
    this.points = []; // {x: epochs, loss, accuracy}
    this.tests = []; // {x: epochs, accuracy}
    this.draw();
  }

  add(point) {
    this.points.push(point);
    this.draw();
  }

  addTest(point) {
    this.tests.push(point);
    this.draw();
  }

  draw() {
    if (!this.size) return;
    const { ctx } = this;
    const { w, h, dpr } = this.size;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const xMax = 5 * niceStep(Math.max(this.points.length ? 0.005 : 1, ...this.points.map((p) => p.x), ...this.tests.map((p) => p.x)) / 5);
    const lossMax = 4 * niceStep(Math.max(0.5, ...this.points.map((p) => (Number.isFinite(p.loss) ? p.loss : 0))) / 4);
    const plot = { x0: PAD.left, x1: w - PAD.right, y0: h - PAD.bottom, y1: PAD.top };
    const X = (x) => plot.x0 + (x / xMax) * (plot.x1 - plot.x0);
    const Y = (f) => plot.y0 + f * (plot.y1 - plot.y0); // f in 0..1 of the height
    this.#axes(plot, X, Y, xMax, lossMax);
    this.#line(this.points.map((p) => [X(p.x), Y(p.loss / lossMax)]), COLORS.loss);
    this.#line(this.points.map((p) => [X(p.x), Y(p.accuracy)]), COLORS.train);
    ctx.fillStyle = COLORS.test;
    for (const p of this.tests) {
      ctx.beginPath();
      ctx.arc(X(p.x), Y(p.accuracy), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    this.#describe();
    if (!this.points.length) {
      ctx.fillStyle = COLORS.text;
      ctx.textAlign = "center";
      ctx.fillText("Start training to see the curves", (plot.x0 + plot.x1) / 2, (plot.y0 + plot.y1) / 2);
    }
  }

  /** The chart's text alternative: the latest numbers. */
  #describe() {
    const p = this.points.at(-1);
    const t = this.tests.at(-1);
    this.canvas.ariaLabel = !p
      ? "training curves: no training yet"
      : `training curves at epoch ${trim(p.x)}: loss ${trim(p.loss)}, training accuracy ${(p.accuracy * 100).toFixed(1)}%${t ? `, test accuracy ${(t.accuracy * 100).toFixed(2)}% after epoch ${trim(t.x)}` : ""}`;
  }

  #axes(plot, X, Y, xMax, lossMax) {
    const { ctx } = this;
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.strokeStyle = COLORS.grid;
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const y = Y(i / 4);
      ctx.beginPath();
      ctx.moveTo(plot.x0, y);
      ctx.lineTo(plot.x1, y);
      ctx.stroke();
      ctx.fillStyle = COLORS.loss;
      ctx.textAlign = "right";
      ctx.fillText(trim((lossMax * i) / 4), plot.x0 - 6, y);
      ctx.fillStyle = COLORS.train;
      ctx.textAlign = "left";
      ctx.fillText(`${i * 25}%`, plot.x1 + 6, y);
    }
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const step = xMax / 5;
    for (let i = 0; i <= 5; i++) ctx.fillText(trim(i * step), X(i * step), plot.y0 + 6);
  }

  #line(pts, color) {
    if (pts.length < 1) return;
    const { ctx } = this;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (pts.length === 1) ctx.arc(pts[0][0], pts[0][1], 1.5, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

/** The smallest round tick step (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or above v. */
function niceStep(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * p).find((n) => n >= v * 0.999);
}

const trim = (v) => String(Number(v.toPrecision(3)));
