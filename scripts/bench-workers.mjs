// Training speed by worker count in each browser engine (the CPU engine: no WebGPU in
// these headless browsers): `fast` (batch 256) on 1, 2 and 4 workers via ?workers=N,
// and on the count the page picks itself (js/cores.js); each run's 2,000-image windows
// after its first, median, images/s (workers used). Prints a markdown table.
// Run: trunk build --release && node scripts/bench-workers.mjs [chromium firefox webkit]
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveDist, launch } from "../tests/e2e/harness.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const need = createRequire(join(root, "www", "package.json"));
const STEPS = 70;

/** Each browser behind one shape: open(url) -> { run(expression), close() }. */
const browsers = {
  async chromium() {
    const b = await launch();
    return { open: async (url) => { const p = await (await b.newContext()).newPage(); await p.goto(url); return { run: (e) => p.evaluate(e), close: () => p.context().close() }; }, quit: () => b.close() };
  },
  async firefox() {
    const b = await need("puppeteer-core").launch({ browser: "firefox", executablePath: "/usr/bin/firefox-esr", headless: true });
    return { open: async (url) => { const c = await b.createBrowserContext(); const p = await c.newPage(); await p.goto(url); return { run: (e) => p.evaluate(e), close: () => c.close() }; }, quit: () => b.close() };
  },
  async webkit() {
    const port = 4444 + Math.floor(Math.random() * 1000);
    const driverProcess = spawn("xvfb-run", ["-a", "WebKitWebDriver", `--port=${port}`], { stdio: "ignore", detached: true });
    await new Promise((r) => setTimeout(r, 1500));
    const { Builder } = need("selenium-webdriver");
    const caps = { browserName: "MiniBrowser", "webkitgtk:browserOptions": { binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", args: ["--automation"] } };
    return {
      open: async (url) => { const d = await new Builder().usingServer(`http://127.0.0.1:${port}`).withCapabilities(caps).build(); await d.get(url); return { run: (e) => d.executeScript(`return (${e})`), close: () => d.quit() }; },
      quit: async () => process.kill(-driverProcess.pid),
    };
  },
};

async function until(tab, expression, timeout) {
  const end = Date.now() + timeout;
  while (!(await tab.run(expression).catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out: ${expression}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const server = await serveDist();
const rows = [];
for (const name of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(browsers)) {
  const browser = await browsers[name]();
  const row = { name, cores: null, speeds: [] };
  for (const workers of [1, 2, 4, "auto"]) {
    const tab = await browser.open(`${server.url}?engine=cpu&stopAfter=${STEPS}${workers === "auto" ? "" : `&workers=${workers}`}`);
    await until(tab, `document.body.dataset.dataReady === "1" && document.body.dataset.modelReadyMs`, 120_000);
    row.cores = await tab.run("navigator.hardwareConcurrency");
    await tab.run(`document.getElementById("train-start").click()`);
    await until(tab, `document.body.dataset.training === "paused"`, 300_000).catch(async (e) => {
      throw new Error(`${name}, ${workers} workers: ${e.message} (state ${await tab.run("JSON.stringify([document.body.dataset.training, document.body.dataset.trainSteps, document.getElementById('train-status').textContent, document.getElementById('banners').textContent])")})`);
    });
    console.error(`${name}, ${workers} workers: done`);
    const speeds = await tab.run(`window.appViews.app.training.run.windows.filter((w) => w.kind === "train").slice(1).map((w) => w.images_per_s)`);
    const used = await tab.run(`document.getElementById("train-rate").textContent`);
    if (workers === "auto") row.measured = await tab.run("`${document.body.dataset.cores} (${document.body.dataset.coresMeasured})`");
    speeds.sort((a, b) => a - b);
    row.speeds.push(`${Math.round(speeds[speeds.length >> 1])} (${used.match(/\((\d+) workers/)?.[1] ?? 1})`);
    await tab.close();
  }
  await browser.quit();
  rows.push(row);
}
console.log("| browser | hardwareConcurrency | cores measured (js/cores.js) | 1 worker | 2 workers | 4 workers | the page's choice |\n|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.name} | ${r.cores} | ${r.measured} | ${r.speeds.join(" | ")} |`);
server.close();
