// The core of the app in WebKit, the engine of Safari (Debian's WebKitGTK MiniBrowser,
// driven by selenium-webdriver through WebKitWebDriver under a virtual X display; no
// WebGPU there, so the CPU engine): the default model loads and recognises drawn digits
// (and See inside draws them), a preset trains and its accuracy rises, a reload
// mid-training continues from the newest checkpoint, a bad model file is refused and the
// model kept, and the page's engine self-test passes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { serveDist } from "./harness.mjs";
import { ONE, SEVEN } from "./app-helpers.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { Builder } = createRequire(join(root, "www", "package.json"))("selenium-webdriver");
const MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
const env = {};

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

before(async () => {
  env.server = await serveDist();
  env.port = await freePort();
  env.driverProcess = spawn("xvfb-run", ["-a", "-s", "-screen 0 1280x1024x24", "WebKitWebDriver", `--port=${env.port}`], { stdio: "ignore", detached: true });
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${env.port}/status`).then((r) => r.ok, () => false);
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(async () => {
  env.server?.close();
  if (env.driverProcess) process.kill(-env.driverProcess.pid);
});

/** A new MiniBrowser session (its own storage) with the app loaded and a model ready. */
async function openApp(query = "") {
  const driver = await new Builder()
    .usingServer(`http://127.0.0.1:${env.port}`)
    .withCapabilities({ browserName: "MiniBrowser", "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] } })
    .build();
  await driver.manage().window().setRect({ width: 1280, height: 900 });
  await driver.get(`${env.server.url}${query}`);
  await waitFor(driver, "document.body.dataset.modelReadyMs", 60_000);
  return driver;
}

/** Polls a JavaScript expression until it is truthy. */
async function waitFor(driver, expression, timeout = 60_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await driver.executeScript(`return (${expression})`).catch(() => false);
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const data = (driver) => driver.executeScript("return { ...document.body.dataset }");

/** Draws strokes (pad coordinates 0..1) with pointer actions, in small steps. */
async function draw(driver, strokes) {
  const box = await driver.executeScript(`const p = document.getElementById("pad"); p.scrollIntoView({ block: "center" }); const r = p.getBoundingClientRect(); return [r.left, r.top, r.width, r.height];`);
  const at = ([x, y]) => ({ origin: "viewport", x: Math.round(box[0] + x * box[2]), y: Math.round(box[1] + y * box[3]) });
  for (const stroke of strokes) {
    let actions = driver.actions({ async: true }).move(at(stroke[0])).press();
    for (let i = 1; i < stroke.length; i++) {
      for (let t = 1; t <= 12; t++) {
        const [a, b] = [stroke[i - 1], stroke[i]];
        actions = actions.move({ ...at([a[0] + ((b[0] - a[0]) * t) / 12, a[1] + ((b[1] - a[1]) * t) / 12]), duration: 15 });
      }
    }
    await actions.release().perform();
  }
}

async function guess(driver) {
  await waitFor(driver, `document.body.dataset.predictor === "idle"`, 30_000);
  return (await driver.executeScript(`return document.getElementById("guess").textContent`)).trim();
}

const click = (driver, id) => driver.executeScript(`document.getElementById("${id}").click()`);

test("WebKit: the default model loads on the CPU engine and recognises a drawn 1 and 7", { timeout: 120_000 }, async () => {
  const driver = await openApp();
  try {
    const d = await data(driver);
    assert.equal(d.engine, "cpu");
    console.log(`WebKit: model ready in ${d.modelReadyMs} ms, webgpu ${d.webgpu}, hardwareConcurrency ${await driver.executeScript("return navigator.hardwareConcurrency")}`);
    await draw(driver, ONE);
    assert.equal(await guess(driver), "1");
    await click(driver, "clear");
    await draw(driver, SEVEN);
    assert.equal(await guess(driver), "7");
    await driver.executeScript(`document.getElementById("inside-card").scrollIntoView()`);
    await waitFor(driver, `document.body.dataset.views === "idle" && window.appViews.shown?.saliency.class === 7`);
    assert.equal(await driver.executeScript(`return document.querySelectorAll(".layer-row canvas.map").length`), 16 + 16 + 32 + 32);
  } finally {
    await driver.quit();
  }
});

test("WebKit: lenet trains on the CPU engine and its accuracy rises; a reload continues from the newest checkpoint", { timeout: 300_000 }, async () => {
  const driver = await openApp("?engine=cpu&checkpointEvery=1");
  try {
    await waitFor(driver, `document.body.dataset.dataReady === "1"`, 120_000);
    await driver.executeScript(`const f = document.getElementById("train-form"); f.preset.value = "lenet"; f.preset.dispatchEvent(new Event("change", { bubbles: true })); f.batch.value = "50"; document.getElementById("train-start").click();`);
    await waitFor(driver, `Number(document.body.dataset.checkpoints) >= 2 && Number(document.body.dataset.trainSteps) >= 40`, 180_000);
    const accuracy = parseFloat(await driver.executeScript(`return document.getElementById("train-acc").textContent`)) / 100;
    const before = Number((await data(driver)).trainSteps);
    console.log(`WebKit: lenet, batch 50: training accuracy ${(accuracy * 100).toFixed(1)}% after ${before} steps; ${await driver.executeScript(`return document.getElementById("train-rate").textContent`)}`);
    assert.ok(accuracy > 0.3, `training accuracy ${accuracy} is well above chance (0.1)`);
    // WebKitGTK 2.50 has no relaxed SIMD: its workers keep to the simd128 build.
    assert.equal((await data(driver)).wasmBuild, "simd128");
    // WebKitGTK reports more cores than this machine has: the page must not start more workers than cores.
    const workers = Number((await driver.executeScript(`return document.getElementById("train-rate").textContent`)).match(/\((\d+) workers/)?.[1] ?? 1);
    assert.ok(workers <= availableParallelism(), `${workers} workers on ${availableParallelism()} cores`);
    await driver.navigate().refresh();
    await waitFor(driver, `document.body.dataset.modelReadyMs && document.getElementById("train-continue")`, 60_000);
    await click(driver, "train-continue");
    await waitFor(driver, `document.body.dataset.resumedAt && Number(document.body.dataset.trainSteps) >= 3`, 120_000);
    const [epoch, step] = (await data(driver)).resumedAt.split(":").map(Number);
    assert.equal(epoch, 1);
    assert.ok(step > 0 && step <= before + 1, `resumed at step ${step}, after ${before} steps before the reload`);
    await click(driver, "train-pause");
  } finally {
    await driver.quit();
  }
});

test("WebKit: a malformed model file is refused with a clear message and the model keeps working", { timeout: 120_000 }, async () => {
  const driver = await openApp();
  try {
    // The file picker's result, as a person's choice would leave it.
    await driver.executeScript(`
      const input = document.getElementById("model-file");
      const t = new DataTransfer();
      t.items.add(new File([crypto.getRandomValues(new Uint8Array(4096))], "broken-webkit.safetensors"));
      input.files = t.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));`);
    await waitFor(driver, `[...document.querySelectorAll(".banner.error")].some((b) => b.textContent.includes("broken-webkit.safetensors"))`, 30_000);
    assert.match(await driver.executeScript(`return document.querySelector(".banner.error").textContent`), /current model is still in use/);
    await draw(driver, ONE);
    assert.equal(await guess(driver), "1");
  } finally {
    await driver.quit();
  }
});

test("WebKit: the page's engine self-test passes on the CPU engine", { timeout: 600_000 }, async () => {
  const driver = await openApp();
  try {
    await driver.executeScript(`document.getElementById("selftest-card").open = true; document.getElementById("selftest-run").click();`);
    await waitFor(driver, "document.body.dataset.selftest", 540_000);
    assert.deepEqual(await driver.executeScript(`return [...document.querySelectorAll("#selftest td.fail")].map((t) => t.textContent)`), []);
    assert.ok(await driver.executeScript(`return [...document.querySelectorAll("#selftest tbody tr td:nth-child(2)")].filter((t) => t.textContent === "cpu").length`) >= 20);
    assert.equal((await data(driver)).selftest, "pass");
  } finally {
    await driver.quit();
  }
});
