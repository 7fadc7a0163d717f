// Which build of the wasm module a training worker loads. Trunk builds the app's module
// with simd128; scripts/build-relaxed adds a twin with relaxed SIMD (dist/relaxed/), whose
// fused multiply-add (`f32x4.relaxed_madd`) the CPU engine's kernels use. A module with a
// relaxed instruction does not load where relaxed SIMD is missing, so the twin is offered
// only where the browser validates one (Chromium 156 and Firefox ESR 153 do, WebKitGTK 2.50
// does not).

import { hooks } from "./test-hooks.js";

/** A module of one function: three v128 constants and f32x4.relaxed_madd (opcode 0xfd 0x105). */
const V128 = [0xfd, 0x0c, ...new Array(16).fill(0)];
const BODY = [0x00, ...V128, ...V128, ...V128, 0xfd, 0x85, 0x02, 0x0b];
const RELAXED_PROBE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0,
  10, BODY.length + 2, 1, BODY.length, ...BODY]);

/** Whether this browser runs relaxed SIMD. */
export const relaxedSimd = (() => {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
})();

/**
 * The builds a worker for `engine` should try, best first: [{ name, glue, module }] (glue:
 * the wasm-bindgen JS, module: the .wasm), or [] where the page has no module links. The
 * relaxed twin's names carry no hash, so the main build's hash is their cache key.
 * `?simd=128` keeps to the simd128 build (the benchmark compares the two).
 */
export function wasmBuilds(engine = "cpu") {
  const glue = document.querySelector('link[rel="modulepreload"][href*="wgpu-mnist"]')?.href;
  const module = document.querySelector('link[rel="preload"][href$=".wasm"]')?.href;
  if (!glue || !module) return [];
  const main = { name: "simd128", glue, module };
  if (engine !== "cpu" || !relaxedSimd || hooks.simd === "128") return [main];
  const key = module.match(/-([0-9a-f]+)_bg\.wasm$/)?.[1] ?? "";
  const at = (file) => new URL(`relaxed/${file}?v=${key}`, document.baseURI).href;
  return [{ name: "relaxed SIMD", glue: at("wgpu-mnist.js"), module: at("wgpu-mnist_bg.wasm") }, main];
}
