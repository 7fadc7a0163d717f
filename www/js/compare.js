// The runs panel: every run this browser kept (js/runs.js), in a table a person can sort
// (preset, optimizer, learning rate, schedule, batch, engine, time, best and final test
// accuracy, time to 98% and 99%), tick to overlay their curves on one chart, export (the
// table, or a run's metric windows as the CSV `train --log` writes) and import (a native
// run's `--log` file, or another browser's export). Other tabs' runs appear as they change.

import { $, h, errorText, notify, pct } from "./util.js";
import * as runs from "./runs.js";
import { expose } from "./test-hooks.js";

const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#5c940d", "#d6336c"];
const seconds = (s) => (s == null ? "–" : `${s.toFixed(1)} s`);
/** A run as the legend names it: two runs of one preset told apart by recipe and start. */
const label = (r) =>
  r.imported ? r.name : [r.preset ?? "?", r.recipe && `${r.recipe.optimizer} ${r.recipe.lr}`, r.startedAt && new Date(r.startedAt).toLocaleTimeString()].filter(Boolean).join(" · ");
const COLUMNS = [
  ["run", (r) => r.name ?? r.preset ?? "?"],
  ["optimizer", (r) => r.recipe?.optimizer ?? ""],
  ["lr", (r) => r.recipe?.lr ?? ""],
  ["schedule", (r) => r.recipe?.schedule ?? ""],
  ["batch", (r) => r.recipe?.batch ?? ""],
  ["engine", (r) => (r.imported ? "imported" : `${r.engine ?? ""}${r.workers > 1 ? ` x${r.workers}` : ""}`)],
  ["time", (r) => r.summary.seconds],
  ["best", (r) => r.summary.best],
  ["final", (r) => r.summary.last],
  ["to 98%", (r) => r.summary.to98],
  ["to 99%", (r) => r.summary.to99],
  ["state", (r) => r.state ?? ""],
];

export class Compare {
  #records = [];
  #ticked = new Set();
  #sort = { column: -1, descending: true };

  constructor(app) {
    this.app = app;
    this.canvas = $("compare-chart");
    $("runs-export").onclick = () => download("runs.csv", this.#tableCsv());
    $("runs-import").onchange = (e) => this.#import(e.target.files[0]).finally(() => (e.target.value = ""));
    for (const event of ["epoch-end", "training-state"]) app.on(event, () => this.refresh());
    runs.onChange(() => this.refresh());
    this.refresh();
  }

  async refresh() {
    const { records, skipped } = await runs.listRecords();
    for (const { id, why } of skipped) notify("warn", `A stored training run (${id}) was skipped: ${why}.`, `run-skipped-${id}`);
    this.#records = records.map((r) => ({ ...r, summary: runs.summary(r.windows ?? []) }));
    this.#render();
  }

  async #import(file) {
    if (!file) return;
    try {
      const id = await runs.importRun(file.name, await file.text());
      this.#ticked.add(id);
      runs.announce();
      await this.refresh();
    } catch (e) {
      notify("error", `Could not import ${file.name}: ${errorText(e)}`, "runs-import");
    }
  }

  #sorted() {
    const { column, descending } = this.#sort;
    if (column < 0) return this.#records;
    const key = COLUMNS[column][1];
    return [...this.#records].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
  }

  #render() {
    const table = $("runs-table");
    const head = h("tr", {}, h("th", { scope: "col" }, "show"), ...COLUMNS.map(([name], i) => {
      const arrow = this.#sort.column === i ? (this.#sort.descending ? " ▼" : " ▲") : "";
      const button = h("button", { type: "button", className: "link", onclick: () => this.#sortBy(i) }, name + arrow);
      return h("th", { scope: "col", ariaSort: this.#sort.column === i ? (this.#sort.descending ? "descending" : "ascending") : "none" }, button);
    }), h("th", { scope: "col" }, "metrics"), h("th", { scope: "col" }, "checkpoint"), h("th", { scope: "col" }, ""));
    const rows = this.#sorted().map((r) => {
      const tick = h("input", { type: "checkbox", checked: this.#ticked.has(r.id), ariaLabel: `show ${COLUMNS[0][1](r)} on the chart` });
      tick.onchange = () => {
        if (tick.checked) this.#ticked.add(r.id);
        else this.#ticked.delete(r.id);
        this.#draw();
      };
      const cells = COLUMNS.map(([name, key]) => {
        const v = key(r);
        const text = ["best", "final"].includes(name) ? (v == null ? "–" : pct(v, 2)) : ["time", "to 98%", "to 99%"].includes(name) ? seconds(v) : String(v);
        return h("td", {}, text);
      });
      const csv = h("button", { type: "button", className: "link", onclick: () => download(`${r.name ?? r.preset ?? "run"}-${r.id}.csv`, runs.windowsCsv(r.windows ?? [])) }, "CSV");
      const remove = h("button", { type: "button", className: "link", title: "delete this run and its checkpoint", onclick: () => this.#delete(r) }, "delete");
      const pin = h("input", { type: "checkbox", checked: !!r.pinned, ariaLabel: "pin: never prune this run's checkpoint", title: "pin: never prune this run's checkpoint" });
      pin.onchange = () => runs.pin(r.id, pin.checked).then(runs.announce);
      const tr = h("tr", {}, h("td", {}, tick), ...cells, h("td", {}, csv), h("td", {}, h("label", {}, pin, " pin")), h("td", {}, remove));
      tr.dataset.run = r.id;
      return tr;
    });
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));
    $("runs-empty").hidden = this.#records.length > 0;
    expose({ runsListed: this.#records.length });
    this.#draw();
  }

  #sortBy(column) {
    this.#sort = { column, descending: this.#sort.column === column ? !this.#sort.descending : true };
    this.#render();
  }

  async #delete(r) {
    if (r.id === this.app.training.run?.id && this.app.training.state !== "finished") {
      notify("warn", "This run is the one training in this tab: stop it first.", "runs-delete");
      return;
    }
    await runs.deleteRun(r.id);
    this.#ticked.delete(r.id);
    runs.announce();
    await this.refresh();
  }

  #tableCsv() {
    const quote = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v ?? ""));
    const lines = [["id", ...COLUMNS.map(([name]) => name)].join(",")];
    for (const r of this.#sorted()) lines.push([r.id, ...COLUMNS.map(([, key]) => key(r) ?? "")].map(quote).join(","));
    return lines.join("\n") + "\n";
  }

  /** The ticked runs' training accuracy (lines) and test accuracy (dots) against epochs, with a legend. */
  #draw() {
    const shown = this.#records.filter((r) => this.#ticked.has(r.id));
    const legend = $("compare-legend");
    legend.replaceChildren(...shown.map((r, i) => h("span", { className: "key", style: `--key: ${PALETTE[i % PALETTE.length]}` }, label(r))));
    expose({ runsShown: shown.length });
    const canvas = this.canvas;
    const dpr = devicePixelRatio || 1;
    const [w, hgt] = [canvas.clientWidth || 600, canvas.clientHeight || 220];
    canvas.width = w * dpr;
    canvas.height = hgt * dpr;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const x = (win) => win.epoch - 1 + win.step / win.steps_per_epoch;
    const xMax = 1.05 * Math.max(0.01, ...shown.flatMap((r) => (r.windows ?? []).map(x)));
    const pad = { l: 40, r: 10, t: 10, b: 24 };
    const X = (v) => pad.l + (v / xMax) * (w - pad.l - pad.r);
    const Y = (a) => hgt - pad.b - a * (hgt - pad.t - pad.b);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5b6578";
    for (const a of [0, 0.25, 0.5, 0.75, 1]) ctx.fillText(`${a * 100}%`, 4, Y(a) + 4);
    ctx.fillText(`epochs (0 to ${Number(xMax.toPrecision(3))})`, w / 2 - 40, hgt - 6);
    shown.forEach((r, i) => {
      ctx.strokeStyle = ctx.fillStyle = PALETTE[i % PALETTE.length];
      ctx.lineWidth = 2;
      const train = (r.windows ?? []).filter((v) => v.kind === "train");
      ctx.beginPath();
      train.forEach((v, j) => (j ? ctx.lineTo(X(x(v)), Y(v.accuracy)) : ctx.moveTo(X(x(v)), Y(v.accuracy))));
      ctx.stroke();
      // Each window a small dot too, so a run of one window still shows; test accuracy a big one.
      for (const v of r.windows ?? []) {
        ctx.beginPath();
        ctx.arc(X(x(v)), Y(v.accuracy), v.kind === "test" ? 4 : 2, 0, 2 * Math.PI);
        ctx.fill();
      }
    });
    canvas.ariaLabel = shown.length ? `training accuracy of ${shown.length} runs: ${shown.map((r) => `${label(r)} final test ${r.summary.last == null ? "none" : pct(r.summary.last, 2)}`).join("; ")}` : "no run ticked";
  }
}

/** Saves `text` as a file named `name`. */
function download(name, text) {
  const a = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
