// The image grid of jupyter-labeler: one anywidget view, no framework, no build step.
//
// A page arrives as one message (ids, names, labels, reasons and the thumbnails as binary
// buffers). Selection is drawn here at once and sent to the kernel as intent; the kernel's
// `selected` stays the truth and is applied once it has answered every intent sent (`ack`).
// Keys act only while the grid itself has keyboard focus. Every string from the kernel is
// put into the page with textContent, never parsed as HTML.

import { listeners, make } from "./dom.js";

const PAGE_WHERE = { first: "«", prev: "‹", next: "›", last: "»" };
const PAGE_TIPS = {
  first: "First page",
  prev: "Previous page",
  next: "Next page",
  last: "Last page",
};

function loaded(img) {
  if (img.complete) return Promise.resolve();
  return new Promise((resolve) => {
    img.addEventListener("load", resolve, { once: true });
    img.addEventListener("error", resolve, { once: true });
  });
}

// -- the thumbnail cache: one per grid model, shared by its views ------------------------------
// Decoded thumbnails of recent pages, keyed "<px>/<id>" as the kernel names them, bounded in
// count and bytes. The kernel pushes the next page's thumbnails into it ahead of time and leaves
// out of a page the bytes of those it holds; the cache says which it let go and asks for any it
// lacks. Each entry keeps one <img>, loaded from a blob URL, that a view moves into its tile.
const CACHE_BYTES = 48 * 1024 * 1024;
// How long after drawing a page the grid tells the kernel, which then pushes the next page.
const DRAWN_DELAY_MS = 200;
const caches = new Map(); // cache_id -> ThumbCache

class ThumbCache {
  constructor(model) {
    this.model = model;
    this.entries = new Map(); // key -> entry, oldest first
    this.bytes = 0;
    this.waiting = new Map(); // key -> [resolve] of views waiting for it
    this.evicted = [];
    this.asked = [];
  }

  static entry(bytes, decode) {
    const url = URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
    const img = new Image();
    img.decoding = "async";
    img.src = url;
    const entry = { url, img, size: bytes.byteLength, done: false };
    // Pushed ahead of time: decode now, while the user looks at another page. On a page
    // shown at once: loaded is enough, Chromium decodes what it paints.
    const ready = decode ? img.decode().catch(() => loaded(img)) : loaded(img);
    entry.ready = ready.then(() => {
      entry.done = true;
    });
    return entry;
  }

  get(key) {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  put(key, bytes, decode) {
    this.drop(key, false);
    const entry = ThumbCache.entry(bytes, decode);
    this.entries.set(key, entry);
    this.bytes += entry.size;
    for (const resolve of this.waiting.get(key) || []) resolve(entry);
    this.waiting.delete(key);
    this.trim();
    return entry;
  }

  drop(key, tell) {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.size;
    // An <img> on the screen keeps its decoded picture; the URL is only needed to load it.
    URL.revokeObjectURL(entry.url);
    if (tell) this.tell("evicted", key);
  }

  trim() {
    const limit = Math.max(96, this.model.get("cache_limit") || 0);
    for (const key of this.entries.keys()) {
      if (this.entries.size <= limit && this.bytes <= CACHE_BYTES) break;
      this.drop(key, true);
    }
  }

  // Ask the kernel for thumbnails this cache lacks; resolves with their entries.
  want(keys) {
    return Promise.all(
      keys.map(
        (key) =>
          new Promise((resolve) => {
            if (!this.waiting.has(key)) {
              this.waiting.set(key, []);
              this.tell("want", key);
            }
            this.waiting.get(key).push(resolve);
          }),
      ),
    );
  }

  // Keys evicted or wanted go to the kernel in one message per kind, once this task is done.
  tell(kind, key) {
    const list = kind === "evicted" ? this.evicted : this.asked;
    list.push(key);
    if (list.length > 1) return;
    queueMicrotask(() => {
      const keys = list.splice(0);
      if (keys.length) this.model.send({ event: kind, keys });
    });
  }

  receive(content, buffers) {
    if (!content || content.event !== "thumbs") return;
    (content.keys || []).forEach((key, i) => {
      if (buffers[i]) this.put(key, buffers[i], true);
    });
    for (const key of content.none || []) {
      for (const resolve of this.waiting.get(key) || []) resolve(null);
      this.waiting.delete(key);
    }
  }

  clear() {
    for (const entry of this.entries.values()) URL.revokeObjectURL(entry.url);
    this.entries.clear();
    this.bytes = 0;
    this.waiting.clear();
  }
}

function cacheOf(model) {
  const id = model.get("cache_id") || "";
  let cache = caches.get(id);
  if (!cache) {
    cache = new ThumbCache(model);
    caches.set(id, cache);
  }
  return cache;
}

function initialize({ model }) {
  const cache = cacheOf(model);
  const { watch, removeAll } = listeners(model);
  watch("msg:custom", (content, buffers) => cache.receive(content, buffers || []));
  // The model is gone (its widget closed): free every thumbnail.
  return () => {
    removeAll();
    cache.clear();
    caches.delete(model.get("cache_id") || "");
  };
}

// -- the view's elements ------------------------------------------------------------------------
// Built once per view: the selection bar and pager, the tiles' container, the empty message and
// the keys hint. Everything after this fills them from the model; nothing rebuilds them.
function buildView(model, el) {
  el.classList.add("jl-grid-widget");
  const bar = make("div", "jl-grid-bar");
  const selectPage = make("button", "jl-select-page", "Select page");
  selectPage.title = "Select every image of this page (a)";
  const clear = make("button", "jl-clear-selection", "Clear");
  clear.title = "Clear the selection (Esc)";
  const count = make("span", "jl-selection-count", "0 selected");
  const pager = make("span", "jl-pager");
  const pageButtons = {};
  for (const where of Object.keys(PAGE_WHERE)) {
    const button = make("button", `jl-page-${where}`, PAGE_WHERE[where]);
    button.title = PAGE_TIPS[where];
    button.setAttribute("aria-label", PAGE_TIPS[where]);
    pageButtons[where] = button;
  }
  const pageInfo = make("span", "jl-page-info");
  pager.append(pageButtons.first, pageButtons.prev, pageInfo, pageButtons.next, pageButtons.last);
  const pageSize = make("select", "jl-page-size");
  pageSize.title = "Images per page";
  const tileSize = make("select", "jl-tile-size");
  tileSize.title = "Tile size";
  for (const [value, text] of [
    ["small", "Small"],
    ["medium", "Medium"],
    ["large", "Large"],
  ]) {
    const option = make("option", "", text);
    option.value = value;
    tileSize.append(option);
  }
  // The file picker of "Add images…" (a button of the Labeler's menu, which asks for it).
  const picker = make("input", "jl-upload-input");
  picker.type = "file";
  picker.multiple = true;
  picker.accept = model.get("accept") || "";
  picker.hidden = true;
  bar.append(selectPage, clear, count, pager, pageSize, tileSize, picker);

  const grid = make("div", "jl-grid");
  grid.tabIndex = 0;
  grid.setAttribute("role", "listbox");
  grid.setAttribute("aria-multiselectable", "true");
  grid.setAttribute("aria-label", "Images; click or Tab here to use the keys");
  // JupyterLab leaves elements marked so alone when it matches its own shortcuts.
  grid.dataset.lmSuppressShortcuts = "true";
  const empty = make("div", "jl-grid-empty");
  const hint = make("div", "jl-grid-hint");
  el.append(bar, grid, empty, hint);
  return {
    el,
    selectPage,
    clear,
    count,
    pageButtons,
    pageInfo,
    pageSize,
    tileSize,
    picker,
    grid,
    empty,
    hint,
  };
}

// The pager, the page size and tile size menus, the empty message.
function drawBar(view, model) {
  const page = model.get("page") || 0;
  const pages = model.get("page_count") || 1;
  const { pageButtons, pageSize } = view;
  view.pageInfo.textContent = `page ${page + 1} of ${pages}`;
  pageButtons.first.disabled = pageButtons.prev.disabled = page <= 0;
  pageButtons.next.disabled = pageButtons.last.disabled = page >= pages - 1;
  const sizes = model.get("page_sizes") || [];
  if (pageSize.options.length !== sizes.length) {
    pageSize.replaceChildren(
      ...sizes.map((n) => {
        const option = make("option", "", `${n} / page`);
        option.value = String(n);
        return option;
      }),
    );
  }
  pageSize.value = String(model.get("page_size"));
  view.tileSize.value = model.get("tile_size");
  view.el.style.setProperty("--jl-tile-px", `${model.get("tile_px") || 112}px`);
  const shown = (model.get("ids") || []).length;
  const message = model.get("empty_message") || "";
  view.empty.textContent = message;
  view.empty.style.display = shown === 0 && message ? "" : "none";
  view.selectPage.disabled = shown === 0;
}

// The keys hint says whether the keys act now (the grid has the focus) and which they are.
function drawHint(view, model) {
  const focused = view.grid.contains(document.activeElement);
  view.hint.classList.toggle("jl-keys-active", focused);
  view.hint.textContent = focused
    ? `Keys active: ${model.get("key_help") || ""}`
    : "Click the images (or Tab to them) to use the keys.";
  view.hint.title = model.get("key_help") || "";
}

// Each tile shown selected or not; the bar counts every selected image, on this page and off it.
function drawSelection(view, tiles, selected, total) {
  for (const tile of tiles) {
    const on = selected.has(tile.id);
    tile.node.classList.toggle("jl-selected", on);
    tile.node.setAttribute("aria-selected", on ? "true" : "false");
    if (tile.check.checked !== on) tile.check.checked = on;
  }
  view.count.textContent = `${total} selected`;
  view.clear.disabled = total === 0;
}

// -- tiles ---------------------------------------------------------------------------------------
// Tiles are reused from page to page: a new page changes their contents, not the DOM.
function buildTile() {
  const node = make("div", "jl-tile");
  node.setAttribute("role", "option");
  const top = make("div", "jl-tile-top");
  const check = make("input", "jl-tile-check");
  check.type = "checkbox";
  check.tabIndex = -1;
  const open = make("button", "jl-tile-open", "⤢");
  open.tabIndex = -1;
  open.title = "Open this image";
  top.append(check, open);
  const img = make("img");
  const caption = make("div", "jl-tile-name");
  const folder = make("span", "jl-tile-folder");
  const file = make("span", "jl-tile-file");
  caption.append(folder, file);
  const reason = make("div", "jl-tile-reason");
  const chips = make("div", "jl-tile-chips");
  node.append(top, img, caption, chips);
  return { node, check, open, img, caption, folder, file, reason, chips, id: "" };
}

// Tile number `i` of the page shows image `id` (named `name`) as `img`; `why` it cannot be shown.
function fillTile(tile, i, id, name, why, img) {
  tile.id = id;
  tile.node.dataset.index = String(i);
  tile.check.title = name;
  tile.check.setAttribute("aria-label", `Select ${name}`);
  tile.open.setAttribute("aria-label", `Open ${name}`);
  img.className = "jl-tile-image";
  img.alt = name;
  img.draggable = false;
  if (tile.img !== img) {
    tile.img.replaceWith(img);
    tile.img = img;
  }
  // The folder and the file name in two parts: when the path is too long for the tile, the
  // folder gives way first (shortened with "…"), so the path is shortened in its middle.
  const cut = name.lastIndexOf("/") + 1;
  tile.folder.textContent = name.slice(0, cut);
  tile.file.textContent = name.slice(cut);
  tile.caption.title = name;
  tile.node.classList.toggle("jl-broken", !!why);
  if (why) {
    tile.reason.textContent = `Cannot show this image: ${why}`;
    if (!tile.reason.isConnected) tile.caption.after(tile.reason);
  } else {
    tile.reason.remove();
  }
  return tile;
}

// The <img> of a cache entry, or a copy when another view shows it.
function imageOf(entry) {
  return entry.img.isConnected ? entry.img.cloneNode() : entry.img;
}

// A suggestion: a dashed chip with its confidence, rounded down so that a chip reading 90%
// is one that "Accept all >= 90%" takes.
function suggestionChip([name, confidence]) {
  const percent = Math.floor((Number(confidence) || 0) * 100);
  const chip = make("span", "jl-chip-suggested", `${name} ${percent}%`);
  chip.title = `Suggested: ${name}, ${percent}% sure (s accepts it)`;
  return chip;
}

const PART_TITLES = {
  train: "In the training part of the split",
  eval: "In the evaluation part of the split",
  test: "In the test part of the split",
};

// A likely wrong label: "maybe 7, 92%", words and tooltip made by the kernel. On a narrow
// tile the label gives way (shortened with "…"), never the confidence after it.
function flaggedChip([words, title]) {
  const cut = words.lastIndexOf(", ") + 1; // the comma stays with the label
  const chip = make("span", "jl-chip-flagged");
  chip.append(make("span", "jl-chip-flagged-label", cut ? words.slice(0, cut) : words));
  if (cut) chip.append(make("span", "jl-chip-flagged-sure", words.slice(cut)));
  chip.title = title || words;
  chip.setAttribute("aria-label", words);
  return chip;
}

// A tile's chips: its labels (else its suggestions, else "no label"), a likely wrong label's
// chip, then its part of the split.
// The part is shown on labeled images only: training uses labeled images, and an image whose
// labels were removed after a split keeps a part that means nothing until it is labeled again.
function drawChips(tile, labels, part, suggested, flagged) {
  tile.chips.replaceChildren();
  if (!labels.length && suggested.length) tile.chips.append(...suggested.map(suggestionChip));
  else if (!labels.length) tile.chips.append(make("span", "jl-chip-none", "no label"));
  for (const name of labels) tile.chips.append(make("span", "jl-chip", name));
  if (flagged && flagged.length) tile.chips.append(flaggedChip(flagged));
  tile.node.classList.toggle("jl-flagged", !!(flagged && flagged.length));
  if (part && labels.length) {
    // The part of the train / eval / test split, as a small mark after the labels.
    const word = part.toLowerCase();
    const mark = make("span", `jl-part jl-part-${word.replace(/[^a-z]/g, "")}`, word);
    mark.title = PART_TITLES[word] || `In the ${word} part of the split`;
    tile.chips.append(mark);
  }
}

// Where each thumbnail of a new page comes from: sent with it (`entries`, put in the cache
// when keyed; `urls` to free for those outside it), held in the cache (`entries`), or to be
// asked for (`missing`, positions on the page). A null entry: the image has no picture.
function pageThumbnails(cache, ids, keys, thumbs) {
  const entries = [];
  const missing = [];
  const urls = [];
  ids.forEach((_id, i) => {
    const key = keys[i] || "";
    const bytes = thumbs[i];
    if (bytes && bytes.byteLength) {
      entries[i] = key ? cache.put(key, bytes, false) : ThumbCache.entry(bytes, false);
      if (!key) urls.push(entries[i].url);
    } else if (key && (entries[i] = cache.get(key))) {
      // held
    } else if (key) {
      missing.push(i);
    } else {
      entries[i] = null; // no picture at all: the tile says why
    }
  });
  return { entries, missing, urls };
}

// The files picked in "Add images…" go to the kernel as one message, their bytes as buffers;
// more than the upload limit in all goes without the bytes, for the kernel to say why.
async function sendFiles(model, view) {
  const { picker } = view;
  const files = [...picker.files];
  picker.value = "";
  if (!files.length) return;
  const names = files.map((f) => f.name);
  const sizes = files.map((f) => f.size);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > (model.get("upload_limit") || 0)) {
    model.send({ event: "upload", names, sizes, sent: false });
    return;
  }
  const buffers = await Promise.all(files.map((f) => f.arrayBuffer()));
  model.send({ event: "upload", names, sizes, sent: true }, undefined, buffers);
}

// The position on the page of the tile an event happened in, or -1.
function tileIndex(grid, target) {
  const node = target.closest(".jl-tile");
  return node && grid.contains(node) ? Number(node.dataset.index) : -1;
}

// -- the view: state and wiring ------------------------------------------------------------------
function render({ model, el }) {
  const { listen, watch, removeAll } = listeners(model);
  const view = buildView(model, el);
  const { grid } = view;

  let tiles = []; // {node, check, open, img, caption, folder, file, reason, chips, id}
  let urls = []; // blob URLs of thumbnails outside the cache (sent without a key)
  const cache = cacheOf(model);
  let shownToken = -1;
  let drawing = 0; // the newest page being decoded
  let drawnTimer = 0;
  let local = new Set(); // the page's selection as drawn
  let kernelPage = new Set(); // the page's selection as the kernel last said
  let anchor = null; // index of the last plainly clicked tile on this page
  // Shared with the other views of this grid (a second tab): start from the kernel's count.
  let seq = model.get("ack") || 0;

  function send(content, changesSelection) {
    if (changesSelection) {
      seq += 1;
      content.seq = seq;
    }
    model.send(content);
  }

  function showSelection() {
    const total = (model.get("selected_count") || 0) + local.size - kernelPage.size;
    drawSelection(view, tiles, local, total);
  }

  function takeKernelSelection() {
    kernelPage = new Set(model.get("selected") || []);
    if ((model.get("ack") || 0) >= seq) local = new Set(kernelPage);
    showSelection();
  }

  function drawLabels() {
    const labels = model.get("labels") || [];
    const parts = model.get("parts") || [];
    const suggested = model.get("suggested") || [];
    const flagged = model.get("flagged") || [];
    tiles.forEach((tile, i) =>
      drawChips(tile, labels[i] || [], parts[i] || "", suggested[i] || [], flagged[i] || []),
    );
  }

  // The grid's children: each tile, after the caption of a group that starts there (a row of
  // its own, so a group starts on a new row). Only changed children are replaced.
  function placeTiles() {
    const heads = model.get("group_heads") || [];
    const nodes = [];
    tiles.forEach((tile, i) => {
      const text = heads[i] || "";
      if (text) {
        if (!tile.head) tile.head = make("div", "jl-group-head");
        tile.head.textContent = text;
        tile.head.title = `${text}: look-alike images (g selects the group)`;
        nodes.push(tile.head);
      }
      nodes.push(tile.node);
    });
    const kids = grid.children;
    if (kids.length !== nodes.length || nodes.some((n, i) => kids[i] !== n)) {
      grid.replaceChildren(...nodes);
    }
  }

  // A new page: gather every thumbnail (sent with the page, held in the cache, or asked for),
  // wait until each is loaded, then swap all tiles at once, so old and new tiles are never
  // shown mixed. When the cache holds every thumbnail loaded, the page is drawn at once.
  function drawPage() {
    const token = model.get("page_token");
    const mine = ++drawing;
    const pageIds = model.get("ids") || [];
    const keys = model.get("thumb_keys") || [];
    const { entries, missing, urls: newUrls } = pageThumbnails(
      cache,
      pageIds,
      keys,
      model.get("thumbs") || [],
    );
    const finish = () => {
      if (mine !== drawing) {
        newUrls.forEach((u) => URL.revokeObjectURL(u));
        return;
      }
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls = newUrls;
      const names = model.get("names") || [];
      const reasons = model.get("errors") || [];
      tiles = pageIds.map((id, i) =>
        fillTile(
          tiles[i] || buildTile(),
          i,
          id,
          names[i] || id,
          reasons[i] || "",
          entries[i] ? imageOf(entries[i]) : make("img"),
        ),
      );
      shownToken = token;
      anchor = null;
      // Chips and selection drawn before the tiles go in: the page is laid out once.
      drawLabels();
      takeKernelSelection();
      drawBar(view, model);
      placeTiles();
      grid.scrollTop = 0;
      grid.dataset.pageToken = String(token);
      // Once this page is on the screen and the browser idle, the kernel may push the next.
      clearTimeout(drawnTimer);
      drawnTimer = setTimeout(() => {
        if (shownToken === token) model.send({ event: "drawn", token });
      }, DRAWN_DELAY_MS);
    };
    if (!missing.length && entries.every((e) => !e || e.done)) {
      finish();
      return;
    }
    const asked = missing.length
      ? cache.want(missing.map((i) => keys[i])).then((got) => {
          missing.forEach((i, k) => {
            entries[i] = got[k];
          });
        })
      : Promise.resolve();
    asked
      .then(() => Promise.all(entries.map((e) => (e ? e.ready : null))))
      .then(finish);
  }

  function onChange() {
    if (model.get("page_token") !== shownToken) {
      drawBar(view, model);
      drawPage();
      return;
    }
    drawLabels();
    placeTiles();
    takeKernelSelection();
    drawBar(view, model);
  }

  // -- selection by the user ----------------------------------------------------------------
  function toggle(i, shift) {
    const tile = tiles[i];
    if (!tile) return;
    if (shift && anchor !== null && anchor !== i) {
      const [low, high] = anchor < i ? [anchor, i] : [i, anchor];
      for (let k = low; k <= high; k++) local.add(tiles[k].id);
    } else {
      if (local.has(tile.id)) local.delete(tile.id);
      else local.add(tile.id);
      anchor = i;
    }
    showSelection();
    send({ event: "click", index: i, shift: !!shift }, true);
  }

  function selectWholePage() {
    for (const tile of tiles) local.add(tile.id);
    showSelection();
    send({ event: "select_page" }, true);
  }

  function clearAll() {
    local.clear();
    showSelection();
    send({ event: "clear" }, true);
  }

  listen(grid, "click", (event) => {
    const i = tileIndex(grid, event.target);
    if (i < 0) return;
    if (event.target.closest(".jl-tile-open")) {
      send({ event: "open", index: i }, false);
      return;
    }
    toggle(i, event.shiftKey);
  });
  listen(grid, "dblclick", (event) => {
    const i = tileIndex(grid, event.target);
    if (i >= 0 && !event.target.closest(".jl-tile-top")) send({ event: "open", index: i }, false);
  });
  // No text selection on shift-click.
  listen(grid, "mousedown", (event) => {
    if (event.shiftKey) event.preventDefault();
  });
  listen(view.selectPage, "click", selectWholePage);
  listen(view.clear, "click", clearAll);
  for (const where of Object.keys(view.pageButtons)) {
    listen(view.pageButtons[where], "click", () => send({ event: "page", where }, false));
  }
  listen(view.pageSize, "change", () =>
    send({ event: "page_size", value: Number(view.pageSize.value) }, false),
  );
  listen(view.picker, "change", () => sendFiles(model, view));
  listen(view.tileSize, "change", () => {
    model.set("tile_size", view.tileSize.value);
    model.save_changes();
  });

  // -- keys: only while the grid (or a tile's control) has focus ------------------------------
  listen(grid, "keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = model.get("key_names") || [];
    if (!keys.includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation(); // JupyterLab's own shortcuts (a, z, arrows) must not act too
    if (event.repeat && !/^(Arrow|Page)/.test(event.key)) return;
    const key = event.key;
    if (key === "a" || key === "A") {
      selectWholePage();
      return;
    }
    if (key === "Escape" && !model.get("overlay_open")) {
      clearAll();
      return;
    }
    send({ event: "key", key }, key === "Escape");
  });
  // The kernel's focus() (DOMWidget.focus) hands the keys back to the grid, say once the
  // reason box of a rejection closes; the page stays where the user looks.
  watch("msg:custom", (msg) => {
    if (msg && msg.do === "focus" && el.isConnected) grid.focus({ preventScroll: true });
    // "Add images…" was pressed a moment ago: the browser still counts that press as the
    // user's, so the file picker may open.
    if (msg && msg.do === "pick" && el.isConnected) view.picker.click();
  });
  listen(grid, "focusin", () => drawHint(view, model));
  listen(grid, "focusout", () => setTimeout(() => drawHint(view, model), 0));
  watch("change:key_help", () => drawHint(view, model));

  // -- HiDPI: ask for sharper thumbnails once ----------------------------------------------
  if ((window.devicePixelRatio || 1) >= 2 && !model.get("hidpi")) {
    model.set("hidpi", true);
    model.save_changes();
  }

  watch("change", onChange);
  drawBar(view, model);
  drawHint(view, model);
  drawPage();

  return () => {
    drawing += 1; // a page still decoding is dropped
    clearTimeout(drawnTimer);
    removeAll();
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = [];
  };
}

export default { initialize, render };
