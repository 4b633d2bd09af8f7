// Helpers shared by the widget's ES modules. Each module imports them from here; the kernel
// puts this file in place of that import when it sends a module to the browser (anywidget
// loads a module from a blob URL, where a relative import cannot be resolved).

// An element with a class and a text (set as textContent: never parsed as HTML).
export function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Listeners on the page (`listen`) and on the model (`watch`) that one call (`removeAll`)
// takes away: what a view's cleanup does, so that none outlives the view.
export function listeners(model) {
  const undo = [];
  return {
    listen(target, type, handler, options) {
      target.addEventListener(type, handler, options);
      undo.push(() => target.removeEventListener(type, handler, options));
    },
    watch(name, handler) {
      model.on(name, handler);
      undo.push(() => model.off(name, handler));
    },
    removeAll() {
      undo.splice(0).forEach((remove) => remove());
    },
  };
}
