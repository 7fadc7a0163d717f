// Phones and tablets: at 360, 390 and 768 px wide the page never scrolls sideways (the
// views of the network included, once drawn), the pad stays at least 240 px wide, a
// finger draws without scrolling or zooming the page, and the training panel's buttons
// lie on screen. Screenshots of each width go to artifacts/ (docs/screenshots/ keeps them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { servedApp, ARTIFACTS } from "./harness.mjs";
import { openApp, drawWithTouch, settledGuess, ONE } from "./app-helpers.mjs";

const env = servedApp();

for (const width of [360, 390, 768]) {
  test(`${width} px wide, by touch: no sideways scrolling, a wide pad, a finger draws a 1 without moving the page`, { timeout: 120_000 }, async () => {
    const { page, errors, context } = await openApp(env.browser, `${env.server.url}?engine=cpu`, { viewport: { width, height: 844 }, deviceScaleFactor: 2, isMobile: width < 600, hasTouch: true });
    await page.locator("#pad").scrollIntoViewIfNeeded();
    const before = await page.evaluate(() => [scrollX, scrollY, visualViewport.scale]);
    await drawWithTouch(page, ONE);
    assert.equal(await settledGuess(page), "1", "a 1 drawn with a finger");
    assert.deepEqual(await page.evaluate(() => [scrollX, scrollY, visualViewport.scale]), before, "drawing neither scrolled nor zoomed the page");
    await page.locator("#inside-card").scrollIntoViewIfNeeded();
    await page.waitForFunction(() => document.body.dataset.views === "idle" && window.appViews.shown, null, { timeout: 60_000 });
    const layout = await page.evaluate(() => {
      const r = (id) => document.getElementById(id).getBoundingClientRect();
      return { scrollWidth: document.documentElement.scrollWidth, pad: r("pad").width, start: r("train-start").right, map: r("digit-map").right };
    });
    assert.equal(layout.scrollWidth, width, "no sideways scrolling");
    assert.ok(layout.pad >= 240, `the pad is ${layout.pad} px wide`);
    assert.ok(layout.start <= width && layout.map <= width, `the training panel and the views fit (${layout.start}, ${layout.map})`);
    await page.screenshot({ path: join(ARTIFACTS, `screen-${width}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  });
}
