// The label box's text input: a new name or an existing label (offered in a drop-down list).
//
// Enter, and leaving the box, send the typed name in a message of their own: a state update
// may still be held back (ipywidgets does so while the kernel is busy), a custom message is not,
// so a click on OK could otherwise reach the kernel before the name typed last. Esc is sent too.

import { listeners } from "./dom.js";

let lists = 0;

function render({ model, el }) {
  const { listen, watch, removeAll } = listeners(model);
  const input = document.createElement("input");
  input.type = "text";
  input.className = "jl-label-text";
  input.autocomplete = "off";
  input.spellcheck = false;
  // JupyterLab leaves keys typed here to the input.
  input.dataset.lmSuppressShortcuts = "true";
  const list = document.createElement("datalist");
  lists += 1;
  list.id = `jl-label-options-${lists}-${Math.random().toString(36).slice(2, 8)}`;
  input.setAttribute("list", list.id);
  el.append(input, list);

  function drawValue() {
    const value = model.get("value") || "";
    if (input.value !== value) input.value = value;
  }
  function drawOptions() {
    list.replaceChildren(
      ...(model.get("options") || []).map((name) => {
        const option = document.createElement("option");
        option.value = name;
        return option;
      }),
    );
    input.placeholder = model.get("placeholder") || "";
    input.title = model.get("placeholder") || "";
  }

  listen(input, "input", () => {
    model.set("value", input.value);
    model.save_changes();
  });
  listen(input, "keydown", (event) => {
    event.stopPropagation(); // typed here, acted on here only
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      model.set("value", input.value);
      model.save_changes();
      model.send({ event: "submit", value: input.value });
    } else if (event.key === "Escape" && !event.isComposing) {
      model.send({ event: "cancel" }); // what it does, if anything, is the kernel's to say
    }
  });
  // Leaving the box (say, for OK) sends the name at once too, ahead of the click.
  listen(input, "blur", () => model.send({ event: "typed", value: input.value }));
  // The kernel's focus() (DOMWidget.focus) asks for the keyboard.
  watch("msg:custom", (msg) => {
    if (msg && msg.do === "focus") input.focus();
  });
  watch("change:value", drawValue);
  watch("change:options", drawOptions);
  watch("change:placeholder", drawOptions);
  drawOptions();
  drawValue();
  return removeAll;
}

export default { render };
