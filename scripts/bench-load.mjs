// First load, per browser: the bytes a cold visit transfers (HTML, JS, CSS, wasm, model,
// data; as `trunk serve` sends them and compressed as a static host should), the time to
// the first prediction and the time until training can start; then the same for a
// reload (a second visit, HTTP cache warm).
//
//   trunk build --release && node scripts/bench-load.mjs [--rounds=3] [--browsers=chromium,firefox,webkit]
//
// Two servers over dist/: "plain" answers as `trunk serve` 0.21 does (tower-http's ServeDir:
// no Content-Encoding, Last-Modified so a reload revalidates); "compressed" as a static host
// should (gzip or brotli as the browser accepts, never for the already gzipped MNIST files;
// Cache-Control immutable for trunk's content-hashed names, revalidation for the rest).
// Chromium also loads through a throttled 50 Mbit/s, 40 ms link (CDP network emulation),
// where the bytes, not the loopback, set the time.
import { createServer } from "node:http";
import { readFile, readdir } from "node:fs/promises";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { createServer as netServer } from "node:net";
import { extname, join, relative } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const need = createRequire(join(root, "www", "package.json"));
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const ROUNDS = Number(args.rounds ?? 3);
const BROWSERS = (args.browsers ?? "chromium,firefox,webkit").split(",");
const THROTTLE = { offline: false, latency: 40, downloadThroughput: 50e6 / 8, uploadThroughput: 10e6 / 8 };

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".json": "application/json", ".gz": "application/gzip", ".safetensors": "application/octet-stream", ".md": "text/plain" };
const HASHED = /-[0-9a-f]{16}(_bg)?\.(js|wasm|css)$/;

/** What a response counts as in the table. */
function kind(path) {
  if (path.endsWith(".wasm")) return "wasm";
  if (path.startsWith("data/")) return "data";
  if (path.startsWith("models/")) return "model";
  if (path.endsWith(".css")) return "CSS";
  if (path.endsWith(".js")) return "JS";
  return "HTML";
}

/** Every file of dist/ with its gzip (-9) and brotli (11) forms, as a static host would keep them. */
async function loadFiles(dist) {
  const files = new Map();
  async function walk(dir) {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const body = await readFile(p);
        const path = relative(dist, p);
        const squeeze = !path.endsWith(".gz");
        files.set(path, {
          body,
          gzip: squeeze ? gzipSync(body, { level: 9 }) : null,
          br: squeeze ? brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } }) : null,
          etag: `"${createHash("sha1").update(body).digest("hex").slice(0, 16)}"`,
        });
      }
    }
  }
  await walk(dist);
  return files;
}

/** A server over `files`; `log` collects [path, body bytes sent, encoding] per response. */
async function serve(files, compressed, log) {
  const modified = new Date().toUTCString();
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, "http://x").pathname).replace(/^\/+/, "");
    if (path === "" || path.endsWith("/")) path += "index.html";
    const f = files.get(path);
    if (!f) {
      res.writeHead(404);
      res.end();
      return;
    }
    const headers = { "content-type": TYPES[extname(path)] ?? "application/octet-stream", vary: "accept-encoding" };
    if (compressed) {
      headers["cache-control"] = HASHED.test(path) ? "public, max-age=31536000, immutable" : "no-cache";
      headers.etag = f.etag;
      if (req.headers["if-none-match"] === f.etag) {
        res.writeHead(304, headers);
        res.end();
        log.push([path, 0, "304"]);
        return;
      }
    } else {
      headers["last-modified"] = modified;
      if (req.headers["if-modified-since"] === modified) {
        res.writeHead(304, headers);
        res.end();
        log.push([path, 0, "304"]);
        return;
      }
    }
    const accept = req.headers["accept-encoding"] ?? "";
    let body = f.body;
    let encoding = "identity";
    if (compressed && f.br && /\bbr\b/.test(accept)) [body, encoding] = [f.br, "br"];
    else if (compressed && f.gzip && /\bgzip\b/.test(accept)) [body, encoding] = [f.gzip, "gzip"];
    if (encoding !== "identity") headers["content-encoding"] = encoding;
    headers["content-length"] = body.length;
    res.writeHead(200, headers);
    res.end(body);
    log.push([path, body.length, encoding]);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

// The page's own milestones (test-hooks.js), and the first prediction timed in the page.
const MILESTONES = `(async () => {
  const d = document.body.dataset;
  const t = performance.now();
  await window.appSession.predict(new Float32Array(784));
  return { modelMs: Number(d.modelReadyMs), predictMs: performance.now() - t, dataMs: Number(d.dataReadyMs),
    trainMs: Number(d.trainReadyMs), engine: d.engine };
})()`;
const READY = "document.body.dataset.trainReadyMs && document.body.dataset.modelReadyMs";

/** Each browser as a driver: open(url, throttled) resolves to { eval(expr), reload(), close() }. */
const drivers = {
  async chromium() {
    const { chromium } = need("playwright-core");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"] });
    return {
      version: browser.version(),
      async open(url, throttled) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        if (throttled) {
          const cdp = await context.newCDPSession(page);
          await cdp.send("Network.enable");
          await cdp.send("Network.emulateNetworkConditions", THROTTLE);
        }
        await page.goto(url);
        return {
          eval: (expr) => page.evaluate(expr),
          reload: () => page.reload(),
          close: () => context.close(),
        };
      },
      close: () => browser.close(),
    };
  },
  async firefox() {
    const puppeteer = need("puppeteer-core");
    const browser = await puppeteer.launch({ browser: "firefox", executablePath: "/usr/bin/firefox-esr", headless: true });
    return {
      version: await browser.version(),
      async open(url) {
        const context = await browser.createBrowserContext();
        const page = await context.newPage();
        await page.setViewport({ width: 1280, height: 800 });
        await page.goto(url);
        return { eval: (expr) => page.evaluate(expr), reload: () => page.reload(), close: () => context.close() };
      },
      close: () => browser.close(),
    };
  },
  async webkit() {
    const { Builder } = need("selenium-webdriver");
    const port = await new Promise((resolve) => {
      const s = netServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    const proc = spawn("xvfb-run", ["-a", "-s", "-screen 0 1280x1024x24", "WebKitWebDriver", `--port=${port}`], { stdio: "ignore", detached: true });
    for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/status`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    return {
      version: "WebKitGTK MiniBrowser",
      async open(url) {
        const driver = await new Builder().usingServer(`http://127.0.0.1:${port}`)
          .withCapabilities({ browserName: "MiniBrowser", "webkitgtk:browserOptions": { binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser", args: ["--automation"] } })
          .build();
        await driver.manage().window().setRect({ width: 1280, height: 900 });
        await driver.get(url);
        return {
          eval: (expr) => driver.executeAsyncScript(`const done = arguments[arguments.length - 1]; Promise.resolve(${expr}).then(done, (e) => done({ error: String(e) }));`),
          reload: () => driver.navigate().refresh(),
          close: () => driver.quit(),
        };
      },
      close: () => process.kill(-proc.pid),
    };
  },
};

async function until(tab, expr, timeout = 180_000) {
  const end = Date.now() + timeout;
  while (!(await tab.eval(`Boolean(${expr})`).catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One visit: milestones and the bytes the server sent per kind. */
async function visit(tab, log) {
  await until(tab, READY);
  const m = await tab.eval(MILESTONES);
  await new Promise((r) => setTimeout(r, 300)); // late requests count to this visit
  const bytes = {};
  const responses = log.splice(0);
  for (const [path, n] of responses) bytes[kind(path)] = (bytes[kind(path)] ?? 0) + n;
  return { ...m, bytes, requests: responses.length, revalidated: responses.filter((r) => r[2] === "304").length };
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const KINDS = ["HTML", "JS", "CSS", "wasm", "model", "data"];
const kb = (n) => (n === undefined ? "0" : (n / 1024).toFixed(0));

const files = await loadFiles(join(root, "dist"));
// The sizes on disk and as a static host would send them (brotli over HTTPS; gzip where the
// browser offers no brotli: none of these offer it on plain http://).
const sizes = {};
for (const [path, f] of files) {
  if (path.endsWith(".md")) continue;
  const k = kind(path);
  const s = (sizes[k] ??= { raw: 0, gzip: 0, br: 0 });
  s.raw += f.body.length;
  s.gzip += f.gzip?.length ?? f.body.length;
  s.br += f.br?.length ?? f.body.length;
}
console.log("dist/ by kind (KiB): on disk / gzip -9 / brotli 11 (every file, whether or not a first visit fetches it)");
for (const k of KINDS) console.log(`  ${k.padEnd(6)} ${kb(sizes[k]?.raw)} / ${kb(sizes[k]?.gzip)} / ${kb(sizes[k]?.br)}`);

const rows = [];
for (const name of BROWSERS) {
  const driver = await drivers[name]();
  for (const compressed of [false, true]) {
    for (const throttled of name === "chromium" ? [false, true] : [false]) {
      const log = [];
      const server = await serve(files, compressed, log);
      const cold = [];
      const warm = [];
      for (let r = 0; r < ROUNDS; r++) {
        const tab = await driver.open(server.url, throttled);
        cold.push(await visit(tab, log));
        await tab.reload();
        warm.push(await visit(tab, log));
        await tab.close();
      }
      server.close();
      const label = `${name} ${driver.version}, ${compressed ? "compressed" : "plain (as trunk serve)"}${throttled ? ", 50 Mbit/s 40 ms" : ", loopback"}`;
      for (const [visitKind, runs] of [["cold", cold], ["reload", warm]]) {
        const row = { label, visit: visitKind, engine: runs[0].engine };
        for (const k of KINDS) row[k] = median(runs.map((v) => v.bytes[k] ?? 0));
        for (const t of ["modelMs", "predictMs", "dataMs", "trainMs", "requests", "revalidated"]) row[t] = median(runs.map((v) => v[t]));
        row.all = runs.map((v) => `${v.modelMs}/${v.trainMs}`).join(" ");
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  }
  await driver.close();
}

console.log("\n| browser, server, link | visit | requests (304) | HTML | JS | CSS | wasm | model | data | total KiB | model ready ms | first prediction ms | training can start ms |");
console.log("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
for (const r of rows) {
  const total = KINDS.reduce((s, k) => s + (r[k] ?? 0), 0);
  console.log(`| ${r.label} | ${r.visit} | ${r.requests} (${r.revalidated}) | ${KINDS.map((k) => kb(r[k])).join(" | ")} | ${kb(total)} | ${r.modelMs.toFixed(0)} | ${(r.modelMs + r.predictMs).toFixed(0)} | ${r.trainMs.toFixed(0)} |`);
}
