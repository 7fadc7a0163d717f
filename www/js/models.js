// The current model: loaded at start (the one saved in this browser, else the default),
// downloaded, replaced from a file, saved to IndexedDB, restored to the default.

import { $, errorText, notify, dismiss, pct } from "./util.js";
import * as store from "./store.js";
import { count, expose } from "./test-hooks.js";

const DEFAULT_URL = "models/default.safetensors";
const DEFAULT_INFO_URL = "models/default.json";
/** Larger files are refused before they are read: the largest file these networks make,
 * a keras-bn checkpoint with Adam's two moments (1,886,394 parameters x 3 x 4 bytes),
 * is 23 MB, and reading a file of hundreds of MB could take the tab's memory. */
const MAX_FILE_BYTES = 64e6;

export class Models {
  /** The network's name (also the download's file name). */
  name = null;
  /** Where the current model came from, for the info line. */
  origin = "";

  constructor(app) {
    this.app = app;
    $("model-download").onclick = () => this.download();
    $("model-file").onchange = (e) => this.#loadChosenFile(e.target);
    $("model-restore").onclick = () => this.restoreDefault();
    this.defaultInfo = fetch(DEFAULT_INFO_URL).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  }

  /** The model saved in this browser if there is one (and it still loads), else the default. */
  async loadInitial() {
    const saved = await store.get("model").catch(() => undefined);
    if (saved) {
      try {
        await this.#install(saved.fileName, saved.bytes, `saved in this browser ${new Date(saved.savedAt).toLocaleString()}`);
        return;
      } catch (e) {
        notify("warn", `The model saved in this browser could not be loaded (${errorText(e)}); using the default model.`, "saved-model");
      }
    }
    await this.restoreDefault();
  }

  async restoreDefault() {
    try {
      const res = await fetch(DEFAULT_URL);
      if (!res.ok) throw new Error(`the default model is missing (${DEFAULT_URL}: HTTP ${res.status})`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      await this.#install("default.safetensors", bytes, describeDefault(await this.defaultInfo), true);
      await store.remove("model").catch(() => {});
    } catch (e) {
      notify("error", `Could not load the default model: ${errorText(e)}`, "default-model");
    }
  }

  /** Loads a model file the user picked; on error the current model stays. */
  async #loadChosenFile(input) {
    const file = input.files[0];
    input.value = ""; // so picking the same file again fires "change" again
    if (!file) return;
    try {
      if (file.size > MAX_FILE_BYTES) {
        throw new Error(`it is ${Math.round(file.size / 1e6)} MB, too large to be a model file of these networks (the largest, a keras-bn checkpoint, is 23 MB), so it was not read`);
      }
      const bytes = new Uint8Array(await file.arrayBuffer());
      await this.#install(file.name, bytes, `loaded from ${file.name}`);
      dismiss("model-file");
      await this.save();
    } catch (e) {
      notify("error", `Could not load “${file.name}”: ${errorText(e)}. The current model is still in use.`, "model-file");
    }
  }

  async #install(fileName, bytes, origin, isDefault = false) {
    // Paused, not stopped: a file that does not load leaves the trainer (and the run) as it was.
    this.app.training?.pause();
    const name = await this.app.lock.run(() => this.app.session.load_model(fileName, bytes));
    this.changed(name, origin, isDefault);
  }

  /** Records a new current model (loaded, reset, trained from scratch) and tells the page. */
  changed(name, origin, isDefault = false) {
    this.name = name;
    this.origin = origin;
    $("model-name").textContent = name;
    $("model-origin").textContent = origin;
    $("model-restore").hidden = isDefault;
    expose({ model: name });
    this.app.emit("model-changed", { name });
  }

  /** Notes that the weights changed (training, fine-tuning) and persists them. */
  async trained(origin) {
    this.origin = origin;
    $("model-origin").textContent = origin;
    $("model-restore").hidden = false;
    await this.save();
  }

  /** Saves the current model in IndexedDB, so a reload continues from it. */
  async save() {
    try {
      const bytes = await this.app.session.model_bytes();
      await store.put("model", { fileName: `${this.name}.safetensors`, bytes, savedAt: Date.now() });
      count("modelSaves");
      dismiss("model-save");
    } catch (e) {
      // Private modes without IndexedDB only log; a full store is worth saying.
      if (store.isQuotaError(e)) notify("warn", `The model could not be kept in this browser: ${await store.fullText()}. It is still in use; download it to keep it after a reload.`, "model-save");
      else console.warn("could not save the model in this browser:", e);
    }
  }

  async download() {
    try {
      const bytes = await this.app.session.model_bytes();
      const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
      const a = Object.assign(document.createElement("a"), { href: url, download: `${this.name ?? "model"}.safetensors` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      notify("error", `Could not export the model: ${errorText(e)}`, "download");
    }
  }
}

/** "default model, 98.1% test accuracy" from models/default.json, if there is one (the name is shown beside it). */
function describeDefault(info) {
  return typeof info?.test_accuracy === "number" ? `default model, ${pct(info.test_accuracy)} test accuracy` : "default model";
}
