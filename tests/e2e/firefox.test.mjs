// The core of the app in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by
// puppeteer-core; headless it has no WebGPU, so everything runs on the CPU engine): the
// default model loads and recognises drawn digits (and See inside draws them), a preset trains and its accuracy
// rises, a reload mid-training continues from the newest checkpoint, a bad model file is
// refused and the model kept, and the page's engine self-test passes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { serveDist, ARTIFACTS } from "./harness.mjs";
import { ONE, SEVEN } from "./app-helpers.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const puppeteer = createRequire(join(root, "www", "package.json"))("puppeteer-core");
const env = {};

before(async () => {
  env.server = await serveDist();
  env.browser = await puppeteer.launch({ browser: "firefox", executablePath: "/usr/bin/firefox-esr", headless: true });
});
after(async () => {
  await env.browser?.close();
  env.server?.close();
});

/** A fresh page (its own browser context: fresh IndexedDB) with the app loaded and a model ready. */
async function openApp(query = "") {
  const context = await env.browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${env.server.url}${query}`);
  await waitFor(page, () => document.body.dataset.modelReadyMs, 60_000);
  return { page, errors, context };
}

const waitFor = (page, fn, timeout = 60_000, arg = undefined) => page.waitForFunction(fn, { timeout, polling: 200 }, arg);
const data = (page) => page.evaluate(() => ({ ...document.body.dataset }));

/** Draws strokes (pad coordinates 0..1) with the mouse, in small steps. */
async function draw(page, strokes) {
  await page.evaluate(() => document.getElementById("pad").scrollIntoView({ block: "center" }));
  const box = await (await page.$("#pad")).boundingBox();
  for (const stroke of strokes) {
    const pts = stroke.map(([x, y]) => [box.x + x * box.width, box.y + y * box.height]);
    await page.mouse.move(...pts[0]);
    await page.mouse.down();
    for (const p of pts.slice(1)) await page.mouse.move(...p, { steps: 12 });
    await page.mouse.up();
  }
}

async function guess(page) {
  await waitFor(page, () => document.body.dataset.predictor === "idle", 30_000);
  return page.$eval("#guess", (el) => el.textContent.trim());
}

test("Firefox: the default model loads on the CPU engine and recognises a drawn 1 and 7", { timeout: 120_000 }, async () => {
  const { page, errors, context } = await openApp();
  const d = await data(page);
  assert.equal(d.engine, "cpu");
  console.log(`Firefox: model ready in ${d.modelReadyMs} ms, webgpu ${d.webgpu}`);
  await draw(page, ONE);
  assert.equal(await guess(page), "1");
  await page.click("#clear");
  await draw(page, SEVEN);
  assert.equal(await guess(page), "7");
  // See inside draws the 7's layers and saliency here too.
  await page.evaluate(() => document.getElementById("inside-card").scrollIntoView());
  await waitFor(page, () => document.body.dataset.views === "idle" && window.appViews.shown?.saliency.class === 7, 60_000);
  assert.equal(await page.$$eval(".layer-row canvas.map", (c) => c.length), 16 + 16 + 32 + 32);
  assert.deepEqual(errors, []);
  await context.close();
});

test("Firefox: lenet trains on the CPU engine and its accuracy rises; a reload continues from the newest checkpoint", { timeout: 300_000 }, async () => {
  const { page, errors, context } = await openApp("?engine=cpu&checkpointEvery=1");
  await waitFor(page, () => document.body.dataset.dataReady === "1", 120_000);
  await page.select("select[name=preset]", "lenet");
  await page.$eval("input[name=batch]", (el) => (el.value = "50"));
  await page.click("#train-start");
  await waitFor(page, () => Number(document.body.dataset.checkpoints) >= 2 && Number(document.body.dataset.trainSteps) >= 40, 180_000);
  const accuracy = parseFloat(await page.$eval("#train-acc", (el) => el.textContent)) / 100;
  const before = Number((await data(page)).trainSteps);
  console.log(`Firefox: lenet, batch 50: training accuracy ${(accuracy * 100).toFixed(1)}% after ${before} steps; ${await page.$eval("#train-rate", (el) => el.textContent)}`);
  assert.ok(accuracy > 0.3, `training accuracy ${accuracy} is well above chance (0.1)`);
  // Firefox ESR 153 runs relaxed SIMD: its training worker loads that build (js/wasm-build.js).
  assert.equal((await data(page)).wasmBuild, "relaxed SIMD");
  await page.reload();
  await waitFor(page, () => document.body.dataset.modelReadyMs && document.getElementById("train-continue"), 60_000);
  await page.click("#train-continue");
  await waitFor(page, () => document.body.dataset.resumedAt && Number(document.body.dataset.trainSteps) >= 3, 120_000);
  const [epoch, step] = (await data(page)).resumedAt.split(":").map(Number);
  assert.equal(epoch, 1);
  assert.ok(step > 0 && step <= before + 1, `resumed at step ${step}, after ${before} steps before the reload`);
  await page.click("#train-pause");
  assert.deepEqual(errors, []);
  await context.close();
});

test("Firefox: a malformed model file is refused with a clear message and the model keeps working", { timeout: 120_000 }, async () => {
  const { page, errors, context } = await openApp();
  const bad = join(ARTIFACTS, "broken-firefox.safetensors");
  await writeFile(bad, randomBytes(4096));
  await (await page.$("#model-file")).uploadFile(bad);
  await waitFor(page, () => [...document.querySelectorAll(".banner.error")].some((b) => b.textContent.includes("broken-firefox.safetensors")), 30_000);
  const message = await page.$eval(".banner.error", (b) => b.textContent);
  assert.match(message, /current model is still in use/);
  await draw(page, ONE);
  assert.equal(await guess(page), "1");
  assert.deepEqual(errors, []);
  await context.close();
});

test("Firefox: the page's engine self-test passes on the CPU engine", { timeout: 600_000 }, async () => {
  const { page, errors, context } = await openApp();
  await page.click("#selftest-card summary");
  await page.click("#selftest-run");
  await waitFor(page, () => document.body.dataset.selftest, 540_000);
  const failures = await page.$$eval("#selftest td.fail", (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(failures, []);
  const engines = await page.$$eval("#selftest tbody tr td:nth-child(2)", (tds) => tds.map((t) => t.textContent));
  assert.ok(engines.filter((e) => e === "cpu").length >= 20, `${engines.length} cases run`);
  assert.equal((await data(page)).selftest, "pass");
  assert.deepEqual(errors, []);
  await context.close();
});
