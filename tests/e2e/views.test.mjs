// "See inside", end to end, on the CPU engine and on WebGPU: the engine calls the views
// are drawn from (every layer's output and every convolution's filters), then the views
// as a person uses them: draw a digit and see every layer's maps, the filter under a
// hovered map, where the saliency lies, a "why not" class, a new drawing replacing the
// old, an empty pad emptying the views; a new network never shows the old one's maps;
// training `fast` for an epoch separates the classes on the map of the digits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { servedApp, ARTIFACTS } from "./harness.mjs";
import { LAPTOP, modelReady, dataReady, openApp, drawWithMouse, settledGuess, ONE, SEVEN } from "./app-helpers.mjs";

const env = servedApp();

/** Nearest-centroid accuracy on the 2-D map after one epoch of `fast` must beat this
 * (measured: see docs/benchmarks.md, "See inside"). */
const MAP_ACCURACY_AFTER_AN_EPOCH = 0.65;

for (const engine of ["cpu", "gpu"]) {
  test(`activations on the ${engine} engine: every layer of the default model for one image, finite, with the probabilities`, { timeout: 120_000 }, async () => {
    const context = await env.browser.newContext(LAPTOP);
    const page = await context.newPage();
    await page.goto(`${env.server.url}?engine=${engine}`);
    await modelReady(page);
    const seen = await page.evaluate(async () => {
      const image = new Float32Array(784);
      for (let y = 4; y < 24; y++) image[y * 28 + 14] = 1; // a drawn 1
      const a = await window.appSession.activations(image);
      return {
        layers: a.layers.map((l) => ({ name: l.name, shape: l.shape, n: l.values.length, finite: l.values.every(Number.isFinite), typed: l.values instanceof Float32Array })),
        probs: Array.from(a.probs),
      };
    });
    // pytorch-cnn: conv 16 5x5 same (+ ReLU), pool, conv 32 5x5 same (+ ReLU), pool, dense 10.
    assert.deepEqual(seen.layers.map((l) => [l.name, l.shape.join("x")]), [
      ["layer0.conv", "16x28x28"],
      ["layer1.maxpool", "16x14x14"],
      ["layer2.conv", "32x14x14"],
      ["layer3.maxpool", "32x7x7"],
      ["layer4.dense", "10x1x1"],
    ]);
    for (const l of seen.layers) {
      assert.equal(l.n, l.shape.reduce((a, b) => a * b, 1), l.name);
      assert.ok(l.finite && l.typed, l.name);
    }
    assert.ok(Math.abs(seen.probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    // Every convolution's filters, each named after the activation it makes.
    const filters = await page.evaluate(async () => (await window.appSession.filters()).map((f) => [f.layer, f.out, f.in_c, f.k, f.values.length]));
    assert.deepEqual(filters, [
      ["layer0.conv", 16, 1, 5, 16 * 25],
      ["layer2.conv", 32, 16, 5, 32 * 16 * 25],
    ]);
    assert.equal(seen.probs.indexOf(Math.max(...seen.probs)), 1, "the drawn 1 is a 1");
    await context.close();
  });

  test(`the views on the ${engine} engine: a drawn 1's layers, filters and saliency on its stroke; "why not a 7"; a new drawing; an empty pad`, { timeout: 180_000 }, async () => {
    const { page, errors, context } = await openApp(env.browser, `${env.server.url}?engine=${engine}`);
    await page.locator("#inside-card").scrollIntoViewIfNeeded();
    await drawWithMouse(page, ONE);
    assert.equal(await settledGuess(page), "1");
    await page.locator("#inside-card").scrollIntoViewIfNeeded();
    const shown = await viewsSettled(page);
    assert.deepEqual(shown.rows, [["layer0.conv", "16"], ["layer1.maxpool", "16"], ["layer2.conv", "32"], ["layer3.maxpool", "32"], ["layer4.dense", "0"], ["softmax", undefined]]);
    assert.equal(shown.canvases, 16 + 16 + 32 + 32, "one heat map per channel");
    assert.equal(shown.kernels, 16 + 32, "each convolution's map with its filter");
    assert.equal(shown.class, 1);
    // Integrated gradients (shown by default) on the stroke: the positive mass inside the
    // inked pixels dilated by one.
    assert.ok(shown.igOnStroke >= 0.6, `integrated gradients: ${shown.igOnStroke} of the positive mass on the stroke`);
    // The plain gradient is not confined to the ink, but it must favour it far beyond its area.
    assert.ok(shown.gradientOnStroke >= 3 * shown.strokeArea, `gradient: ${shown.gradientOnStroke} on the stroke, which is ${shown.strokeArea} of the image`);
    console.log(`${engine}: saliency of a drawn 1 on its stroke (dilated, ${(shown.strokeArea * 100).toFixed(1)}% of the pixels): integrated gradients ${shown.igOnStroke.toFixed(3)}, gradient ${shown.gradientOnStroke.toFixed(3)}; IG sum ${shown.igSum.toFixed(3)} of a logit change ${shown.logitChange.toFixed(3)}`);
    assert.ok(Math.abs(shown.igSum - shown.logitChange) <= 0.1 * Math.abs(shown.logitChange), "integrated gradients add up to the logit's change (completeness)");

    // Hovering a map shows the filter that made it.
    await page.locator(".layer-row[data-layer='layer2.conv'] figure").nth(4).hover();
    assert.match(await page.textContent("#filter-zoom"), /conv2 filter 5: 16 inputs × 5×5/);
    assert.equal(await page.isVisible("#filter-zoom"), true);

    // Why not a 7? The map explains class 7 for the same drawing.
    await page.click("#why-classes button[data-digit='7']");
    const seven = await viewsSettled(page, (s) => s.saliency.class === 7);
    assert.equal(seven.class, 7);
    assert.match(await page.textContent("#why-note"), /Why 7 \(the guess is 1\)/);
    await page.click("#why-classes button[data-digit='7']"); // back to the guess

    // A new drawing replaces the old one: the saliency follows the 7's strokes.
    await page.click("#clear");
    await drawWithMouse(page, SEVEN);
    assert.equal(await settledGuess(page), "7");
    await page.locator("#inside-card").scrollIntoViewIfNeeded();
    const drawn7 = await viewsSettled(page, (s) => s.saliency.class === 7);
    assert.ok(drawn7.igOnStroke >= 0.6, `the 7's integrated gradients on its stroke: ${drawn7.igOnStroke}`);
    await page.screenshot({ path: join(ARTIFACTS, `views-${engine}.png`), fullPage: false });

    // An empty pad empties the views.
    await page.click("#clear");
    await page.waitForFunction(() => document.body.dataset.views === "idle" && !window.appViews.shown && !document.querySelector(".layer-row"), null, { timeout: 30_000 });
    assert.match(await page.textContent("#inside-status"), /Draw a digit/);
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test("a new network never shows the old one's maps; one epoch of fast separates the classes on the map; the drawing's history fills", { timeout: 400_000 }, async () => {
  const { page, errors, context } = await openApp(env.browser, `${env.server.url}?engine=cpu`);
  await dataReady(page);
  await drawWithMouse(page, SEVEN);
  await settledGuess(page);
  await page.locator("#inside-card").scrollIntoViewIfNeeded();
  await viewsSettled(page);
  await page.waitForFunction(() => document.body.dataset.mapAccuracy, null, { timeout: 120_000 });
  const before = Number(await page.evaluate(() => document.body.dataset.mapAccuracy));
  // A fresh fast: the layers shown are fast's at once, never pytorch-cnn's.
  await page.selectOption("select[name=preset]", "fast");
  await page.click("#train-reset");
  await page.waitForFunction(() => document.body.dataset.model === "fast", null, { timeout: 30_000 });
  const rowsNow = await page.$$eval(".layer-row", (rows) => rows.map((r) => r.dataset.layer));
  assert.ok(!rowsNow.includes("layer4.dense"), `no pytorch-cnn rows after the switch: ${rowsNow}`);
  // The views update only on screen, and clicking Reset may have scrolled them away.
  await page.locator("#inside-card").scrollIntoViewIfNeeded();
  const fresh = await viewsSettled(page, (s) => s.layers.length === 9);
  assert.deepEqual(fresh.rows.filter(([, n]) => n > 0).map(([name, n]) => `${name}:${n}`), [
    "layer0.normalize:1", "layer1.conv:24", "layer2.maxpool:24", "layer3.relu:24", "layer4.conv:32", "layer5.maxpool:32", "layer6.relu:32",
  ]);
  // The map updates only on screen, and clicking Reset scrolled to the training panel.
  await page.locator("#digit-map").scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.body.dataset.mapAccuracy, null, { timeout: 120_000 });
  const untrained = Number(await page.evaluate(() => document.body.dataset.mapAccuracy));
  await page.locator("#train-start").scrollIntoViewIfNeeded();
  await page.click("#train-start");
  await page.waitForFunction(() => document.body.dataset.training === "running", null, { timeout: 60_000 });
  await page.locator("#inside-card").scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.body.dataset.training === "finished" || document.body.dataset.training === "idle", null, { timeout: 300_000 });
  const test = await page.textContent("#test-acc");
  // The map is re-projected after the last chunk; wait for one made after the epoch.
  const stamp = await page.evaluate(() => document.body.dataset.mapUpdates);
  await page.evaluate(() => window.appViews.map.schedule());
  await page.waitForFunction((s) => document.body.dataset.mapUpdates !== s, stamp, { timeout: 90_000 });
  const after = Number(await page.evaluate(() => document.body.dataset.mapAccuracy));
  const history = await page.getAttribute("#history", "aria-label");
  console.log(`map of the digits, nearest-centroid accuracy: default model ${before}, untrained fast ${untrained}, fast after one epoch ${after} (test accuracy ${test}); history: ${history}`);
  assert.ok(after > MAP_ACCURACY_AFTER_AN_EPOCH && after > untrained + 0.1, `nearest-centroid accuracy on the map after an epoch of fast: ${after} (untrained: ${untrained})`);
  assert.match(history, /over [1-9][0-9]* training updates/);
  // The views after an epoch, for docs/screenshots: the whole card, and a map hovered.
  await page.locator(".layer-row[data-layer='layer4.conv'] figure").nth(3).hover();
  await page.locator("#inside-card").screenshot({ path: join(ARTIFACTS, "see-inside-after-epoch.png") });
  assert.deepEqual(errors, []);
  await context.close();
});

/** Waits for the views to show the current drawing (and `ok(shown)`), then measures them. */
async function viewsSettled(page, ok = () => true) {
  await page.waitForFunction((src) => document.body.dataset.views === "idle" && window.appViews.shown && new Function("s", `return (${src})(s)`)(window.appViews.shown), ok.toString(), { timeout: 60_000 });
  return page.evaluate(() => {
    const s = window.appViews.shown;
    const inked = new Set();
    for (let i = 0; i < 784; i++) {
      if (s.input[i] <= 0.05) continue;
      const [y, x] = [Math.floor(i / 28), i % 28];
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (y + dy >= 0 && y + dy < 28 && x + dx >= 0 && x + dx < 28) inked.add((y + dy) * 28 + x + dx);
    }
    const onStroke = (v) => {
      let [all, on] = [0, 0];
      v.forEach((a, i) => a > 0 && ((all += a), inked.has(i) && (on += a)));
      return all > 0 ? on / all : 0;
    };
    const sal = s.saliency;
    return {
      rows: [...document.querySelectorAll(".layer-row")].map((r) => [r.dataset.layer, r.dataset.maps]),
      canvases: document.querySelectorAll(".layer-row canvas.map").length,
      kernels: document.querySelectorAll(".layer-row canvas.kernel").length,
      layers: s.layers,
      class: sal.class,
      igOnStroke: onStroke(sal.integrated),
      gradientOnStroke: onStroke(sal.gradient),
      strokeArea: inked.size / 784,
      igSum: sal.integrated.reduce((a, b) => a + b, 0),
      logitChange: sal.logits[sal.class] - sal.baseline_logit,
    };
  });
}
