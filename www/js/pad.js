// The drawing pad: pointer strokes (mouse, touch, pen) kept as vectors in 0..1
// coordinates, so the pad can be redrawn crisply at any size and re-rendered small
// (140x140) for the preprocessing instead of downsampling the high-DPI canvas.

import { trackCanvasSize } from "./util.js";

/** Pen width as a fraction of the pad's side (20 CSS px on a 280 px pad). */
const PEN = 20 / 280;
/** The side of the ink image handed to preprocess(). */
export const INK_SIDE = 140;

export class DrawingPad extends EventTarget {
  #strokes = [];
  #active = new Map(); // pointerId -> the stroke it draws
  #ink = new OffscreenCanvas(INK_SIDE, INK_SIDE).getContext("2d", { willReadFrequently: true });
  #redrawQueued = false;

  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    trackCanvasSize(canvas, () => this.#redraw());
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) canvas.addEventListener(type, (e) => this.#up(e));
  }

  /** Whether a finger, pen or mouse is drawing now. */
  get drawing() {
    return this.#active.size > 0;
  }

  get isEmpty() {
    return this.#strokes.length === 0;
  }

  clear() {
    this.#strokes = [];
    this.#active.clear();
    this.#changed();
  }

  /** The drawing as INK_SIDE² values in 0..1 (1 = ink). */
  ink() {
    const ctx = this.#ink;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, INK_SIDE, INK_SIDE);
    this.#paint(ctx, INK_SIDE, "#fff");
    const rgba = ctx.getImageData(0, 0, INK_SIDE, INK_SIDE).data;
    const ink = new Float32Array(INK_SIDE * INK_SIDE);
    for (let i = 0; i < ink.length; i++) ink[i] = rgba[i * 4] / 255;
    return ink;
  }

  #point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
  }

  #down(e) {
    if (e.button > 0) return; // only the primary button (or touch/pen contact)
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    const stroke = [this.#point(e)];
    this.#strokes.push(stroke);
    this.#active.set(e.pointerId, stroke);
    this.#changed();
  }

  #move(e) {
    const stroke = this.#active.get(e.pointerId);
    if (!stroke) return;
    // Coalesced events carry the points the browser merged into this one: smoother lines.
    const events = e.getCoalescedEvents?.() ?? [];
    for (const ev of events.length ? events : [e]) stroke.push(this.#point(ev));
    this.#changed();
  }

  #up(e) {
    if (this.#active.delete(e.pointerId)) this.#changed();
  }

  #changed() {
    if (!this.#redrawQueued) {
      this.#redrawQueued = true;
      requestAnimationFrame(() => {
        this.#redrawQueued = false;
        this.#redraw();
      });
    }
    this.dispatchEvent(new Event("change"));
  }

  #redraw() {
    const { width, height } = this.canvas;
    this.ctx.clearRect(0, 0, width, height);
    this.#paint(this.ctx, width, "#111827");
  }

  /** Strokes the drawing onto a side x side context: round pen, smoothed by midpoints. */
  #paint(ctx, side, color) {
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = PEN * side;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const stroke of this.#strokes) {
      const pts = stroke.map(([x, y]) => [x * side, y * side]);
      if (pts.length === 1) {
        ctx.beginPath();
        ctx.arc(pts[0][0], pts[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(...pts[0]);
      for (let i = 1; i < pts.length - 1; i++) {
        const [x, y] = pts[i], [nx, ny] = pts[i + 1];
        ctx.quadraticCurveTo(x, y, (x + nx) / 2, (y + ny) / 2);
      }
      ctx.lineTo(...pts[pts.length - 1]);
      ctx.stroke();
    }
    ctx.restore();
  }
}
