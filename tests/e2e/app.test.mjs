// The built app (dist/) in headless Chromium (WebGPU on SwiftShader here, a software
// adapter, so the app picks the CPU engine unless ?engine=gpu): it loads, says which
// engine runs and why, recognises drawn digits with the default model, trains live on
// WebGPU and on the CPU engine, survives a bad model file, keeps personal digits and the
// fine-tuned model across a reload, and trains without WebGPU. Screenshots go to artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { serveDist, launch, ARTIFACTS } from "./harness.mjs";
import { LAPTOP, PHONE, ONE, SEVEN, openApp, modelReady, dataReady, drawWithMouse, drawWithTouch, settledGuess } from "./app-helpers.mjs";

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

/** The autotuner's kernel timings this page kept in IndexedDB; with `json`, keeps those instead. */
const keptKernels = (page, json) =>
  page.evaluate(
    (json) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("wgpu-mnist", 1);
        open.onupgradeneeded = () => open.result.createObjectStore("kv");
        open.onsuccess = () => {
          const tx = open.result.transaction("kv", json ? "readwrite" : "readonly");
          const req = json ? tx.objectStore("kv").put(json, "kernels") : tx.objectStore("kv").get("kernels");
          tx.oncomplete = () => resolve(req.result);
          tx.onerror = () => reject(tx.error);
        };
      }),
    json,
  );
const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true, scale: "css" });

test("it loads: names the engine and why, downloads the data set, fits a laptop and a phone", { timeout: 180_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  // SwiftShader is a software adapter: the CPU engine is picked, and the page says why.
  await page.waitForFunction(() => document.body.dataset.engine === "cpu", null, { timeout: 30_000 });
  assert.match(await page.textContent("#adapter"), /CPU engine: the WebGPU adapter is a software one/);
  assert.equal(await page.inputValue("#engine-select"), "cpu");
  assert.ok(!(await page.$eval('#engine-select option[value="gpu"]', (o) => o.disabled)), "the person can switch to WebGPU");
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

test(`training lenet on WebGPU from scratch for ${TRAIN_STEPS} steps lifts the shown training accuracy well above chance`, { timeout: 300_000 }, async () => {
  const { page, errors, context } = await openApp(browser, `${server.url}?stopAfter=${TRAIN_STEPS}&engine=gpu`);
  await dataReady(page);
  assert.match(await page.textContent("#adapter"), /^GPU:/);
  assert.equal(await page.inputValue("select[name=preset]"), "fast", "the 99%-in-one-epoch preset is offered first");
  assert.equal(await page.inputValue("select[name=schedule]"), "one-cycle", "and its schedule fills the form");
  await page.selectOption("select[name=preset]", "lenet");
  assert.equal(await page.inputValue("select[name=optimizer]"), (await page.evaluate(() => window.appSession.preset_recipe("lenet"))).optimizer, "the preset fills the form");
  assert.equal(await page.inputValue("select[name=schedule]"), "constant");
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
  assert.equal(d.trainingIn, "worker", "WebGPU training runs off the main thread too (its own device in a worker)");
  const shown = parseFloat(await page.textContent("#train-acc")) / 100;
  console.log(`WebGPU, lenet, batch 64: ${TRAIN_STEPS} steps in ${seconds.toFixed(1)} s; shown training accuracy ${(shown * 100).toFixed(1)}%; shown speed ${await page.textContent("#train-rate")}`);
  assert.ok(shown > 0.5, `training accuracy ${shown} should be well above chance (0.1)`);
  assert.match(await page.textContent("#train-rate"), /\d+ images\/s/);
  assert.ok(await page.isEnabled("#train-resume"), "a paused run can be resumed");
  await shot(page, "app-training.png");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a diverging run (lr 1e4) is reported with its cause and step, its weights go back to its newest checkpoint, and Reset makes the app usable again: it predicts and trains", { timeout: 180_000 }, async () => {
  const { page, errors, context } = await openApp(browser, `${server.url}?stopAfter=40`);
  await dataReady(page);
  await page.selectOption("select[name=preset]", "lenet");
  await page.selectOption("select[name=optimizer]", "sgd");
  await page.fill("input[name=lr]", "10000");
  await page.click("#train-start");
  const banner = page.locator(".banner.error", { hasText: "diverged" });
  await banner.waitFor({ timeout: 150_000 });
  console.log(`divergence message: ${(await banner.innerText()).replace("×", "").replace(/\s+/g, " ").trim()}`);
  assert.equal(await page.evaluate(() => document.body.dataset.training), "idle");
  assert.match(await banner.innerText(), /learning rate .* step|step .* learning rate/s, "the message names the likely cause and the step");
  assert.match(await banner.innerText(), /weights went back to the run's newest checkpoint/);
  await page.waitForFunction(() => /back to the checkpoint of epoch 1, step 0/.test(document.getElementById("model-origin").textContent), null, { timeout: 30_000 });
  await drawWithMouse(page, ONE);
  assert.match(await settledGuess(page), /^[0-9]$/, "the restored weights predict (they are finite)");
  await page.click("#train-reset");
  await page.waitForFunction(() => /untrained/.test(document.getElementById("model-origin").textContent), null, { timeout: 30_000 });
  await drawWithMouse(page, ONE);
  assert.match(await settledGuess(page), /^[0-9]$/, "a fresh model predicts again");
  assert.ok(await page.isEnabled("#train-start"));
  // Training starts again after the failure (on the CPU engine, in a fresh worker).
  await page.fill("input[name=lr]", "0.01");
  await page.click("#train-start");
  await page.waitForFunction(() => Number(document.body.dataset.trainSteps) >= 3, null, { timeout: 120_000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test("Analyse test set fills the confusion matrix, the galleries, the filters and the summary", { timeout: 180_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  await dataReady(page);
  // A fresh lenet: its pass over the test set is quick even on a software GPU.
  await page.selectOption("select[name=preset]", "lenet");
  await page.click("#train-reset");
  await page.waitForFunction(() => document.body.dataset.model === "lenet", null, { timeout: 30_000 });
  await page.click("#analyse");
  await page.waitForFunction(() => document.body.dataset.analysedAccuracy, null, { timeout: 150_000 });
  const cells = await page.$$eval("#confusion tbody tr", (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => Number(td.textContent) || 0)));
  assert.equal(cells.length, 10);
  assert.equal(cells.flat().reduce((a, b) => a + b, 0), 10_000, "every test image is in one cell");
  const right = cells.reduce((s, row, i) => s + row[i], 0);
  assert.equal(Number(await page.evaluate(() => document.body.dataset.analysedAccuracy)), right / 10_000);
  assert.equal(await page.locator("#first-digits .thumb").count(), 20);
  assert.equal(await page.locator("#misclassified .thumb").count(), Math.min(60, 10_000 - right));
  // The fullest cell shows its digits (at most 60).
  const [t, p] = cells.flatMap((row, i) => row.map((n, j) => [i, j, n])).sort((a, b) => b[2] - a[2])[0];
  await page.click(`#confusion tbody tr:nth-child(${t + 1}) td:nth-child(${p + 2})`);
  assert.equal(await page.locator("#cell-digits .thumb").count(), Math.min(60, cells[t][p]));
  assert.match(await page.textContent("#cell-title"), new RegExp(`True ${t}, predicted ${p}: ${cells[t][p]} images`));
  assert.equal(await page.locator("#filters canvas").count(), 6, "lenet's first layer has 6 filters");
  assert.match(await page.textContent("#summary"), /lenet/);
  console.log(`analysis of an untrained lenet: ${await page.textContent("#analysis-status")}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("model files: download gives <preset>.safetensors that loads again; a malformed one shows a clear error and the model keeps working", { timeout: 120_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#model-download")]);
  assert.equal(download.suggestedFilename(), "pytorch-cnn.safetensors");
  const saved = join(ARTIFACTS, "downloaded.safetensors");
  await download.saveAs(saved);
  await page.setInputFiles("#model-file", saved);
  await page.waitForFunction(() => /loaded from downloaded.safetensors/.test(document.getElementById("model-origin").textContent), null, { timeout: 30_000 });

  await page.setInputFiles("#model-file", { name: "broken.safetensors", mimeType: "application/octet-stream", buffer: randomBytes(4096) });
  const banner = page.locator(".banner.error", { hasText: "broken.safetensors" });
  await banner.waitFor({ timeout: 30_000 });
  const message = await banner.innerText();
  console.log(`bad model file message: ${message.replace("×", "").replace(/\s+/g, " ").trim()}`);
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
  if (await page.evaluate(() => typeof window.appSession.fine_tune === "function")) {
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
  if (await page.evaluate(() => typeof window.appSession.fine_tune === "function")) {
    assert.match(await page.textContent("#model-origin"), /saved in this browser/);
    await page.click("#model-restore");
    await page.waitForFunction(() => /default model/.test(document.getElementById("model-origin").textContent), null, { timeout: 30_000 });
    assert.ok(await page.isHidden("#model-restore"));
  }
  assert.deepEqual(errors, []);
  await context.close();
});

test("a page reloaded mid-training offers to continue from its newest checkpoint, and training goes on from there", { timeout: 240_000 }, async () => {
  const { page, errors, context } = await openApp(browser, `${server.url}?engine=cpu&checkpointEvery=1`);
  await dataReady(page);
  await page.selectOption("select[name=preset]", "lenet");
  await page.fill("input[name=batch]", "50");
  await page.click("#train-start");
  await page.waitForFunction(() => Number(document.body.dataset.checkpoints) >= 2, null, { timeout: 120_000 });
  const before = Number(await page.evaluate(() => document.body.dataset.trainSteps));
  // Chromium runs relaxed SIMD: its training worker loads that build (js/wasm-build.js).
  assert.equal(await page.evaluate(() => document.body.dataset.wasmBuild), "relaxed SIMD");
  await page.reload(); // as a crashed tab or an accidental reload would
  await modelReady(page);
  await page.locator("#train-continue").waitFor({ timeout: 60_000 });
  const offer = await page.locator(".banner", { has: page.locator("#train-continue") }).innerText();
  console.log(`offer after reload: ${offer.replace("×", "").replace(/\s+/g, " ").trim()}`);
  assert.match(offer, /interrupted at epoch 1 of 10, step \d+ of 1200/);
  await page.click("#train-continue");
  await page.waitForFunction(() => document.body.dataset.resumedAt && Number(document.body.dataset.trainSteps) >= 3, null, { timeout: 120_000 });
  const [epoch, step] = (await page.evaluate(() => document.body.dataset.resumedAt)).split(":").map(Number);
  assert.equal(epoch, 1);
  assert.ok(step > 0 && step <= before + 1, `resumed at step ${step}, after ${before} steps before the reload`);
  assert.match(await page.textContent("#model-origin"), /restored from a checkpoint/);
  assert.equal(await page.evaluate(() => document.body.dataset.training), "running");
  await page.click("#train-pause");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a GPU device lost mid-training is survived: a new device, the newest checkpoint, the steps since redone, and the same weights as a run never interrupted", { timeout: 420_000 }, async () => {
  /** Trains lenet (batch 32) on the worker's WebGPU device up to step 24, then the page's weights. */
  const train = async (page) => {
    await dataReady(page);
    await page.selectOption("select[name=preset]", "lenet");
    await page.fill("input[name=batch]", "32");
    await page.click("#train-start");
  };
  const weightsAtPause = async (page) => {
    await page.waitForFunction(() => document.body.dataset.training === "paused" && /paused/.test(document.getElementById("model-origin").textContent), null, { timeout: 240_000 });
    return page.evaluate(async () => {
      const bytes = await window.appSession.model_bytes();
      return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
    });
  };
  const { page, errors, context } = await openApp(browser, `${server.url}?engine=gpu&checkpointEvery=1&loseDeviceAfter=12&stopAfter=24`);
  await train(page);
  // The worker's device is destroyed after 12 steps (a test hook, as a driver reset would).
  await page.locator("#train-continue").waitFor({ timeout: 240_000 });
  const offer = await page.locator(".banner", { has: page.locator("#train-continue") }).innerText();
  console.log(`after the device loss: ${offer.replace("×", "").replace(/\s+/g, " ").trim()}`);
  assert.match(offer, /GPU device was lost while training .* \d+ steps? will be redone/);
  const redo = Number(await page.evaluate(() => document.body.dataset.stepsToRedo));
  assert.ok(redo >= 0 && redo < 12, `${redo} steps to redo`);
  await page.click("#train-continue");
  await page.waitForFunction(() => document.body.dataset.resumedAt && Number(document.body.dataset.trainSteps) >= 1, null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.trainingIn), "worker");
  assert.match(await page.textContent("#adapter"), /^GPU:/, "the page kept WebGPU: only the worker's device was lost");
  const survived = await weightsAtPause(page);
  const timed = Number(await page.evaluate(() => document.body.dataset.kernelsTimed));
  const kernels = await keptKernels(page);
  assert.deepEqual(errors, []);
  await context.close();
  // The same 24 steps without the loss: the weights must be the same, bit for bit (same
  // seed, same shuffle, the optimizer's state restored from the checkpoint). Same device,
  // so the kernel timings the first page kept serve: nothing is timed again.
  const straight = await openApp(browser, `${server.url}?engine=gpu&stopAfter=24`);
  await keptKernels(straight.page, kernels);
  await train(straight.page);
  const uninterrupted = await weightsAtPause(straight.page);
  console.log(`weights after 24 steps: ${survived.slice(0, 16)} (device lost at step 12, ${redo} redone) vs ${uninterrupted.slice(0, 16)} (uninterrupted)`);
  console.log(`GPU kernels: ${timed} passes timed by the first page (at its start; none at the continue), ${await straight.page.evaluate(() => document.body.dataset.kernelsTimed)} by the page with the kept timings; ${await straight.page.evaluate(() => document.body.dataset.kernels)}`);
  assert.ok(timed > 0, "the first start on a device times its kernels");
  assert.equal(await straight.page.evaluate(() => document.body.dataset.kernelsTimed), "0", "a start with kept timings times nothing");
  assert.equal(survived, uninterrupted, "the run that survived the loss ends with the uninterrupted run's weights");
  assert.deepEqual(straight.errors, []);
  await straight.context.close();
});

test("without WebGPU the CPU engine trains: accuracy rises, and a digit drawn meanwhile gets a guess", { timeout: 300_000 }, async () => {
  const noGpu = await launch({ webgpu: false });
  try {
    const { page, errors } = await openApp(noGpu, server.url);
    const banner = page.locator(".banner.info", { hasText: "WebGPU" });
    await banner.waitFor({ timeout: 30_000 });
    console.log(`no-WebGPU message: ${(await banner.innerText()).replace("×", "").replace(/\s+/g, " ").trim()}`);
    assert.match(await page.textContent("#adapter"), /CPU engine: no usable WebGPU/);
    assert.ok(await page.$eval('#engine-select option[value="gpu"]', (o) => o.disabled), "no WebGPU to switch to");
    await dataReady(page);
    await page.selectOption("select[name=preset]", "pytorch-cnn");
    await page.fill("input[name=batch]", "64");
    assert.match(await page.textContent("#train-note"), /CPU engine/);
    const t0 = Date.now();
    await page.click("#train-start");
    await page.waitForFunction(() => Number(document.body.dataset.trainSteps) >= 5, null, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.trainingIn), "worker", "the CPU engine trains off the main thread");
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(await page.evaluate(() => Number(document.body.dataset.trainingWorkers)), Math.min(cores, 4), "one worker per core shares each step");
    // Drawing while the network trains: the guess follows, measured stroke to guess.
    const [drawing, latencies] = [[], []];
    for (const digit of [ONE, SEVEN, ONE, SEVEN, ONE]) {
      await page.click("#clear");
      const started = Date.now();
      await drawWithMouse(page, digit);
      const drawn = Date.now();
      assert.match(await settledGuess(page, 60_000), /^[0-9]$/);
      drawing.push(drawn - started);
      latencies.push(Date.now() - drawn);
      assert.equal(await page.evaluate(() => document.body.dataset.training), "running", "the guess came while training ran");
    }
    await page.waitForFunction(() => Number(document.body.dataset.trainSteps) >= 150, null, { timeout: 240_000 });
    await page.click("#train-pause");
    await page.waitForFunction(() => document.body.dataset.training === "paused", null, { timeout: 60_000 });
    const d = await page.evaluate(() => ({ ...document.body.dataset }));
    const shown = parseFloat(await page.textContent("#train-acc")) / 100;
    console.log(`CPU engine (no WebGPU), pytorch-cnn batch 64: ${d.trainSteps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; shown accuracy ${(shown * 100).toFixed(1)}%; shown speed ${await page.textContent("#train-rate")}; finished stroke to guess ${latencies.join(", ")} ms (drawing itself took ${drawing.join(", ")} ms)`);
    assert.ok(shown > 0.7, `training accuracy ${shown} should rise well above chance (0.1)`);
    await shot(page, "app-no-webgpu-training.png");
    assert.deepEqual(errors, []);

    // A browser without the API at all (navigator.gpu removed): the CPU engine still recognises digits.
    const context = await noGpu.newContext(LAPTOP);
    await context.addInitScript(() => delete Navigator.prototype.gpu);
    const bare = await context.newPage();
    await bare.goto(server.url);
    await modelReady(bare);
    await bare.locator(".banner.info", { hasText: "WebGPU" }).waitFor({ timeout: 30_000 });
    assert.match(await bare.textContent("#adapter"), /CPU engine/);
    await drawWithMouse(bare, SEVEN);
    assert.equal(await settledGuess(bare), "7");
  } finally {
    await noGpu.close();
  }
});
