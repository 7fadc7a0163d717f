// What "See inside" costs while a network trains, in headless Chromium: training images/s
// with the views on screen (a drawing present, redrawn every 2 s) against the same run with
// them off screen, alternated A B A B in one run (this machine drifts between minutes),
// and the stroke-to-views latency (the drawing's every layer and saliency drawn) while it
// trains. Both engines: the CPU engine trains fast in its workers; WebGPU trains lenet.
// Run: trunk build --release && node scripts/bench-views.mjs [cpu|gpu ...]
import { serveDist, launch } from "../tests/e2e/harness.mjs";
import { modelReady, dataReady, ONE, SEVEN } from "../tests/e2e/app-helpers.mjs";

/** Draws strokes on the pad with pointer events sent from the page, as a mouse would,
 * wherever the page is scrolled (both phases keep one viewport; only the scroll differs). */
async function draw(page, strokes) {
  await page.evaluate(async (strokes) => {
    const pad = document.getElementById("pad");
    const r = pad.getBoundingClientRect();
    const send = (type, [x, y]) => pad.dispatchEvent(new PointerEvent(type, { pointerId: 1, pointerType: "mouse", isPrimary: true, button: 0, buttons: type === "pointerup" ? 0 : 1, clientX: r.left + x * r.width, clientY: r.top + y * r.height, bubbles: true }));
    for (const stroke of strokes) {
      send("pointerdown", stroke[0]);
      for (let i = 1; i < stroke.length; i++) {
        for (let t = 1; t <= 12; t++) {
          const [a, b] = [stroke[i - 1], stroke[i]];
          send("pointermove", [a[0] + ((b[0] - a[0]) * t) / 12, a[1] + ((b[1] - a[1]) * t) / 12]);
          await new Promise((done) => requestAnimationFrame(done));
        }
      }
      send("pointerup", stroke.at(-1));
    }
  }, strokes);
}

const WINDOW_MS = { cpu: 12000, gpu: 20000 };
const RECIPE = { cpu: { preset: "fast", batch: "256" }, gpu: { preset: "lenet", batch: "64" } };
const engines = process.argv.slice(2).length ? process.argv.slice(2) : ["cpu", "gpu"];
const server = await serveDist();
const browser = await launch();
const median = (v) => (v.length ? v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)] : NaN);
const rows = [];
for (const engine of engines) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${server.url}?engine=${engine}`);
  await modelReady(page);
  await dataReady(page);
  await page.selectOption("select[name=preset]", RECIPE[engine].preset);
  await page.fill("input[name=batch]", RECIPE[engine].batch);
  await page.fill("input[name=epochs]", "20");
  await page.click("#train-start");
  await page.waitForFunction(() => Number(document.body.dataset.trainSteps) >= 5, null, { timeout: 180_000 });
  // Training's own speed: the run's windows of 2,000 images, each timed over its chunks
  // alone (an epoch's test pass falls outside them).
  const windows = () => page.evaluate(() => window.appViews.app.training.run.windows.filter((w) => w.kind === "train").map((w) => [w.examples, w.images_per_s]));
  const rates = { off: [], on: [] };
  let latencies = [];
  for (const views of ["off", "on", "off", "on", "off", "on"]) {
    // On: the views scrolled into sight; off: the page's top (the pad, the training panel).
    await page.evaluate((on) => (on ? document.getElementById("inside-card").scrollIntoView({ block: "start" }) : scrollTo(0, 0)), views === "on");
    await page.evaluate(() => (window.appViews.latencies.length = 0));
    const [w0, t0] = [(await windows()).length, Date.now()];
    let i = 0;
    while (Date.now() - t0 < WINDOW_MS[engine]) {
      await page.evaluate(() => document.getElementById("clear").click());
      await draw(page, i++ % 2 ? ONE : SEVEN);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const done = (await windows()).slice(w0 + 1); // the first may have begun in the other phase
    const seconds = done.reduce((s, [n, r]) => s + n / r, 0);
    if (done.length) rates[views].push(done.reduce((s, [n]) => s + n, 0) / seconds);
    if (views === "on") latencies = latencies.concat(await page.evaluate(() => window.appViews.latencies));
  }
  const off = median(rates.off), on = median(rates.on);
  rows.push({ engine, network: RECIPE[engine].preset, off: rates.off.map((r) => r.toFixed(0)).join(", "), on: rates.on.map((r) => r.toFixed(0)).join(", "), slowdown: `${(100 * (1 - on / off)).toFixed(1)}%`, latencyMedian: median(latencies).toFixed(0), latencyN: latencies.length, mapMs: await page.evaluate(() => document.body.dataset.mapMs) });
  await context.close();
}
console.log("| engine | network | images/s, views off screen | images/s, views on screen | slowdown (medians) | stroke to views, median ms (n) | map update, ms |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.engine} | ${r.network} | ${r.off} | ${r.on} | ${r.slowdown} | ${r.latencyMedian} (${r.latencyN}) | ${r.mapMs} |`);
await browser.close();
server.close();
