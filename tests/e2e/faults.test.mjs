// The browser's own failures, forced in headless Chromium: a file of hundreds of MB
// picked as a model, a full IndexedDB while a run trains (and then diverges), and a tab
// hidden and frozen mid-training. Each gets a clear message or is handled, and the
// current model (or the run) is kept.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { open, truncate, rm } from "node:fs/promises";
import { serveDist, launch, ARTIFACTS } from "./harness.mjs";
import { LAPTOP, ONE, openApp, modelReady, dataReady, drawWithMouse, settledGuess, browserTabs } from "./app-helpers.mjs";

let server, browser;
before(async () => {
  server = await serveDist();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.close();
});

/** How long the tab stays hidden (E2E_HIDDEN_MS=360000 checks past Chrome's 5 minutes, after which it throttles background timers hardest). */
const HIDDEN_MS = Number(process.env.E2E_HIDDEN_MS) || 15_000;
const oneLine = (text) => text.replace("×", "").replace(/\s+/g, " ").trim();

test("a file of hundreds of MB picked as a model is refused before it is read, and the current model keeps working", { timeout: 120_000 }, async () => {
  const { page, errors, context } = await openApp(browser, server.url);
  // A sparse 300 MB file: no disk is used, but the browser sees its full size.
  const huge = join(ARTIFACTS, "huge.safetensors");
  await (await open(huge, "w")).close();
  await truncate(huge, 300e6);
  try {
    const before = await page.evaluate(() => performance.now());
    await page.setInputFiles("#model-file", huge);
    const banner = page.locator(".banner.error", { hasText: "huge.safetensors" });
    await banner.waitFor({ timeout: 30_000 });
    const message = oneLine(await banner.innerText());
    console.log(`huge file message (${Math.round((await page.evaluate(() => performance.now())) - before)} ms): ${message}`);
    assert.match(message, /300 MB, too large to be a model file/);
    assert.match(message, /current model is still in use/);
    assert.equal(await page.textContent("#model-name"), "pytorch-cnn");
    await drawWithMouse(page, ONE);
    assert.equal(await settledGuess(page), "1");
    assert.deepEqual(errors, []);
  } finally {
    await rm(huge, { force: true });
    await context.close();
  }
});

test("a full IndexedDB: the page says so, keeps the run's checkpoint in memory, and a diverging run still goes back to it", { timeout: 180_000 }, async () => {
  const context = await browser.newContext(LAPTOP);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // A real quota error: Chromium's own quota for this origin, made smaller than one checkpoint (lenet's is 530 KB).
  const cdp = await context.newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(server.url).origin, quotaSize: 100_000 });
  await page.goto(`${server.url}?stopAfter=40`);
  await modelReady(page);
  await dataReady(page);
  await page.selectOption("select[name=preset]", "lenet");
  await page.selectOption("select[name=optimizer]", "sgd");
  await page.fill("input[name=lr]", "10000");
  await page.click("#train-start");
  const full = page.locator(".banner.warn", { hasText: "checkpoint" });
  await full.waitFor({ timeout: 60_000 });
  console.log(`full storage message: ${oneLine(await full.innerText())}`);
  assert.match(await full.innerText(), /storage for this page is full/);
  assert.match(await full.innerText(), /kept in memory only/);
  const diverged = page.locator(".banner.error", { hasText: "diverged" });
  await diverged.waitFor({ timeout: 150_000 });
  console.log(`divergence message: ${oneLine(await diverged.innerText())}`);
  assert.match(await diverged.innerText(), /weights went back to the run's newest checkpoint \(epoch 1, step 0\)/);
  await page.waitForFunction(() => /back to the checkpoint of epoch 1, step 0/.test(document.getElementById("model-origin").textContent), null, { timeout: 30_000 });
  // The rolled-back model cannot be kept either: that is said too.
  await page.locator(".banner.warn", { hasText: "could not be kept in this browser" }).waitFor({ timeout: 30_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.checkpoints), undefined, "no checkpoint reached IndexedDB");
  assert.ok(Number(await page.evaluate(() => document.body.dataset.checkpointsInMemory)) >= 1);
  await drawWithMouse(page, ONE);
  assert.match(await settledGuess(page), /^[0-9]$/, "the restored weights predict (they are finite)");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a tab hidden mid-training takes a checkpoint at once, trains on while hidden, survives being frozen, and goes on when shown again", { timeout: 225_000 + HIDDEN_MS }, async () => {
  const tabs = await browserTabs(browser);
  try {
    const app = await tabs.open(`${server.url}?engine=cpu`);
    await app.waitFor("document.body.dataset.modelReadyMs && document.body.dataset.dataReady === '1'", 120_000);
    await app.evaluate(`{ const s = document.querySelector("select[name=preset]"); s.value = "lenet"; s.dispatchEvent(new Event("change")); document.getElementById("train-start").click(); }`);
    await app.waitFor("Number(document.body.dataset.trainSteps) >= 5", 120_000);
    assert.equal(await app.evaluate("document.body.dataset.checkpointReason"), "start");
    const steps = () => app.evaluate("Number(document.body.dataset.trainSteps)");
    const rate = async (ms) => {
      const [s0, t0] = [await steps(), Date.now()];
      await new Promise((r) => setTimeout(r, ms));
      return ((await steps()) - s0) / ((Date.now() - t0) / 1000);
    };
    const visibleRate = await rate(8_000);
    // Another tab in front: the app's tab is hidden, as switching tabs would.
    const other = await tabs.open("about:blank");
    await other.show();
    await app.waitFor("document.visibilityState === 'hidden' && document.body.dataset.checkpointReason === 'hidden'", 20_000);
    const hiddenRate = await rate(HIDDEN_MS);
    // Frozen by Chromium itself, as Chrome freezes background tabs: nothing on the page runs.
    const beforeFreeze = await steps();
    await app.send("Page.setWebLifecycleState", { state: "frozen" });
    await new Promise((r) => setTimeout(r, 10_000));
    await app.send("Page.setWebLifecycleState", { state: "active" });
    const thawed = await steps();
    await app.show();
    // (A long E2E_HIDDEN_MS may let the run finish all its epochs while hidden.)
    await app.waitFor(`document.visibilityState === "visible" && (Number(document.body.dataset.trainSteps) >= ${thawed + 5} || document.body.dataset.training === "finished")`, 60_000);
    console.log(`lenet steps/s: ${visibleRate.toFixed(1)} visible, ${hiddenRate.toFixed(1)} hidden for ${HIDDEN_MS / 1000} s; frozen 10 s: ${beforeFreeze} -> ${thawed} steps, then trains on`);
    assert.ok(hiddenRate > 0.5 * visibleRate, `a hidden tab trains on (${hiddenRate.toFixed(1)} vs ${visibleRate.toFixed(1)} steps/s)`);
    assert.match(await app.evaluate("document.body.dataset.training"), /running|finished/);
    await app.evaluate(`document.getElementById("train-pause").click()`);
    assert.deepEqual(app.errors, []);
  } finally {
    await tabs.close();
  }
});
