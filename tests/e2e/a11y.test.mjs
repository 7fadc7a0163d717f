// Accessibility, as axe-core (injected from www/node_modules, no download) sees the page in
// its main states, loaded, training and analysed: no serious or critical violation. Every
// control is reachable from the keyboard and shows where the focus is; the page honours
// prefers-reduced-motion; training's milestones reach screen readers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { servedApp } from "./harness.mjs";
import { openApp, dataReady, drawWithMouse, settledGuess, SEVEN } from "./app-helpers.mjs";

const env = servedApp();
const AXE = fileURLToPath(new URL("../../www/node_modules/axe-core/axe.min.js", import.meta.url));

/** axe-core's serious and critical violations on the page as it is now, one line each. */
async function violations(page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.addScriptTag({ content: await readFile(AXE, "utf8") });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(", ")}${v.nodes.length > 4 ? ` and ${v.nodes.length - 4} more` : ""}`);
  });
  return found;
}

test("axe-core finds no serious or critical violation: loaded, training, analysed", { timeout: 400_000 }, async () => {
  const { page, errors, context } = await openApp(env.browser, `${env.server.url}?engine=cpu&stopAfter=6`);
  await dataReady(page);
  await drawWithMouse(page, SEVEN);
  await settledGuess(page);
  await page.locator("#inside-card").scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.body.dataset.views === "idle" && window.appViews.shown, null, { timeout: 60_000 });
  assert.deepEqual(await violations(page), [], "loaded, a digit drawn");
  await page.selectOption("select[name=preset]", "lenet");
  await page.click("#train-start");
  await page.waitForFunction(() => Number(document.body.dataset.trainSteps) >= 2, null, { timeout: 120_000 });
  assert.deepEqual(await violations(page), [], "training");
  await page.waitForFunction(() => document.body.dataset.training !== "running", null, { timeout: 200_000 });
  assert.match(await page.getAttribute("#chart", "aria-label"), /training curves at epoch [0-9.]+: loss [0-9.]+, training accuracy [0-9.]+%/, "the chart's text alternative gives the latest numbers");
  await page.click("#analyse");
  await page.waitForFunction(() => document.body.dataset.analysedAccuracy, null, { timeout: 200_000 });
  assert.deepEqual(await violations(page), [], "analysed");
  assert.deepEqual(errors, []);
  await context.close();
});

test("every control is reached by Tab and shows a visible focus; reduced motion turns transitions off", { timeout: 120_000 }, async () => {
  const { page, context } = await openApp(env.browser, `${env.server.url}?engine=cpu`);
  await dataReady(page);
  const seen = new Map();
  for (let i = 0; i < 120; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const s = getComputedStyle(el);
      // A visually hidden file input shows its focus on its label (.button:focus-within).
      const label = el.labels?.[0];
      const ring = (st) => (st.outlineStyle !== "none" && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== "none";
      const visible = ring(s) || (label != null && ring(getComputedStyle(label)));
      return { id: el.id || el.name || el.textContent.trim().slice(0, 20) || el.tagName, visible };
    });
    if (!f) continue;
    if (seen.has(f.id)) continue;
    seen.set(f.id, f);
  }
  for (const id of ["train-start", "analyse", "model-download", "clear", "why-integrated", "runs-export", "engine-select"]) assert.ok(seen.has(id), `${id} is reached by Tab (reached: ${[...seen.keys()].join(", ")})`);
  const hidden = [...seen.values()].filter((f) => !f.visible).map((f) => f.id);
  assert.deepEqual(hidden, [], "every focused control shows its focus");
  // The probability bars glide between guesses, unless less motion is asked for.
  const glide = () => page.evaluate(() => getComputedStyle(document.querySelector("#bars .fill")).transitionDuration);
  assert.notEqual(await glide(), "0s");
  await page.emulateMedia({ reducedMotion: "reduce" });
  assert.equal(await glide(), "0s");
  await context.close();
});
