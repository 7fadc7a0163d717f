// The engine self-test card: every op of both engines (the WGSL kernels on WebGPU, and
// the CPU engine), forward and backward, against the f64 reference. Sets
// document.body.dataset.selftest to "pass", "fail" or "error".

import { $, h, errorText } from "./util.js";
import { expose } from "./test-hooks.js";

export function setUpSelfTest(app) {
  const button = $("selftest-run");
  if (!app.webgpu) $("selftest-note").textContent = "Without WebGPU only the CPU engine is tested.";
  button.onclick = async () => {
    button.disabled = true;
    const body = $("selftest").querySelector("tbody");
    body.replaceChildren(row([cell("running…", "", 5)]));
    try {
      const rows = await app.lock.run(() => app.session.engine_selftest());
      body.replaceChildren(...rows.map((r) => row([
        cell(r.name),
        cell(r.engine),
        cell(r.ok ? "pass" : `FAIL: ${r.error}`, r.ok ? "ok" : "fail"),
        cell(r.ok ? r.max_rel_err.toExponential(1) : ""),
        cell(r.ok && r.max_fd_err ? r.max_fd_err.toExponential(1) : ""),
      ])));
      expose({ selftest: rows.every((r) => r.ok) ? "pass" : "fail" });
    } catch (e) {
      body.replaceChildren(row([cell(errorText(e), "fail", 5)]));
      expose({ selftest: "error" });
    }
    button.disabled = false;
  };
}

const row = (cells) => h("tr", {}, ...cells);
const cell = (text, className = "", colSpan = 1) => h("td", { textContent: text, className, colSpan });
