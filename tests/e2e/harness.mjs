// Shared by the end-to-end tests: serves dist/ on a loopback port and starts the
// machine's Chromium (never a downloaded one) with WebGPU on.
import { createServer } from "node:http";
import { before, after } from "node:test";
import { readFile, mkdir } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = fileURLToPath(new URL("../..", import.meta.url));
const require = createRequire(join(root, "www", "package.json"));
const { chromium } = require("playwright-core");

export const ARTIFACTS = join(root, "artifacts");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".json": "application/json", ".png": "image/png", ".bin": "application/octet-stream", ".gz": "application/gzip",
  ".safetensors": "application/octet-stream" };

export async function serveDist(dist = join(root, "dist")) {
  const server = createServer(async (req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    if (path.endsWith("/")) path += "index.html";
    try {
      const body = await readFile(join(dist, path));
      res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end("not found");
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

/** Starts Chromium; `{ webgpu: false }` leaves out --enable-unsafe-webgpu (headless Chromium then offers no WebGPU adapter). */
export async function launch({ webgpu = true } = {}) {
  await mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [...(webgpu ? ["--enable-unsafe-webgpu"] : []), "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/** Serves dist/ and starts Chromium before a test file's tests, and ends both after them:
 * `const env = servedApp();` then `env.server.url`, `env.browser`. */
export function servedApp(options) {
  const env = {};
  before(async () => {
    env.server = await serveDist();
    env.browser = await launch(options);
  });
  after(async () => {
    await env.browser?.close();
    env.server?.close();
  });
  return env;
}
