// Small helpers shared by every part of the page.

export const $ = (id) => document.getElementById(id);

/** Creates an element: h("div", { className: "x", onclick }, child, "text"). */
export function h(tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children.filter((c) => c != null));
  return el;
}

/** The human-readable text of anything thrown (wasm throws Errors with a `kind`). */
export const errorText = (e) => (e instanceof Error ? e.message : String(e));

export const pct = (x, digits = 1) => `${(x * 100).toFixed(digits)}%`;

/** Seconds as "42 s", "3 min 05 s" or "1 h 02 min". */
export function duration(s) {
  if (!Number.isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Shows "<text> N s" in `el`, counting up each second, until the returned function is called. */
export function countUp(el, text) {
  const t0 = performance.now();
  const tick = () => (el.textContent = `${text} ${Math.round((performance.now() - t0) / 1000)} s`);
  tick();
  const timer = setInterval(tick, 1000);
  return () => clearInterval(timer);
}

/**
 * Runs async jobs one at a time, in call order. Everything that submits long work to
 * the GPU (training chunks, test-set passes, fine-tuning, model swaps) goes through one
 * lock, so the wasm side never sees two of them interleaved; predictions do not, so
 * drawing stays live during training.
 */
export class Mutex {
  #tail = Promise.resolve();
  run(job) {
    const result = this.#tail.then(job);
    this.#tail = result.catch(() => {});
    return result;
  }
}

/**
 * The status/error banner area. One message per key (a new one replaces the old), so
 * e.g. a second bad model file does not stack a second banner. `detail` is shown
 * smaller: the technical part of a message.
 */
export function notify(kind, message, key = message, detail = "") {
  const area = $("banners");
  dismiss(key);
  const close = h("button", { className: "banner-close", title: "Dismiss", ariaLabel: "Dismiss", textContent: "×" });
  const text = h("div", {}, h("div", { textContent: message }), detail ? h("div", { className: "banner-detail", textContent: detail }) : null);
  const banner = h("div", { className: `banner ${kind}`, role: kind === "error" ? "alert" : "status" }, text, close);
  banner.dataset.key = key;
  close.onclick = () => banner.remove();
  area.append(banner);
  return banner;
}

export function dismiss(key) {
  for (const b of $("banners").querySelectorAll(".banner")) if (b.dataset.key === key) b.remove();
}

/** A canvas whose backing store follows its CSS size times devicePixelRatio. */
export function trackCanvasSize(canvas, onResize) {
  const fit = () => {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr)), hgt = Math.max(1, Math.round(r.height * dpr));
    if (canvas.width !== w || canvas.height !== hgt) {
      canvas.width = w;
      canvas.height = hgt;
    }
    onResize(r.width, r.height, dpr);
  };
  new ResizeObserver(fit).observe(canvas);
  fit();
}

/** Says `text` to screen readers once (the page's polite live region). */
export function announce(text) {
  const region = $("announce");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick: screen readers announce a change, not a repeat.
  setTimeout(() => (region.textContent = text), 50);
}
