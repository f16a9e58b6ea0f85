// Small DOM helpers shared by the tablet and the central overview. Pages run under the CSP
// `default-src 'self'`: nothing here writes inline styles or HTML from data.

export function byId(id) {
  return document.getElementById(id);
}

/** Create an element with a class and optional text (keeps the views short). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Set text only when it changed: avoids needless layout work on every tick. */
export function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

/** Set a data attribute only when it changed (an unchanged attribute keeps CSS animations in step). */
export function setData(node, key, value) {
  const text = String(value);
  if (node.dataset[key] !== text) node.dataset[key] = text;
}

const toastTimers = new WeakMap();

/** Show `text` in the page's #toast box for `ms` (kind "info" or "error"). */
export function showToast(text, kind = "info", ms = 3000) {
  const box = byId("toast");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimers.get(box));
  toastTimers.set(box, setTimeout(() => {
    box.hidden = true;
  }, ms));
}
