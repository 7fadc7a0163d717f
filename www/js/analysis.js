// Understanding the result: predictions on the 10,000 test images as a confusion
// matrix (click a cell to see its digits), the misclassified digits, the first 20 test
// digits, plus the network's summary and its first-layer filters.

import { $, h, errorText, pct, countUp } from "./util.js";
import { digitFigure } from "./digits.js";
import { expose } from "./test-hooks.js";

const MAX_GALLERY = 60;

export class Analysis {
  constructor(app) {
    this.app = app;
    this.session = app.session;
    $("analyse").onclick = () => this.run();
    app.on("model-changed", () => {
      this.#stale("The model changed: analyse the test set again.");
      this.showModel();
    });
    // After an epoch: refresh what the user has looked at (on a slow GPU a pass over the
    // test set takes long, so it is not forced on anyone who has not asked for it).
    app.on("epoch-end", () => {
      this.showModel();
      if (this.analysed) this.run();
    });
    app.on("capabilities", () => this.#updateControls());
    app.on("training-state", () => this.#updateControls());
    this.#updateControls();
  }

  #updateControls() {
    const { canTrain, dataReady } = this.app;
    $("analyse").disabled = !canTrain || !dataReady || this.running;
    $("analyse-note").textContent = !dataReady ? "Waiting for the data set…" : "";
  }

  /** The summary and the first-layer filters of the current model. */
  async showModel() {
    try {
      $("summary").textContent = this.session.model_summary();
    } catch (e) {
      $("summary").textContent = errorText(e);
    }
    try {
      const [first] = await this.session.filters();
      if (!first) throw new Error("the network has no convolution");
      this.#filters(first);
    } catch (e) {
      $("filters").replaceChildren(h("p", { className: "muted", textContent: errorText(e) }));
    }
  }

  /** Predicts every test image and redraws the matrix and galleries. */
  async run() {
    if (this.running || !this.app.canTrain || !this.app.dataReady) return;
    this.running = true;
    this.#updateControls();
    const t0 = performance.now();
    const stopCounting = countUp($("analysis-status"), "Predicting the 10,000 test images…");
    try {
      const predicted = await this.app.lock.run(() => this.session.test_predictions());
      stopCounting();
      this.#show(predicted, performance.now() - t0);
      this.analysed = true;
    } catch (e) {
      stopCounting();
      $("analysis-status").textContent = `Analysis failed: ${errorText(e)}`;
    } finally {
      this.running = false;
      this.#updateControls();
    }
  }

  #stale(message) {
    if ($("confusion").childElementCount) $("analysis-status").textContent = message;
  }

  #show(predicted, ms) {
    const test = this.app.testSet;
    const n = Math.min(predicted.length, test.size);
    const cells = Array.from({ length: 10 }, () => Array.from({ length: 10 }, () => []));
    let correct = 0;
    for (let i = 0; i < n; i++) {
      cells[test.labels[i]][predicted[i]].push(i);
      if (test.labels[i] === predicted[i]) correct++;
    }
    $("analysis-status").textContent = `Test accuracy ${pct(correct / n, 2)} (${correct.toLocaleString()} of ${n.toLocaleString()} right), in ${(ms / 1000).toFixed(1)} s.`;
    expose({ analysedAccuracy: (correct / n).toFixed(4) });
    this.#confusion(cells);
    const wrong = [];
    for (let i = 0; i < n && wrong.length < MAX_GALLERY; i++) if (test.labels[i] !== predicted[i]) wrong.push(i);
    $("misclassified").replaceChildren(...wrong.map((i) => this.#figure(i, predicted[i], `${test.labels[i]}→${predicted[i]}`)));
    $("first-digits").replaceChildren(...Array.from({ length: Math.min(20, n) }, (_, i) => this.#figure(i, predicted[i], `${predicted[i]}`)));
  }

  #figure(i, predicted, caption) {
    const test = this.app.testSet;
    const wrong = test.labels[i] !== predicted;
    const fig = digitFigure(test.image(i), caption, { className: wrong ? "wrong" : "" });
    fig.title = `test image #${i}: true ${test.labels[i]}, predicted ${predicted}`;
    return fig;
  }

  /** A 10x10 table (rows: true digit, columns: predicted), shaded by row share. */
  #confusion(cells) {
    const head = h("tr", {}, h("th", { className: "corner", textContent: "true ↓ / predicted →" }), ...cells.map((_, p) => h("th", { textContent: p })));
    const rows = cells.map((row, t) => {
      const total = row.reduce((s, c) => s + c.length, 0) || 1;
      return h("tr", {}, h("th", { textContent: t }), ...row.map((ids, p) => {
        const share = ids.length / total;
        const td = h("td", { textContent: ids.length || "", className: t === p ? "diag" : ids.length ? "off" : "" });
        td.style.setProperty("--share", t === p ? share : Math.min(1, share * 8).toFixed(3));
        td.title = `true ${t}, predicted ${p}: ${ids.length} images`;
        if (ids.length) td.onclick = () => this.#cell(t, p, ids, td);
        return td;
      }));
    });
    $("confusion").replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));
  }

  #cell(t, p, ids, td) {
    for (const c of $("confusion").querySelectorAll("td.selected")) c.classList.remove("selected");
    td.classList.add("selected");
    const shown = ids.slice(0, MAX_GALLERY);
    $("cell-title").textContent = `True ${t}, predicted ${p}: ${ids.length} image${ids.length === 1 ? "" : "s"}${ids.length > shown.length ? ` (first ${shown.length} shown)` : ""}`;
    $("cell-digits").replaceChildren(...shown.map((i) => this.#figure(i, p, null)));
  }

  /** Each first-layer filter as a small heat map (blue negative, red positive). */
  #filters({ out, k, values }) {
    const tiles = Array.from({ length: out }, (_, f) => {
      const w = values.slice(f * k * k, (f + 1) * k * k);
      const scale = Math.max(1e-12, ...w.map(Math.abs));
      const canvas = h("canvas", { className: "filter", width: k, height: k });
      const ctx = canvas.getContext("2d");
      const img = ctx.createImageData(k, k);
      w.forEach((v, i) => img.data.set([...diverging(v / scale), 255], i * 4));
      ctx.putImageData(img, 0, 0);
      canvas.title = `filter ${f + 1}`;
      return canvas;
    });
    $("filters").replaceChildren(...tiles);
    $("filters-note").textContent = `${out} filters of ${k}×${k}: blue negative, red positive weights.`;
  }
}

/** -1..1 to blue-white-red. */
function diverging(v) {
  const a = Math.min(1, Math.abs(v));
  return v < 0 ? [255 * (1 - a) + 33 * a, 255 * (1 - a) + 102 * a, 255 * (1 - a) + 172 * a] : [255 * (1 - a) + 178 * a, 255 * (1 - a) + 24 * a, 255 * (1 - a) + 43 * a];
}
