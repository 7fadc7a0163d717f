// Page helpers for the app's end-to-end tests: open the app, draw on its pad (mouse or
// touch), wait for the recognised digit.

export const LAPTOP = { viewport: { width: 1280, height: 800 } };
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

/** Strokes in pad coordinates (0..1). */
export const ONE = [[[0.5, 0.18], [0.5, 0.82]]];
export const SEVEN = [[[0.28, 0.2], [0.72, 0.2], [0.42, 0.84]]];

/** Opens the app in a fresh context (fresh IndexedDB) and waits until it can predict. */
export async function openApp(browser, url, options = LAPTOP) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await modelReady(page);
  return { page, errors, context };
}

/** Waits until the page has the MNIST data set (training needs it). */
export const dataReady = (page) => page.waitForFunction(() => document.body.dataset.dataReady === "1", null, { timeout: 120_000 });

export const modelReady = (page) => page.waitForFunction(() => document.body.dataset.modelReadyMs, null, { timeout: 60_000 });

async function padPoints(page, strokes) {
  const pad = page.locator("#pad");
  await pad.scrollIntoViewIfNeeded(); // mouse and touch events land only on what is on screen
  const box = await pad.boundingBox();
  return strokes.map((s) => s.map(([x, y]) => [box.x + x * box.width, box.y + y * box.height]));
}

/** Draws with the mouse, in small steps, as a person would. */
export async function drawWithMouse(page, strokes) {
  for (const stroke of await padPoints(page, strokes)) {
    await page.mouse.move(...stroke[0]);
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...p, { steps: 12 });
    await page.mouse.up();
  }
}

/** Draws with a finger (CDP touch events; Playwright has no touch drag). */
export async function drawWithTouch(page, strokes) {
  const cdp = await page.context().newCDPSession(page);
  const touch = (type, [x, y]) => cdp.send("Input.dispatchTouchEvent", { type, touchPoints: type === "touchEnd" ? [] : [{ x, y }] });
  for (const stroke of await padPoints(page, strokes)) {
    await touch("touchStart", stroke[0]);
    for (let i = 1; i < stroke.length; i++) {
      const [a, b] = [stroke[i - 1], stroke[i]];
      for (let t = 1; t <= 12; t++) await touch("touchMove", [a[0] + ((b[0] - a[0]) * t) / 12, a[1] + ((b[1] - a[1]) * t) / 12]);
    }
    await touch("touchEnd", stroke[stroke.length - 1]);
  }
  await cdp.detach();
}

/** The shown guess once the predictor has caught up with the drawing ("–" for none). */
export async function settledGuess(page, timeout = 30_000) {
  await page.waitForFunction(() => document.body.dataset.predictor === "idle", null, { timeout });
  return (await page.textContent("#guess")).trim();
}

/**
 * Tabs in one window of a fresh browser context, driven over raw CDP: unlike Playwright's
 * pages (each in a window of its own, always visible), a tab behind another one is
 * hidden, as in a person's browser, and can then be frozen as Chrome freezes background
 * tabs. Each tab offers `evaluate(expression)` (awaited, by value), `send(method, params)`,
 * `waitFor(expression)` and the page errors it saw.
 */
export async function browserTabs(browser) {
  const cdp = await browser.newBrowserCDPSession();
  const { browserContextId } = await cdp.send("Target.createBrowserContext");
  const replies = new Map();
  const listeners = new Map();
  let lastId = 0;
  cdp.on("Target.receivedMessageFromTarget", ({ sessionId, message }) => {
    const m = JSON.parse(message);
    if (m.id) replies.get(m.id)?.(m);
    else listeners.get(sessionId)?.(m);
  });
  const open = async (url) => {
    const { targetId } = await cdp.send("Target.createTarget", { url, browserContextId });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: false });
    const errors = [];
    listeners.set(sessionId, (m) => m.method === "Runtime.exceptionThrown" && errors.push(m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text));
    const send = async (method, params = {}) => {
      const id = ++lastId;
      const reply = new Promise((r) => replies.set(id, r));
      await cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method, params }) });
      const m = await reply;
      replies.delete(id);
      if (m.error) throw new Error(`${method}: ${m.error.message}`);
      return m.result;
    };
    const evaluate = async (expression) => {
      const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value;
    };
    const waitFor = async (expression, timeout = 60_000) => {
      const end = Date.now() + timeout;
      let failure = "";
      for (;;) {
        try {
          if (await evaluate(expression)) return;
        } catch (e) {
          failure = ` (last: ${e.message})`; // e.g. while the page is still loading
        }
        if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${expression}${failure}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await send("Runtime.enable");
    return { targetId, send, evaluate, waitFor, errors, show: () => cdp.send("Target.activateTarget", { targetId }) };
  };
  return { open, close: () => cdp.send("Target.disposeBrowserContext", { browserContextId }) };
}
