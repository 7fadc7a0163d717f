// The page's glue: waits for trunk to start the wasm module, then drives it.
const $ = (id) => document.getElementById(id);

function whenWasmReady() {
  return new Promise((resolve) => {
    if (window.wasmBindings) return resolve(window.wasmBindings);
    addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true });
  });
}

async function main() {
  const wasm = await whenWasmReady();
  try {
    $("adapter").textContent = "GPU: " + (await wasm.gpu_adapter());
  } catch (e) {
    $("adapter").textContent = String(e);
    $("adapter").classList.add("error");
  }
  $("selftest-run").onclick = async () => {
    $("selftest-run").disabled = true;
    const body = $("selftest").querySelector("tbody");
    body.innerHTML = "<tr><td colspan=4>running…</td></tr>";
    try {
      const rows = JSON.parse(await wasm.engine_selftest());
      body.innerHTML = rows.map((r) => `<tr><td>${r.name}</td><td class="${r.ok ? "ok" : "fail"}">${r.ok ? "pass" : "FAIL: " + r.error}</td>` +
        `<td>${r.ok ? r.max_rel_err.toExponential(1) : ""}</td><td>${r.ok && r.max_fd_err ? r.max_fd_err.toExponential(1) : ""}</td></tr>`).join("");
      document.body.dataset.selftest = rows.every((r) => r.ok) ? "pass" : "fail";
    } catch (e) {
      body.innerHTML = `<tr><td colspan=4 class=fail>${e}</td></tr>`;
      document.body.dataset.selftest = "error";
    }
    $("selftest-run").disabled = false;
  };
}
main();
