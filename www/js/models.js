// The current model and the library of saved ones. Each tab has a current model of its
// own, saved in IndexedDB under its own key (`model:<id>`, with its name, network, test
// accuracy and date) after each epoch, so two tabs never overwrite each other's; the tab
// remembers its model's key across a reload (sessionStorage), and a new tab starts from the
// newest saved model. The library lists every saved model: use, rename, delete, download;
// the default model is always restorable.

import { $, h, errorText, notify, dismiss, pct } from "./util.js";
import * as store from "./store.js";
import { count, expose } from "./test-hooks.js";

const MODEL = "model:";
/** The one saved model of the page before the library. */
const LEGACY_MODEL = "model";
/** This tab's current model's key, kept across a reload of the tab. */
const TAB_MODEL = "wgpu-mnist-model";
const newModelId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("wgpu-mnist-models") : null;

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
  /** The library key this tab saves its current model under (null: the default, unsaved). */
  id = sessionStorage.getItem(TAB_MODEL);
  /** The current model's latest test accuracy, when a run measured it. */
  accuracy = null;

  constructor(app) {
    this.app = app;
    $("model-download").onclick = () => this.download();
    $("model-file").onchange = (e) => this.#loadChosenFile(e.target);
    $("model-restore").onclick = () => this.restoreDefault();
    this.defaultInfo = fetch(DEFAULT_INFO_URL).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    app.on("epoch-end", ({ accuracy }) => accuracy != null && (this.accuracy = accuracy));
    channel?.addEventListener("message", () => this.renderLibrary());
  }

  /** Every saved model, newest first (damaged entries skipped). */
  async library() {
    const keys = await store.keys(MODEL).catch(() => []);
    const entries = await Promise.all(keys.map((k) => store.get(k).catch(() => undefined)));
    return entries.filter((e) => e?.bytes instanceof Uint8Array).sort((a, b) => b.savedAt - a.savedAt);
  }

  /** The library's list: each saved model with Use, Rename, Download and Delete. */
  async renderLibrary() {
    const list = $("model-library");
    if (!list) return;
    const entries = await this.library();
    const button = (text, onclick, title = "") => h("button", { type: "button", className: "link", onclick, title }, text);
    list.replaceChildren(
      ...entries.map((e) => {
        const what = `${e.preset ?? "?"}${e.accuracy != null ? `, ${pct(e.accuracy, 2)} test accuracy` : ""}, ${new Date(e.savedAt).toLocaleString()}`;
        const li = h("li", {}, h("b", {}, e.name), ` (${what})${e.id === this.id ? " · this tab's" : ""} `,
          button("use", () => this.use(e)), " ", button("rename", () => this.rename(e)), " ", button("download", () => saveFile(`${e.name}.safetensors`, e.bytes)), " ",
          button("delete", () => this.remove(e), "delete this saved model"));
        li.dataset.model = e.id;
        return li;
      }),
    );
    $("model-library-empty").hidden = entries.length > 0;
    expose({ modelsSaved: entries.length });
  }

  /** Makes a saved model this tab's current one. */
  async use(entry) {
    try {
      await this.#install(entry.fileName, entry.bytes, `saved in this browser ${new Date(entry.savedAt).toLocaleString()}`);
      this.#own(entry.id);
      this.accuracy = entry.accuracy ?? null;
    } catch (e) {
      notify("error", `Could not use the saved model ${entry.name}: ${errorText(e)}`, "model-use");
    }
  }

  async rename(entry) {
    const name = prompt("A name for this model:", entry.name)?.trim();
    if (!name) return;
    await store.put(MODEL + entry.id, { ...entry, name });
    this.#changedLibrary();
  }

  async remove(entry) {
    await store.remove(MODEL + entry.id).catch(() => {});
    if (entry.id === this.id) this.#own(null);
    this.#changedLibrary();
  }

  /** Makes `id` this tab's model key (null: none, the next save makes one). */
  #own(id) {
    this.id = id;
    if (id) sessionStorage.setItem(TAB_MODEL, id);
    else sessionStorage.removeItem(TAB_MODEL);
  }

  #changedLibrary() {
    channel?.postMessage("changed");
    this.renderLibrary();
  }

  /** This tab's saved model if it has one (a reload), else the newest saved model, else
   * the default; a saved model that no longer loads is said and skipped. */
  async loadInitial() {
    await this.#adoptLegacy();
    const entries = await this.library();
    const saved = entries.find((e) => e.id === this.id) ?? entries[0];
    if (saved) {
      try {
        await this.#install(saved.fileName, saved.bytes, `saved in this browser ${new Date(saved.savedAt).toLocaleString()}`);
        // A reload keeps saving to its own entry; a new tab's training makes one of its own.
        this.#own(saved.id === this.id ? saved.id : null);
        this.accuracy = saved.accuracy ?? null;
        await this.renderLibrary();
        return;
      } catch (e) {
        notify("warn", `The model saved in this browser could not be loaded (${errorText(e)}); using the default model.`, "saved-model");
      }
    }
    await this.restoreDefault();
    await this.renderLibrary();
  }

  /** The page's one saved model from before the library joins it. */
  async #adoptLegacy() {
    const saved = await store.get(LEGACY_MODEL).catch(() => undefined);
    if (!saved) return;
    const id = newModelId();
    await store.put(MODEL + id, { ...saved, id, name: saved.fileName?.replace(/\.safetensors$/, "") ?? "model", preset: saved.fileName?.replace(/\.safetensors$/, "") });
    await store.remove(LEGACY_MODEL).catch(() => {});
  }

  async restoreDefault() {
    try {
      const res = await fetch(DEFAULT_URL);
      if (!res.ok) throw new Error(`the default model is missing (${DEFAULT_URL}: HTTP ${res.status})`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      await this.#install("default.safetensors", bytes, describeDefault(await this.defaultInfo), true);
      // The default is not saved: the tab's next trained model gets an entry of its own.
      this.#own(null);
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

  /** Records a new current model (loaded, reset, trained from scratch) and tells the page.
   * A new model is saved as a new library entry (the one it replaces stays there). */
  changed(name, origin, isDefault = false) {
    if (name !== this.name || !/^saved in this browser/.test(origin)) this.#own(null);
    this.accuracy = null;
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

  /** Saves the current model under this tab's library entry (a new one the first time),
   * so a reload continues from it and no other tab's model is overwritten. */
  async save() {
    try {
      const bytes = await this.app.session.model_bytes();
      const old = this.id ? await store.get(MODEL + this.id).catch(() => undefined) : undefined;
      if (!this.id) this.#own(newModelId());
      const entry = { id: this.id, name: old?.name ?? this.name, preset: this.name, accuracy: this.accuracy, fileName: `${this.name}.safetensors`, bytes, savedAt: Date.now() };
      await store.put(MODEL + this.id, entry);
      count("modelSaves");
      this.#changedLibrary();
      dismiss("model-save");
    } catch (e) {
      // Private modes without IndexedDB only log; a full store is worth saying.
      if (store.isQuotaError(e)) notify("warn", `The model could not be kept in this browser: ${await store.fullText()}. It is still in use; download it to keep it after a reload.`, "model-save");
      else console.warn("could not save the model in this browser:", e);
    }
  }

  async download() {
    try {
      saveFile(`${this.name ?? "model"}.safetensors`, await this.app.session.model_bytes());
    } catch (e) {
      notify("error", `Could not export the model: ${errorText(e)}`, "download");
    }
  }
}

/** "default model, 98.1% test accuracy" from models/default.json, if there is one (the name is shown beside it). */
function describeDefault(info) {
  return typeof info?.test_accuracy === "number" ? `default model, ${pct(info.test_accuracy)} test accuracy` : "default model";
}

/** Saves `bytes` as a file named `name`. */
function saveFile(name, bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  Object.assign(document.createElement("a"), { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
