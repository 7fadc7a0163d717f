// The engine self-test card: every WGSL kernel, forward and backward, against the CPU
// reference. Sets document.body.dataset.selftest to "pass", "fail" or "error".

import { $, h, errorText } from "./util.js";

export function setUpSelfTest(app) {
  const button = $("selftest-run");
  button.disabled = !app.webgpu;
  if (!app.webgpu) $("selftest-note").textContent = "The self-test needs WebGPU.";
  button.onclick = async () => {
    button.disabled = true;
    const body = $("selftest").querySelector("tbody");
    body.replaceChildren(row([cell("running…", "", 4)]));
    try {
      const rows = JSON.parse(await app.lock.run(() => app.wasm.engine_selftest()));
      body.replaceChildren(...rows.map((r) => row([
        cell(r.name),
        cell(r.ok ? "pass" : `FAIL: ${r.error}`, r.ok ? "ok" : "fail"),
        cell(r.ok ? r.max_rel_err.toExponential(1) : ""),
        cell(r.ok && r.max_fd_err ? r.max_fd_err.toExponential(1) : ""),
      ])));
      document.body.dataset.selftest = rows.every((r) => r.ok) ? "pass" : "fail";
    } catch (e) {
      body.replaceChildren(row([cell(errorText(e), "fail", 4)]));
      document.body.dataset.selftest = "error";
    }
    button.disabled = false;
  };
}

const row = (cells) => h("tr", {}, ...cells);
const cell = (text, className = "", colSpan = 1) => h("td", { textContent: text, className, colSpan });
