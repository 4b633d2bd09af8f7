// The "All Labels" pane of jupyter-labeler: its rows are data in one trait (`rows`), drawn
// here; rename and delete are sent to the kernel as intent. The kernel checks a typed name and
// answers with `allowed` (rows whose Rename may be pressed) and `problem`. Every string from
// the kernel is put into the page with textContent, never parsed as HTML.

import { listeners, make } from "./dom.js";

function render({ model, el }) {
  const { listen, watch, removeAll } = listeners(model);

  el.classList.add("jl-labels-pane-view");
  const title = make("div", "jl-labels-title");
  const list = make("div", "jl-labels-list");
  const problem = make("div", "jl-label-rename-problem");
  el.append(title, list, problem);
  const rows = new Map(); // label -> {node, key, count, bar, input, rename}

  function buildRow(name) {
    const node = make("div", "jl-label-row");
    const info = make("div", "jl-label-info");
    const key = make("span", "jl-label-key");
    const label = make("span", "jl-label-name", name);
    const count = make("span", "jl-label-count");
    const track = make("div", "jl-label-track");
    const bar = make("div", "jl-label-bar");
    track.append(bar);
    info.append(key, " ", label, " ", count, track);
    // Two lines, so that the pane stays narrow beside the grid.
    const tools = make("div", "jl-label-tools");
    const input = make("input", "jl-label-rename-input");
    input.type = "text";
    input.value = name;
    input.setAttribute("aria-label", `New name for ${name}`);
    const rename = make("button", "jl-label-rename", "Rename");
    rename.disabled = true;
    const remove = make("button", "jl-label-delete", "Delete");
    remove.title = `Delete the label ${name}`;
    tools.append(input, rename, remove);
    node.append(info, tools);
    const row = { node, key, count, bar, input, rename, name };
    input.addEventListener("input", () =>
      model.send({ event: "typed", name, text: input.value }),
    );
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !rename.disabled) {
        event.preventDefault();
        model.send({ event: "rename", name, text: input.value });
      }
    });
    rename.addEventListener("click", () => model.send({ event: "rename", name, text: input.value }));
    remove.addEventListener("click", () => model.send({ event: "delete", name }));
    return row;
  }

  function drawRows() {
    const data = model.get("rows") || [];
    const most = data.reduce((m, r) => Math.max(m, r.count || 0), 0);
    const wanted = new Set(data.map((r) => r.name));
    for (const [name, row] of rows) {
      if (!wanted.has(name)) {
        row.node.remove();
        rows.delete(name);
      }
    }
    data.forEach((r, i) => {
      let row = rows.get(r.name);
      if (!row) {
        row = buildRow(r.name);
        rows.set(r.name, row);
      }
      row.key.textContent = r.key || "";
      row.key.hidden = !r.key;
      row.key.title = r.key ? `Key ${r.key} adds this label to the selection` : "";
      row.count.textContent = String(r.count || 0);
      const width = most <= 0 ? 0 : Math.max(2, Math.round((100 * (r.count || 0)) / most));
      row.bar.style.width = `${width}%`;
      // Moved only when out of place: moving a row would take the focus from its input.
      if (list.children[i] !== row.node) list.insertBefore(row.node, list.children[i] || null);
    });
    title.textContent = `All Labels (${data.length})`;
    drawAllowed();
  }

  function drawAllowed() {
    const allowed = new Set(model.get("allowed") || []);
    for (const [name, row] of rows) row.rename.disabled = !allowed.has(name);
    problem.textContent = model.get("problem") || "";
  }

  watch("change:rows", drawRows);
  watch("change:allowed", drawAllowed);
  watch("change:problem", drawAllowed);
  listen(el, "keydown", (event) => event.stopPropagation()); // typing here is not a shortcut
  drawRows();
  return removeAll;
}

export default { render };
