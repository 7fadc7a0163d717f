// Training runs as records of their own, with real tabs of one browser profile (one
// IndexedDB, one set of Web Locks): a closed tab's run survives another tab's finished
// run, is offered to exactly one of the next pages that open, and the page that continues
// it ends with the weights of a run never interrupted, bit for bit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { servedApp } from "./harness.mjs";
import { LAPTOP, modelReady, dataReady } from "./app-helpers.mjs";

/** Tab A's run (lenet, batch 50, CPU engine) pauses at this step. */
const STOP = 150;

const env = servedApp();

/** A new tab of `context` on the app, ready to predict and to train. */
async function tab(context, query) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${env.server.url}?engine=cpu${query}`);
  await modelReady(page);
  await dataReady(page);
  return { page, errors };
}

/** Starts a fresh run of `preset` with the form's recipe, `batch` and `epochs` overridden. */
async function startRun(page, preset, { batch, epochs } = {}) {
  await page.selectOption("select[name=preset]", preset);
  if (batch) await page.fill("input[name=batch]", String(batch));
  if (epochs) await page.fill("input[name=epochs]", String(epochs));
  await page.click("#train-start");
}

/** SHA-256 of the page's model file once its run has paused (and the page took the weights). */
async function weightsAtPause(page) {
  await page.waitForFunction(() => document.body.dataset.training === "paused" && /paused/.test(document.getElementById("model-origin").textContent), null, { timeout: 240_000 });
  return page.evaluate(async () => {
    const bytes = await window.appSession.model_bytes();
    return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  });
}

test("two tabs: a closed tab's run outlives the other tab's finished run, is offered to exactly one new page, and continues to the weights of a run never interrupted", { timeout: 600_000 }, async () => {
  const context = await env.browser.newContext(LAPTOP);
  // Tab A: a run that pauses at step STOP (checkpoints every second).
  const a = await tab(context, `&checkpointEvery=1&stopAfter=${STOP}`);
  await startRun(a.page, "lenet", { batch: 50 });
  await a.page.waitForFunction(() => document.body.dataset.training === "paused", null, { timeout: 240_000 });
  const runA = await a.page.evaluate(() => document.body.dataset.runId);
  // Tab B: a short run that finishes (which used to delete the one checkpoint of the origin).
  const b = await tab(context, "");
  await startRun(b.page, "lenet", { batch: 500, epochs: 1 });
  await b.page.waitForFunction(() => document.body.dataset.training === "finished", null, { timeout: 240_000 });
  assert.notEqual(await b.page.evaluate(() => document.body.dataset.runId), runA);
  // A run whose checkpoint was cut short (a crash mid-write): skipped by name, never offered.
  await b.page.evaluate(async () => {
    const store = await import("./js/store.js");
    const good = await store.get((await store.keys("checkpoint:"))[0]);
    await store.put("run:cut", { id: "cut", version: 1, preset: "lenet", state: "running", startedAt: 0 });
    await store.put("checkpoint:cut", { ...good, bytes: good.bytes.slice(0, good.bytes.length - 100) });
  });
  // Tab A is closed, as a crash or a discarded tab closes it.
  await a.page.close();
  // Two new pages open at once: exactly one of them is offered A's run.
  const [c1, c2] = await Promise.all([tab(context, `&stopAfter=${STOP}`), tab(context, `&stopAfter=${STOP}`)]);
  const offered = async (t) => {
    await t.page.waitForFunction(() => document.body.dataset.runsOffered !== undefined, null, { timeout: 60_000 });
    return Number(await t.page.evaluate(() => document.body.dataset.runsOffered));
  };
  const counts = [await offered(c1), await offered(c2)];
  console.log(`runs offered to the two new pages: ${counts.join(" and ")}`);
  assert.deepEqual([...counts].sort(), [0, 1], "exactly one page is offered the interrupted run");
  const c = counts[0] === 1 ? c1 : c2;
  const cut = (t) => t.page.locator(".banner", { hasText: "(cut) was skipped: its checkpoint is damaged" }).count();
  assert.ok((await cut(c1)) + (await cut(c2)) >= 1, "the cut checkpoint is named as skipped");
  assert.equal(await c1.page.locator('.train-continue[data-run="cut"]').count() + (await c2.page.locator('.train-continue[data-run="cut"]').count()), 0);
  const button = c.page.locator(`.train-continue[data-run="${runA}"]`);
  const offer = await c.page.locator(".banner", { has: button }).innerText();
  assert.match(offer, /A training run of lenet was interrupted/);
  await button.click();
  const continued = await weightsAtPause(c.page);
  assert.equal(await c.page.evaluate(() => document.body.dataset.runId), runA, "the continued run keeps its id");
  // The same run never interrupted, in a profile of its own.
  const fresh = await env.browser.newContext(LAPTOP);
  const u = await tab(fresh, `&stopAfter=${STOP}`);
  await startRun(u.page, "lenet", { batch: 50 });
  const straight = await weightsAtPause(u.page);
  assert.equal(continued, straight, "the continued run ends with the uninterrupted run's weights");
  for (const t of [b, c1, c2, u]) assert.deepEqual(t.errors, []);
  await context.close();
  await fresh.close();
});

test("the runs table: three runs overlaid and one exported as CSV with its windows, a native log imported, a bad CSV and a damaged record refused by name", { timeout: 300_000 }, async () => {
  const context = await env.browser.newContext(LAPTOP);
  const t = await tab(context, "&stopAfter=40");
  for (const lr of ["0.01", "0.003", "0.001"]) {
    await t.page.fill("input[name=lr]", lr);
    await startRun(t.page, "lenet", { batch: 50 });
    await t.page.waitForFunction(() => document.body.dataset.training === "paused", null, { timeout: 120_000 });
  }
  await t.page.waitForFunction(() => document.body.dataset.runsListed === "3", null, { timeout: 30_000 });
  for (const box of await t.page.locator("#runs-table tbody input[type=checkbox]").all()) await box.check();
  assert.equal(await t.page.evaluate(() => document.body.dataset.runsShown), "3");
  assert.equal(await t.page.locator("#compare-legend .key").count(), 3);
  // A run's metric windows as CSV: the rows are the run's record, window for window.
  const row = t.page.locator("#runs-table tbody tr").first();
  const id = await row.getAttribute("data-run");
  const [download] = await Promise.all([t.page.waitForEvent("download"), row.locator("button", { hasText: "CSV" }).click()]);
  const csv = (await (await download.createReadStream()).toArray()).join("");
  const windows = await t.page.evaluate(async (id) => {
    const { default: _, ...store } = await import("./js/store.js");
    return (await store.get(`run:${id}`)).windows;
  }, id);
  const lines = csv.trim().split("\n");
  assert.equal(lines[0], "kind,epoch,step,steps_per_epoch,seconds,examples,loss,accuracy,images_per_s");
  assert.ok(windows.length >= 1, "a paused run has its windows");
  assert.equal(lines.length - 1, windows.length);
  lines.slice(1).forEach((line, i) => {
    const [kind, epoch, step, , , examples, loss, accuracy] = line.split(",");
    const w = windows[i];
    assert.deepEqual([kind, Number(epoch), Number(step), Number(examples)], [w.kind, w.epoch, w.step, w.examples]);
    assert.ok(Math.abs(Number(loss) - w.loss) < 1e-6 && Math.abs(Number(accuracy) - w.accuracy) < 1e-6, line);
  });
  // A native `train --log` file, imported as a run of its own and overlaid.
  const native = "kind,epoch,step,steps_per_epoch,seconds,examples,loss,accuracy,images_per_s\ntrain,1,40,1200,0.120,2000,1.500000,0.500000,16666.7\ntest,1,1200,1200,2.500,10000,0.050000,0.985000,\n";
  await t.page.setInputFiles("#runs-import", { name: "native.csv", mimeType: "text/csv", buffer: Buffer.from(native) });
  await t.page.waitForFunction(() => document.body.dataset.runsListed === "4" && document.body.dataset.runsShown === "4", null, { timeout: 30_000 });
  assert.match(await t.page.locator("#runs-table tbody").innerText(), /native[\s\S]*98\.50%/);
  // Files that are not metrics logs: refused with the line and the column at fault.
  for (const [text, words] of [["hello,world\n", /bad\.csv: line 1/], [native.replace("1.500000", "oops"), /bad\.csv: line 2: column 7 \(loss\)/]]) {
    await t.page.setInputFiles("#runs-import", { name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(text) });
    await t.page.locator(".banner", { hasText: "Could not import bad.csv" }).waitFor({ timeout: 10_000 });
    assert.match(await t.page.locator(".banner", { hasText: "Could not import bad.csv" }).innerText(), words);
    await t.page.evaluate(() => document.querySelectorAll(".banner").forEach((b) => b.remove()));
  }
  assert.equal(await t.page.evaluate(() => document.body.dataset.runsListed), "4");
  // A damaged record (another version) is skipped with its name; the rest of the list loads.
  await t.page.evaluate(async () => {
    const store = await import("./js/store.js");
    await store.put("run:broken", { id: "broken", version: 99 });
  });
  await t.page.reload();
  await modelReady(t.page);
  await t.page.locator(".banner", { hasText: "(broken) was skipped" }).waitFor({ timeout: 30_000 });
  assert.equal(await t.page.evaluate(() => document.body.dataset.runsListed), "4");
  assert.deepEqual(t.errors, []);
  await context.close();
});

test("each tab keeps its own model: two tabs save two models, a reload keeps the tab's own, and the library uses, renames and deletes them", { timeout: 300_000 }, async () => {
  const context = await env.browser.newContext(LAPTOP);
  const a = await tab(context, "&stopAfter=40");
  await startRun(a.page, "lenet", { batch: 50 });
  await a.page.waitForFunction(() => document.body.dataset.training === "paused" && document.body.dataset.modelsSaved === "1", null, { timeout: 120_000 });
  const b = await tab(context, "&stopAfter=20");
  await startRun(b.page, "mindspore", { batch: 50 });
  await b.page.waitForFunction(() => document.body.dataset.training === "paused" && document.body.dataset.modelsSaved === "2", null, { timeout: 120_000 });
  // The other tab's list follows (BroadcastChannel); its own model is untouched by B's save.
  await a.page.waitForFunction(() => document.body.dataset.modelsSaved === "2", null, { timeout: 30_000 });
  await a.page.reload();
  await modelReady(a.page);
  assert.equal(await a.page.textContent("#model-name"), "lenet", "a reload keeps the tab's own model, not the last one saved");
  assert.match(await a.page.textContent("#model-origin"), /saved in this browser/);
  // Use B's model in A, rename it, then delete A's own.
  const entry = (page, preset) => page.locator("#model-library li", { hasText: preset });
  await entry(a.page, "mindspore").locator("button", { hasText: "use" }).click();
  await a.page.waitForFunction(() => document.getElementById("model-name").textContent === "mindspore", null, { timeout: 30_000 });
  a.page.once("dialog", (d) => d.accept("my mindspore"));
  await entry(a.page, "mindspore").locator("button", { hasText: "rename" }).click();
  await entry(a.page, "my mindspore").waitFor({ timeout: 10_000 });
  await entry(a.page, "lenet").locator("button", { hasText: "delete" }).click();
  await a.page.waitForFunction(() => document.body.dataset.modelsSaved === "1", null, { timeout: 10_000 });
  await b.page.waitForFunction(() => document.body.dataset.modelsSaved === "1", null, { timeout: 30_000 });
  for (const t of [a, b]) assert.deepEqual(t.errors, []);
  await context.close();
});

test("storage is finite: a new run prunes all but the newest 3 checkpoints of runs no tab uses, spares pinned runs, says what it pruned, and keeps their records", { timeout: 120_000 }, async () => {
  const context = await env.browser.newContext(LAPTOP);
  const t = await tab(context, "&stopAfter=20");
  // Five runs that tabs left behind (the oldest pinned), made after this page claimed none.
  await t.page.evaluate(async () => {
    const store = await import("./js/store.js");
    for (let i = 0; i < 5; i++) {
      const id = `old${i}`;
      await store.put(`run:${id}`, { id, version: 1, preset: "lenet", state: "paused", startedAt: 1000 * i, pinned: i === 0 });
      await store.put(`checkpoint:${id}`, { fileName: "lenet.safetensors", bytes: new Uint8Array(16), savedAt: 1000 * (i + 1), epoch: 1, step: i, stepsPerEpoch: 100, epochs: 1, batch: 50 });
    }
  });
  await startRun(t.page, "lenet", { batch: 50 });
  await t.page.waitForFunction(() => document.body.dataset.runsPruned !== undefined, null, { timeout: 60_000 });
  assert.equal(await t.page.evaluate(() => document.body.dataset.runsPruned), "old1", "the oldest unpinned one goes; the 3 newest and the pinned one stay");
  assert.match(await t.page.locator(".banner", { hasText: "checkpoints of 1 older run" }).innerText(), /lenet \(old1\)/);
  const kept = await t.page.evaluate(async () => {
    const store = await import("./js/store.js");
    return { checkpoints: (await store.keys("checkpoint:")).filter((k) => k.startsWith("checkpoint:old")).sort(), records: (await store.keys("run:old")).length };
  });
  assert.deepEqual(kept, { checkpoints: ["checkpoint:old0", "checkpoint:old2", "checkpoint:old3", "checkpoint:old4"], records: 5 });
  assert.deepEqual(t.errors, []);
  await context.close();
});
