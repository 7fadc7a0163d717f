// The page's engine self-test runs every op of both engines (WebGPU kernels and the CPU
// engine's wasm) against the f64 reference in the browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { serveDist, launch, ARTIFACTS } from "./harness.mjs";

test("the page's engine self-test passes on WebGPU and on the CPU engine", { timeout: 600_000 }, async () => {
  const server = await serveDist();
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.engine && document.body.dataset.webgpu === "true", null, { timeout: 60_000 });
    await page.click("#selftest-card summary"); // the card is collapsed
    await page.click("#selftest-run");
    await page.waitForFunction(() => document.body.dataset.selftest, null, { timeout: 540_000 });
    await page.screenshot({ path: join(ARTIFACTS, "selftest.png"), fullPage: true });
    const failures = await page.$$eval("#selftest td.fail", (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(failures, []);
    const engines = await page.$$eval("#selftest tbody tr td:nth-child(2)", (tds) => tds.map((t) => t.textContent));
    const count = (e) => engines.filter((x) => x === e).length;
    assert.ok(count("cpu") >= 20 && count("gpu") === count("cpu"), `cases per engine: ${count("gpu")} GPU, ${count("cpu")} CPU`);
    assert.equal(await page.evaluate(() => document.body.dataset.selftest), "pass");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});
