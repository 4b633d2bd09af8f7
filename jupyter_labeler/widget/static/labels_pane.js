// The "All Labels" pane of jupyter-labeler: its rows are data in one trait (`rows`), drawn
// here; rename and delete are sent to the kernel as intent. One compact line a label: the
// digit key, the name, the count, a thin bar under them, and two icons. A click on the name
// (or on the pencil) turns the name into a text box in place: Enter renames, Esc leaves it.
// The kernel checks a typed name and answers with `allowed` (rows whose new name may be
// applied) and `problem`. Every string from the kernel is put into the page with textContent,
// never parsed as HTML.

import { listeners, make } from "./dom.js";

function icon(className, glyph, tip) {
  const button = make("button", `jl-label-icon ${className}`);
  const mark = make("i", `fa ${glyph}`);
  mark.setAttribute("aria-hidden", "true");
  button.append(mark);
  button.title = tip;
  button.setAttribute("aria-label", tip);
  return button;
}

function render({ model, el }) {
  const { listen, watch, removeAll } = listeners(model);

  el.classList.add("jl-labels-pane-view");
  const title = make("div", "jl-labels-title");
  const list = make("div", "jl-labels-list");
  const problem = make("div", "jl-label-rename-problem");
  el.append(title, list, problem);
  const rows = new Map(); // label -> {node, key, label, count, bar, input, name}

  function stopEditing(row) {
    row.node.classList.remove("jl-editing");
    row.input.value = row.name;
    row.input.replaceWith(row.label);
    problem.textContent = "";
  }

  function startEditing(row) {
    if (row.input.isConnected) return;
    row.label.replaceWith(row.input);
    row.node.classList.add("jl-editing");
    row.input.value = row.name;
    row.input.focus();
    row.input.select();
  }

  function buildRow(name) {
    const node = make("div", "jl-label-row");
    const key = make("span", "jl-label-key");
    const label = make("span", "jl-label-name", name);
    label.title = `${name}: click to rename`;
    const input = make("input", "jl-label-rename-input");
    input.type = "text";
    input.value = name;
    input.setAttribute("aria-label", `New name for ${name} (Enter renames, Esc cancels)`);
    const count = make("span", "jl-label-count");
    const rename = icon("jl-label-rename", "fa-pencil", `Rename ${name}`);
    const remove = icon("jl-label-delete", "fa-trash", `Delete the label ${name}…`);
    const bar = make("div", "jl-label-bar");
    // The spaces keep the row's words apart when its text is read or copied.
    node.append(key, " ", label, " ", count, rename, remove, bar);
    const row = { node, key, label, count, bar, input, name };
    label.addEventListener("click", () => startEditing(row));
    rename.addEventListener("click", () => {
      if (row.input.isConnected) model.send({ event: "rename", name, text: input.value });
      else startEditing(row);
    });
    input.addEventListener("input", () =>
      model.send({ event: "typed", name, text: input.value }),
    );
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        if (input.value.trim() === name) stopEditing(row);
        else model.send({ event: "rename", name, text: input.value });
      } else if (event.key === "Escape") {
        event.preventDefault();
        stopEditing(row);
      }
    });
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
      row.key.classList.toggle("jl-no-key", !r.key);
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
    for (const [name, row] of rows) {
      row.input.classList.toggle("jl-rename-ok", allowed.has(name));
    }
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
