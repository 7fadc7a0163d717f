// The engine calls the network views are drawn from, on the page's own model and engine:
// every layer's output for one drawing, with its name, kind and shape, and every
// convolution's filters, on the CPU engine and on WebGPU. (The views themselves are the
// next step: issue "See inside".)
import { test } from "node:test";
import assert from "node:assert/strict";
import { servedApp } from "./harness.mjs";
import { LAPTOP, modelReady } from "./app-helpers.mjs";

const env = servedApp();

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
}
