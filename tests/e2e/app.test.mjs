// The built app (dist/) in headless Chromium on WebGPU (SwiftShader here): it loads,
// recognises drawn digits with the default model, trains live, survives a bad model
// file, keeps personal digits and the fine-tuned model across a reload, and still
// recognises digits without WebGPU. Screenshots go to artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { serveDist, launch, ARTIFACTS } from "./harness.mjs";
import { LAPTOP, PHONE, ONE, SEVEN, openApp, modelReady, drawWithMouse, drawWithTouch, settledGuess } from "./app-helpers.mjs";

/** Training steps of the live-training test (lenet, batch 64). */
const TRAIN_STEPS = 30;

let server, browser;
before(async () => {
  server = await serveDist();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.close();
});

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true, scale: "css" });
const dataReady = (page) => page.waitForFunction(() => document.body.dataset.dataReady === "1", null, { timeout: 120_000 });

test("it loads: names the GPU, downloads the data set, fits a laptop and a phone", { timeout: 180_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  await page.waitForFunction(() => document.getElementById("adapter").textContent.startsWith("GPU:"), null, { timeout: 30_000 });
  await dataReady(page);
  assert.equal(await page.$eval("#data-progress", (p) => p.value), 1);
  assert.match(await page.textContent("#data-label"), /60,000 training and 10,000 test images/);
  await drawWithMouse(page, SEVEN);
  await settledGuess(page);
  await shot(page, "app-laptop.png");
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 1280, "no horizontal scrolling");
  assert.deepEqual(errors, []);
  await context.close();

  // A phone: one column, the pad fills the width, crisp (3x backing store), drawn by touch.
  const phone = await openApp(browser, server.url, PHONE);
  const layout = await phone.page.evaluate(() => {
    const pad = document.getElementById("pad");
    const r = pad.getBoundingClientRect();
    return { scrollWidth: document.documentElement.scrollWidth, padWidth: r.width, padRight: r.right, backing: pad.width };
  });
  assert.equal(layout.scrollWidth, 390, "no horizontal scrolling on a phone");
  assert.ok(layout.padWidth > 300 && layout.padRight <= 390, `the pad fills the phone's width (${layout.padWidth} px)`);
  assert.equal(layout.backing, Math.round(layout.padWidth * 3), "the pad's backing store follows devicePixelRatio");
  await drawWithTouch(phone.page, ONE);
  assert.equal(await settledGuess(phone.page), "1", "a 1 drawn with a finger");
  await shot(phone.page, "app-phone.png");
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test("the default model recognises a drawn 1 and 7, from the first seconds", { timeout: 120_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  await drawWithMouse(page, ONE);
  assert.equal(await settledGuess(page), "1");
  const t = await page.evaluate(() => ({ ...document.body.dataset }));
  console.log(`time to first prediction: ${t.firstPredictionMs} ms after navigation (model ready at ${t.modelReadyMs} ms; data set ${t.dataReady ? "already" : "not yet"} loaded)`);
  assert.ok(Number(t.firstPredictionMs) > 0);

  await page.click("#clear");
  assert.equal(await settledGuess(page), "–", "an empty pad shows no guess");
  assert.equal(await page.evaluate(() => document.body.dataset.guess), undefined);
  assert.equal(await page.$$eval("#bars .fill", (fills) => fills.filter((f) => parseFloat(f.style.width) > 0).length), 0, "bars cleared");

  await drawWithMouse(page, SEVEN);
  assert.equal(await settledGuess(page), "7");
  // The 28x28 view shows the network's input: some ink, and it lies over the pad when toggled.
  const ink = await page.$eval("#input-preview", (c) => c.getContext("2d").getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0 && v > 128).length);
  assert.ok(ink > 20, `the 28x28 preview shows the digit (${ink} bright pixels)`);
  await page.click("#view-input");
  assert.ok(await page.isVisible("#pad-input"));
  await page.click("#view-drawing");
  assert.ok(await page.isHidden("#pad-input"));
  assert.deepEqual(errors, []);
  await context.close();
});

test(`training lenet from scratch for ${TRAIN_STEPS} steps lifts the shown training accuracy well above chance`, { timeout: 300_000 }, async () => {
  const { page, errors, context } = await openApp(browser, `${server.url}?stopAfter=${TRAIN_STEPS}`);
  await dataReady(page);
  await page.selectOption("select[name=preset]", "lenet");
  assert.equal(await page.inputValue("select[name=optimizer]"), JSON.parse(await page.evaluate(() => window.wasmBindings.preset_recipe("lenet"))).optimizer, "the preset fills the form");
  await page.fill("input[name=batch]", "64");
  const t0 = Date.now();
  await page.click("#train-start");
  await page.waitForFunction(() => Number(document.body.dataset.trainSteps) >= 3, null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.training), "running");
  assert.equal(await page.evaluate(() => document.body.dataset.model), "lenet");

  // Drawing keeps predicting while the network trains.
  await drawWithMouse(page, ONE);
  assert.match(await settledGuess(page, 60_000), /^[0-9]$/);
  await page.waitForFunction(() => document.body.dataset.training !== "running", null, { timeout: 240_000 });
  const seconds = (Date.now() - t0) / 1000;
  const d = await page.evaluate(() => ({ ...document.body.dataset }));
  assert.equal(d.training, "paused", await page.textContent("#banners"));
  assert.equal(Number(d.trainSteps), TRAIN_STEPS);
  const shown = parseFloat(await page.textContent("#train-acc")) / 100;
  console.log(`lenet, batch 64: ${TRAIN_STEPS} steps in ${seconds.toFixed(1)} s; shown training accuracy ${(shown * 100).toFixed(1)}%; shown speed ${await page.textContent("#train-rate")}`);
  assert.ok(shown > 0.5, `training accuracy ${shown} should be well above chance (0.1)`);
  assert.match(await page.textContent("#train-rate"), /\d+ images\/s/);
  assert.ok(await page.isEnabled("#train-resume"), "a paused run can be resumed");
  await shot(page, "app-training.png");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a malformed model file shows a clear error and the current model keeps working", { timeout: 120_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  await page.setInputFiles("#model-file", { name: "broken.safetensors", mimeType: "application/octet-stream", buffer: randomBytes(4096) });
  const banner = page.locator(".banner.error", { hasText: "broken.safetensors" });
  await banner.waitFor({ timeout: 30_000 });
  const message = await banner.textContent();
  console.log(`bad model file message: ${message.replace("×", "").trim()}`);
  assert.match(message, /current model is still in use/);
  assert.equal(await page.textContent("#model-name"), "pytorch-cnn");
  await drawWithMouse(page, ONE);
  assert.equal(await settledGuess(page), "1");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a correction joins my digits, fine-tuning uses them, and both survive a reload", { timeout: 240_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  await dataReady(page);
  await drawWithMouse(page, SEVEN);
  await settledGuess(page);
  await page.click("#correct-buttons button:text-is('7')");
  assert.equal(await page.locator("#personal .thumb").count(), 1);
  if (await page.evaluate(() => typeof window.wasmBindings.fine_tune === "function")) {
    await page.click("#fine-tune");
    await page.waitForFunction(() => /Fine-tuned/.test(document.getElementById("personal-note").textContent), null, { timeout: 200_000 });
    console.log(`fine-tuning: ${await page.textContent("#personal-note")}`);
    assert.equal(await settledGuess(page), "7", "the drawing is re-predicted after fine-tuning");
    assert.match(await page.textContent("#model-origin"), /fine-tuned/);
    await page.waitForFunction(() => document.body.dataset.modelSaves, null, { timeout: 30_000 });
  }
  await page.reload();
  await modelReady(page);
  await page.waitForFunction(() => document.querySelectorAll("#personal .thumb").length === 1, null, { timeout: 10_000 });
  if (await page.evaluate(() => typeof window.wasmBindings.fine_tune === "function")) {
    assert.match(await page.textContent("#model-origin"), /saved in this browser/);
    assert.ok(await page.isVisible("#model-restore"), "the default model can be restored");
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test("without WebGPU it says so, turns training off, and still recognises digits on the CPU", { timeout: 120_000 }, async () => {
  const noGpu = await launch({ webgpu: false });
  try {
    const { page, errors } = await openApp(noGpu, server.url);
    const banner = page.locator(".banner.error", { hasText: "WebGPU" });
    await banner.waitFor({ timeout: 30_000 });
    console.log(`no-WebGPU message: ${(await banner.textContent()).replace("×", "").trim()}`);
    assert.match(await page.textContent("#adapter"), /No WebGPU/);
    assert.ok(await page.isDisabled("#train-start"));
    assert.match(await page.textContent("#train-note"), /needs WebGPU/);
    await drawWithMouse(page, ONE);
    assert.equal(await settledGuess(page), "1");
    await shot(page, "app-no-webgpu.png");
    assert.deepEqual(errors, []);
  } finally {
    await noGpu.close();
  }
});
