// DOM helpers. User data only ever becomes text nodes or attribute values, never markup
// (no HTML-parsing sink is used anywhere in the client; tests/web/test_security.py checks).
import { t } from "./i18n.js";

let dialogs = 0;   // (each dialog's title gets an id of its own, which the dialog is labelled by)

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") { node.addEventListener(k.slice(2), v); handlersOf(node).push([k.slice(2), v]); }
    else if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "value") node.value = v;
    else if (k === "checked" || k === "disabled" || k === "selected" || k === "required") node[k] = !!v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  add(node, children);
  return node;
}
// A field for a user id (u and 16 hex digits): a phone's keyboard neither capitalises nor corrects
// it, and what is typed is read in lower case (`userIdOf`), as ids are.
export function userIdInput(attrs) {
  return el("input", { placeholder: "u0123456789abcdef", autocomplete: "off", autocapitalize: "none",
    autocorrect: "off", spellcheck: "false", ...attrs });
}
export function userIdOf(input) { return input.value.trim().toLowerCase(); }

// Text to the clipboard: the Clipboard API where the page may use it (HTTPS, localhost), else the
// older copy command from a hidden field (a server reached over plain HTTP on a LAN). Whether it went.
export async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch { /* (not allowed here: the old way) */ }
  const field = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true", value: text });
  document.body.appendChild(field);
  field.select();
  let done = false;
  try { done = document.execCommand("copy"); } catch { done = false; }
  field.remove();
  return done;
}

// A long press on `node` (a touch held still for LONG_PRESS_MS, or the browser's contextmenu, which
// Android sends for one) calls fn, unless it was on a link, a picture or a player, whose own menu
// (save, open) the browser shows, or text is being selected.
const LONG_PRESS_MS = 500;
export function onLongPress(node, fn) {
  let timer = null;
  let fired = 0;
  const own = (e) => e.target.closest && e.target.closest("a, img, video, audio, input, textarea");
  const stop = () => { if (timer !== null) { clearTimeout(timer); timer = null; } };
  node.addEventListener("touchstart", (e) => {
    stop();
    if (e.touches.length !== 1 || own(e)) return;
    timer = setTimeout(() => { timer = null; fired = Date.now(); fn(); }, LONG_PRESS_MS);
  }, { passive: true });
  for (const ev of ["touchend", "touchmove", "touchcancel"]) node.addEventListener(ev, stop, { passive: true });
  node.addEventListener("contextmenu", (e) => {
    if (own(e) || String(window.getSelection() || "")) return;
    e.preventDefault();
    if (Date.now() - fired > LONG_PRESS_MS) fn();   // (the touch timer opened it already)
  });
}

function add(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) add(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}
// The listeners el() gave a node (morph hands them on to the node kept in the page).
const HANDLERS = new WeakMap();
function handlersOf(node) {
  if (!HANDLERS.has(node)) HANDLERS.set(node, []);
  return HANDLERS.get(node);
}

// Make `old` (in the page) look like `fresh` (the same thing built anew with el()), changing only
// what differs: where the two agree, the page keeps its nodes. A list redrawn by being emptied and
// filled again loses a click pressed on it before the redraw and released after it (the click's
// target is gone from the page), and the keyboard focus of an item; one drawn with morph keeps
// both. Returns the node now in the page.
// - Children are matched by key where they have one (see keyOf: an id, or the data-gid, data-aid,
//   data-pid, data-cid, data-uid or data-link-id of a list item), the others in order, each with
//   the next old one of the same kind (for a button: doing the same, see signature): an item stays
//   the same node while items come, go or move around it, and a button never becomes another.
// - The listeners el() gave are those of `fresh` (what the item does now, e.g. "make admin" after
//   "remove admin"). So a handler must find other nodes through the page (its event, an id), never
//   through a variable holding a node built with it: that node may be the one not kept.
// - An element marked data-replace (a form whose handlers read its fields, pictures still loading)
//   is put in whole, as before morph (the focus in it moves to the field with the same id). Properties are not compared (an input's value, a box's
//   checked state): a field kept keeps what the user typed.
export function morph(old, fresh) {
  if (old.nodeType !== fresh.nodeType || old.nodeName !== fresh.nodeName
      || (fresh.nodeType === Node.ELEMENT_NODE && (fresh.hasAttribute("data-replace") || keyOf(old) !== keyOf(fresh)))) {
    const active = document.activeElement;
    old.replaceWith(fresh);
    if (active && active !== document.body && old.contains(active)) refocus(active, fresh);
    return fresh;
  }
  if (old.nodeType !== Node.ELEMENT_NODE) { if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue; return old; }
  for (const a of [...old.attributes]) if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
  for (const a of [...fresh.attributes]) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  for (const [type, fn] of HANDLERS.get(old) || []) old.removeEventListener(type, fn);
  for (const [type, fn] of HANDLERS.get(fresh) || []) old.addEventListener(type, fn);
  HANDLERS.set(old, HANDLERS.get(fresh) || []);
  morphKids(old, [...fresh.childNodes]);
  return old;
}

// Make the children of `parent` (in the page) the nodes `kids` (built anew), as morph does: the
// redraw of a pane or a list whose items must stay put.
export function morphKids(parent, kids) {
  const active = document.activeElement;
  const keyed = new Map();
  for (const node of parent.childNodes) { const k = keyOf(node); if (k) keyed.set(k, node); }
  kids.forEach((kid, i) => {
    const k = keyOf(kid);
    let match = null;
    if (k) { match = keyed.get(k) || null; keyed.delete(k); }
    else {
      // An unkeyed item is kept only for one that does the same thing (see signature): taken by
      // position, a button that comes before it (an Unmute put in a row) would hand every later
      // button its neighbour's handler, and a press begun on Kick would end on Unmute.
      const sig = signature(kid);
      for (let n = parent.childNodes[i]; n; n = n.nextSibling) if (!keyOf(n) && signature(n) === sig) { match = n; break; }
    }
    const node = match ? morph(match, kid) : kid;
    if (parent.childNodes[i] !== node) parent.insertBefore(node, parent.childNodes[i] || null);
  });
  while (parent.childNodes.length > kids.length) parent.lastChild.remove();
  if (active && active !== document.body && !active.isConnected && parent.isConnected) refocus(active, parent);
}

// What an unkeyed child is matched on: its kind, and for an element el() gave listeners (a button)
// what it does, so a node is kept only for one doing the same thing. A button that names its action
// (data-act: "kick", "make_admin"; one per action of its row) is matched on that alone, so a label
// or title that changes with the same action (a count, a tooltip, the language) keeps the node and
// a press begun on it; any other, on what it says (its text, aria-label, title).
function signature(node) {
  if (node.nodeType !== Node.ELEMENT_NODE || !(HANDLERS.get(node) || []).length) return node.nodeName;
  if (node.hasAttribute("data-act")) return node.nodeName + "\u0000act\u0000" + node.getAttribute("data-act");
  return [node.nodeName, node.textContent, node.getAttribute("aria-label"), node.getAttribute("title")].join("\u0000");
}

// The focused `active` was taken out of the page with a node replaced: the field with its id in
// `root` (what is in the page now) gets the focus, and a field being typed in its text (a field
// marked data-keep holds the user's unfinished input), caret and selection, so typing goes on there
// and not to <body>.
function refocus(active, root) {
  if (!active.id) return;
  const next = root.id === active.id ? root : root.querySelector("#" + CSS.escape(active.id));
  if (!next || !next.isConnected || typeof next.focus !== "function") return;
  const typed = (active.nodeName === "INPUT" || active.nodeName === "TEXTAREA") && active.nodeName === next.nodeName;
  let start = null, end = null, dir = null;
  if (typed) { try { start = active.selectionStart; end = active.selectionEnd; dir = active.selectionDirection; } catch { /* no selection on this type */ } }
  if (typed && next.hasAttribute("data-keep") && next.value !== active.value) next.value = active.value;
  next.focus({ preventScroll: true });
  if (typed && start !== null) { try { next.setSelectionRange(start, end, dir || "none"); } catch { /* no selection on this type */ } }
}

const KEYS = ["id", "data-gid", "data-aid", "data-pid", "data-cid", "data-uid", "data-link-id"];
function keyOf(node) {
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  for (const a of KEYS) if (node.hasAttribute(a)) return node.nodeName + " " + a + "=" + node.getAttribute(a);
  return null;
}
// An Enter that confirms an input method's candidate (pinyin to 汉字) is no send: most browsers say
// so with isComposing, Safari with isComposing false and the key code 229 of a composition.
export function composing(e) { return e.isComposing || e.keyCode === 229; }

export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
export function $(sel, root = document) { return root.querySelector(sel); }

let toastBox = null;
// The toasts are a popover, shown again with each one: a dialog (showModal) sits in the top layer
// above the page, and a toast under it, the answer to what was done in that dialog, went unseen.
// `key`: a toast that stands for a burst (a raid's join requests by the hundred): while one with the
// same key is shown, its words are replaced and its time starts again, instead of a toast per event
// covering the screen.
const keyed = new Map();
export function toast(text, kind = "info", key = null) {
  if (!toastBox) {
    toastBox = el("div", { id: "toasts", role: "status", "aria-live": "polite", popover: "manual" });
    document.body.appendChild(toastBox);
  }
  // Gone after its time (given again when a keyed toast is replaced).
  const expire = (item, ms) => setTimeout(() => {
    item.remove();
    if (key !== null && keyed.get(key)?.item === item) keyed.delete(key);
    if (!toastBox.childElementCount) hideToasts();
  }, ms);
  const shown = key !== null ? keyed.get(key) : null;
  if (shown && shown.item.isConnected) {
    shown.item.textContent = text;
    clearTimeout(shown.timer);
    shown.timer = expire(shown.item, 4000);
    return;
  }
  const item = el("div", { class: "toast toast-" + kind, text });
  // (shown first, then the words put in: a live region that appears already holding them is not
  // announced by every screen reader)
  raiseToasts();
  toastBox.appendChild(item);
  // Under an open modal dialog everything else is inert, the toasts' live region too (a screen
  // reader heard nothing a panel reported): said again inside the top dialog, out of sight.
  const top = [...document.querySelectorAll("dialog[open]")].pop();
  if (top) {
    let live = top.querySelector(":scope > .dialog-live");
    if (!live) { live = el("div", { class: "sr-only dialog-live", role: "status", "aria-live": "polite" }); top.append(live); }
    live.textContent = "";
    setTimeout(() => { live.textContent = text; }, 50);   // (a change, even to the same words)
  }
  const timer = expire(item, kind === "error" ? 6000 : 4000);
  if (key !== null) keyed.set(key, { item, timer });
}

// Said to a screen reader only (a polite live region out of sight): what sighted users see arrive in
// place, a new comment under the post being read.
let liveBox = null;
export function announce(text) {
  if (!liveBox) {
    liveBox = el("div", { id: "sr-live", class: "sr-only", "aria-live": "polite" });
    document.body.appendChild(liveBox);
  }
  liveBox.textContent = "";
  setTimeout(() => { liveBox.textContent = text; }, 50);   // (a change, even to the same words)
}

// New messages said to a screen reader, out of the list itself (whose redraws, a reaction or an older
// page read back, would otherwise be read out again): one as it is; a burst (a busy group, the catch-up
// after a reconnect) as how many came and the last of them.
let arrived = [];
let arrivedTimer = null;
export function announceArrival(text, many) {
  arrived.push(text);
  if (arrivedTimer !== null) return;
  arrivedTimer = setTimeout(() => {
    const n = arrived.length, last = arrived[n - 1];
    arrived = []; arrivedTimer = null;
    announce(n === 1 ? last : many(n, last));
  }, 700);
}

function raiseToasts() {
  if (!toastBox.showPopover) return;   // (a browser without popovers: under a dialog, as before)
  // Shown again (last into the top layer: above every dialog open now) only while a dialog is open:
  // otherwise the live region stays as it is, so that screen readers go on announcing into it.
  if (toastBox.matches(":popover-open") && !document.querySelector("dialog[open]")) return;
  hideToasts();
  toastBox.showPopover();
}

function hideToasts() {
  if (toastBox.hidePopover && toastBox.matches(":popover-open")) toastBox.hidePopover();
}

// The group the next dialog belongs to: it is closed when the group leaves the list (closeDialogsOf),
// or a panel would go on offering to manage, leave or report a group that is gone.
let nextGroup = null;
export function dialogFor(gid) { nextGroup = gid; }
export function closeDialogsOf(gid, keepReports = false) {
  for (const d of document.querySelectorAll("dialog[open]")) {
    if (d.dataset.gid === gid && !(keepReports && d.id === "report-dialog")) d.close();
  }
}

// Where keyboard focus is, in a form that outlives the node: an element of a keyed item (a message's
// data-key, a post's data-pid, a comment's data-cid, ...) is found again by the item's key and its
// own class once the item is drawn anew (an edit, a reaction, a recall replaces a message's node
// while its menu, or its dialog, had the focus; approving a comment takes its Approve button away).
const ITEM_KEYS = ["data-key", "data-cid", "data-pid", "data-aid", "data-gid", "data-uid"];
function focusSpot(node) {
  if (!node || node === document.body || !node.closest) return null;
  const item = node.closest(ITEM_KEYS.map((k) => `[${k}]`).join(","));
  const attr = item ? ITEM_KEYS.find((k) => item.hasAttribute(k)) : null;
  const cls = [...node.classList].map((c) => "." + CSS.escape(c)).join("") || node.tagName.toLowerCase();
  const emoji = node.dataset ? node.dataset.emoji : undefined;
  const kind = item ? item.tagName.toLowerCase() + (item.classList[0] ? "." + CSS.escape(item.classList[0]) : "") : "";
  return { node, id: node.id || null, item: attr ? `${kind}[${attr}="${CSS.escape(item.getAttribute(attr))}"]` : null,
    sel: cls + (emoji ? `[data-emoji="${CSS.escape(emoji)}"]` : "") };
}
// The focus back at `spot`: the node itself while it is in the page, else the node with its id, else
// the same control of its item drawn anew, else the item's first control (or the item). False when
// none is left (the item went too).
function restoreFocus(spot) {
  if (!spot) return false;
  if (spot.node.isConnected && !spot.node.disabled) { spot.node.focus(); return true; }
  const byId = spot.id && document.getElementById(spot.id);
  if (byId) { byId.focus(); return true; }
  const item = spot.item && document.querySelector(spot.item);
  if (!item) return false;
  const target = item.querySelector(spot.sel) || item.querySelector("button:not([disabled]), [tabindex='0']")
    || (item.hasAttribute("tabindex") ? item : null);   // (a message with no control left: itself)
  if (target) target.focus();
  return !!target;
}

// Move the focus to `target` after a step that took it away (a control drawn anew, a request
// answered), unless the user has moved on meanwhile: only while the focus is nowhere (the page's
// body) or still inside `within` (the control, or the part of the page, the step started from).
export function focusIfIdle(target, within = null) {
  if (!target) return false;
  const a = document.activeElement;
  if (a && a !== document.body && !(within && within.contains(a))) return false;
  target.focus();
  return true;
}

// Run `draw`, which draws `root`'s insides anew, keeping the keyboard's place: when the draw took
// the focused node away, the focus goes back to it (restoreFocus). False when it was in `root`,
// was lost and could not be put back (the caller may then choose where it goes).
export function keepingFocus(root, draw) {
  const spot = root.contains(document.activeElement) ? focusSpot(document.activeElement) : null;
  draw();
  if (!spot || (document.activeElement && document.activeElement !== document.body)) return true;
  return restoreFocus(spot);
}

// (not a read-only field: the appeal dialog's sanction id, given, took the focus and what was typed went nowhere)
const FIELDS = "[autofocus], input:not([type=hidden]):not([disabled]):not([readonly]), textarea:not([disabled]):not([readonly]), select:not([disabled])";

// A modal dialog built from nodes; resolves with the value passed to done(), or null when dismissed.
// It opens with the focus on the control marked autofocus (a confirmation's: the one that does
// nothing) or its first field; with neither, on its close button, never on a button that acts (the
// Enter that opened the dialog repeats while held: on 👍 it would react). When it closes, the focus
// goes back where it was, to the same control of a message drawn anew meanwhile.
const TOUCH = window.matchMedia("(pointer: coarse)");
// Whether the page may put the focus into a text field of its own accord: not on a touch screen, where
// that brings the keyboard up over half of it.
export function typingFocusWelcome() { return !TOUCH.matches; }
// The text fields of `box` with their values now: what typedIn compares with.
const TEXT_FIELDS = "input:not([type=checkbox]):not([type=radio]):not([type=file]):not([type=hidden]), textarea";
function fieldValues(box) { return new Map([...box.querySelectorAll(TEXT_FIELDS)].map((f) => [f, f.value])); }
// Whether the user typed something into a field of `box` since `drawn` (fieldValues when it opened).
function typedIn(box, drawn) {
  return [...box.querySelectorAll(TEXT_FIELDS)].some((f) => f.value !== (drawn.has(f) ? drawn.get(f) : ""));
}

export function modal(title, build, { wide = false, id = null } = {}) {
  return new Promise((resolve) => {
    const spot = focusSpot(document.activeElement);
    const dlg = el("dialog", { class: "modal" + (wide ? " wide" : ""), id });
    // A dialog opened from a group's dialog (a confirmation, a reason) belongs to that group too.
    const over = [...document.querySelectorAll("dialog[open]")].pop();
    const gid = nextGroup ?? (over ? over.dataset.gid : undefined);
    nextGroup = null;
    if (gid) dlg.dataset.gid = gid;
    let settled = false;
    const done = (value) => { if (!settled) { settled = true; resolve(value); } dlg.close(); };
    dlg.addEventListener("close", () => {
      if (!settled) { settled = true; resolve(null); }
      dlg.remove();
      if (!document.activeElement || document.activeElement === document.body) restoreFocus(spot);
    });
    const heading = "dlg-title-" + (++dialogs);
    dlg.setAttribute("aria-labelledby", heading);
    const head = el("header", { class: "modal-head" }, el("h2", { id: heading, text: title }),
      el("button", { class: "icon", type: "button", "aria-label": t("close"), text: "✕", onclick: () => done(null) }));
    dlg.append(head, el("div", { class: "modal-body" }, build(done, dlg)));
    // A tap (or click) outside the dialog, on the dimmed page, closes it as ✕ does, which on a phone
    // is a small target far up the screen; not while something typed in it would be lost.
    const outside = (e) => {
      const r = dlg.getBoundingClientRect();
      return e.target === dlg && (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom);
    };
    let pressedOutside = false;   // (a drag that began inside, selecting text, and ended outside closes nothing)
    dlg.addEventListener("pointerdown", (e) => { pressedOutside = outside(e); });
    dlg.addEventListener("click", (e) => {
      if (pressedOutside && outside(e) && !typedIn(dlg, drawn)) done(null);
      pressedOutside = false;
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    const drawn = fieldValues(dlg);
    const first = dlg.querySelector(".modal-body").querySelector(FIELDS);
    // On a touch screen a text field focused at once brings the keyboard up over half the dialog
    // (the profile's Log out out of reach): there it is focused only when it is what the dialog is
    // for (autofocus, a search), and the reader taps a field to type.
    const typing = first && first.matches(TEXT_FIELDS);
    const wanted = !(TOUCH.matches && typing) || first.hasAttribute("autofocus") || first.type === "search";
    if (first && wanted && (document.activeElement === head.lastChild || !dlg.contains(document.activeElement))) first.focus();
  });
}

export function confirmBox(text, okLabel, cancelLabel) {
  // (the question is the dialog's description: a screen reader heard only the title, and the focused 取消)
  return modal(okLabel, (done, dlg) => {
    const question = el("p", { id: dlg.getAttribute("aria-labelledby") + "-q", text });
    dlg.setAttribute("aria-describedby", question.id);
    return [question,
    el("div", { class: "row end" },
      el("button", { type: "button", class: "ghost", text: cancelLabel, autofocus: true, onclick: () => done(false) }),
      el("button", { type: "button", class: "danger", id: "confirm-ok", text: okLabel, onclick: () => done(true) }))];
  }).then((v) => v === true);
}
