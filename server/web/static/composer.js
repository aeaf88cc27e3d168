// What the composer adds to a message besides its text: the message it replies to, the members it
// @mentions (a picker opens on "@"; owners and admins also get @所有人 = mention_all), and files
// (uploaded while the user types; send waits for them). Each group keeps its own draft.
import { el, clear, $, toast, composing } from "./dom.js";
import { t, keptError, keptText } from "./i18n.js";
import { S, namesOf, actingRole, roleTag, LIMITS } from "./state.js";
import { upload, fmtSize, previewText } from "./media.js";

const MAX_FILES = 9;
const PICKER_MAX = 8;

export function draft(g) {
  if (!g.draft) g.draft = { replyTo: null, mentions: new Map(), mentionAll: false, files: [] };
  return g.draft;
}

// ---------------------------------------------------------------- reply
export function setReply(g, m) {
  draft(g).replyTo = m;
  drawReply(g);
  const box = $("#composer-text"); if (box) box.focus();
}

export function drawReply(g) {
  const bar = $("#reply-bar");
  if (!bar) return;
  const m = draft(g).replyTo;
  clear(bar);
  bar.hidden = !m;
  if (!m) return;
  bar.append(el("span", { class: "grow clip" }, el("strong", { text: t("replying_to", { name: m.sender ? m.sender.display_name : "" }) }),
    el("span", { class: "muted", text: " " + previewText(m) })),
  el("button", { type: "button", class: "icon small", id: "reply-cancel", "aria-label": t("cancel_reply"), text: "✕",
    onclick: () => { draft(g).replyTo = null; drawReply(g); const box = $("#composer-text"); if (box) box.focus(); } }));
}

// ---------------------------------------------------------------- files
export function filePicker(g, isBlocked) {
  // (offers the types the server takes, once `me` has told them: a file of another type was taken and
  // refused only after, in MIME words)
  const input = el("input", { type: "file", id: "file-input", multiple: true, hidden: true,
    ...(LIMITS.uploadTypes.length ? { accept: LIMITS.uploadTypes.join(",") } : {}),
    onchange: () => { for (const f of [...input.files]) addFile(g, f); input.value = ""; } });
  const btn = el("button", { type: "button", class: "icon", id: "attach-btn", title: t("attach"), "aria-label": t("attach"),
    onclick: () => { if (!isBlocked()) input.click(); } }, el("img", { src: "/clip.svg", alt: "", class: "ico" }));
  return [input, btn];
}

// A file starts uploading as it is added. A dropped connection pauses it (shown so in the tray) and
// it goes on after the reconnect (media.js), in the composer or after the message was sent; an
// answer `internal` pauses it for a moment likewise (the tray says the server did not answer). One
// that fails while still in the composer is taken out of it with a toast that says why; one that
// fails after the message was sent makes that message fail in the outbox (app.js), file named.
export function addFile(g, file) {
  const d = draft(g);
  if (d.files.length >= MAX_FILES) { toast(t("too_many_files", { n: MAX_FILES }), "error"); return; }
  const item = { file, progress: 0, result: null, error: null, preview: null, paused: false, cancelled: false };
  if (file.type.startsWith("image/")) item.preview = URL.createObjectURL(file);
  item.promise = upload(file, (p) => { item.progress = p; drawTray(g); },
    { stopped: () => item.cancelled, onPause: (on, why) => { item.paused = on ? why || "link" : false; drawTray(g); } })
    .then((r) => { item.result = r; drawTray(g); return r; })
    .catch((e) => {
      if (item.cancelled) return null;
      item.error = keptError(e);   // (worded when shown: a failed message names it, in the language of then)
      if (S.groups.get(g.group_id) === g && g.draft && g.draft.files.includes(item)) {   // (not after a logout)
        toast(t("upload_failed", { name: file.name, reason: keptText(item.error) }), "error");
        removeFile(g, item);
      }
      return null;
    });
  d.files.push(item);
  drawTray(g);
}

function removeFile(g, item) {
  const d = draft(g);
  item.cancelled = true;   // an upload still running stops at its next step
  d.files = d.files.filter((x) => x !== item);
  if (item.preview) URL.revokeObjectURL(item.preview);
  drawTray(g);
}

export function drawTray(g) {
  const tray = $("#attach-tray");
  if (!tray || S.current !== g.group_id) return;
  const files = draft(g).files;
  clear(tray);
  tray.hidden = files.length === 0;
  for (const item of files) {
    tray.append(el("div", { class: "attach-item" + (item.result ? " done" : ""), "data-name": item.file.name },
      item.preview ? el("img", { class: "attach-thumb", src: item.preview, alt: "" }) : el("img", { class: "file-ico", src: "/file.svg", alt: "" }),
      el("span", { class: "clip attach-name", text: item.file.name }),
      el("small", { class: "muted", text: item.result ? fmtSize(item.file.size)
        : Math.round(item.progress * 100) + "%" + (item.paused ? " " + t(item.paused === "server" ? "upload_retrying" : "upload_paused") : "") }),
      el("button", { type: "button", class: "icon small", "aria-label": t("cancel_file", { name: item.file.name }), text: "✕", onclick: () => removeFile(g, item) })));
  }
}

// ---------------------------------------------------------------- mentions
function mentionAllLabel() { return t("mention_all_name"); }

export const MEMBERS_CAME = "qg-members";

// The picker: typing "@" (and a few letters) lists matching members above the composer.
export function attachMentionPicker(g, box) {
  const picker = el("ul", { id: "mention-picker", class: "picker", role: "listbox", hidden: true });
  let options = [];
  let active = 0;
  let moved = false;     // whether the arrow keys picked the active option (Tab takes only such a one)
  let more = 0;          // matches past the list's room
  let twice = new Set(); // display names more than one option shows
  const query = () => {
    const before = box.value.slice(0, box.selectionStart);
    const m = /(^|\s)@([^\s@]{0,24})$/.exec(before);
    return m ? { q: m[2], start: before.length - m[2].length - 1 } : null;
  };
  // The text box is a combobox of the picker: a screen reader hears the list open and the option
  // the arrow keys move to.
  box.setAttribute("role", "combobox");
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", "mention-picker");
  box.setAttribute("aria-expanded", "false");
  const close = () => { picker.hidden = true; options = []; box.setAttribute("aria-expanded", "false"); box.removeAttribute("aria-activedescendant"); };
  const choose = (opt) => {
    const at = query();
    if (!at) { close(); return; }
    const name = opt.all ? mentionAllLabel() : opt.user.display_name;
    const end = box.selectionStart;
    box.value = box.value.slice(0, at.start) + "@" + name + " " + box.value.slice(end);
    const caret = at.start + name.length + 2;
    box.setSelectionRange(caret, caret);
    const d = draft(g);
    if (opt.all) d.mentionAll = true; else d.mentions.set(opt.user.user_id, opt.user.display_name);
    close();
    box.focus();
    box.dispatchEvent(new Event("input"));   // (the draft kept with the group: app.js keepTyped)
  };
  const draw = () => {
    clear(picker);
    options.forEach((opt, i) => picker.append(el("li", { role: "option", id: "mention-opt-" + i, class: "pick" + (i === active ? " active" : ""),
      "data-uid": opt.all ? "all" : opt.user.user_id, "aria-selected": i === active ? "true" : "false",
      onmousedown: (e) => { e.preventDefault(); choose(opt); } },
    el("span", { text: "@" + (opt.all ? mentionAllLabel() : opt.user.display_name) }),
    opt.all ? el("small", { class: "muted", text: t("mention_all_hint") }) : null,
    opt.user && opt.user.role !== "member" ? roleTag(opt.user.role) : null,
    opt.user && twice.has(opt.user.display_name) ? el("small", { class: "muted mono", text: "…" + opt.user.user_id.slice(-6) }) : null)));
    if (more) picker.append(el("li", { class: "muted small pick-more", role: "presentation", text: t("mention_more", { n: more }) }));
    picker.hidden = options.length === 0;
    box.setAttribute("aria-expanded", picker.hidden ? "false" : "true");
    if (picker.hidden) box.removeAttribute("aria-activedescendant"); else box.setAttribute("aria-activedescendant", "mention-opt-" + active);
  };
  const update = () => {
    const at = query();
    if (!at) { close(); return; }
    const q = at.q.toLowerCase();
    const me = S.me ? S.me.user_id : null;
    options = [];
    if (actingRole(g) !== "member" && (mentionAllLabel().toLowerCase().startsWith(q) || "all".startsWith(q))) options.push({ all: true });
    // Every member whose name holds the text, those whose name starts with it first (in a group of
    // 2,000 the first eight in the server's order were seldom the one meant), then the owner and admins.
    const found = [];
    for (const u of (g.members || new Map()).values()) {
      const at = u.user_id === me ? -1 : u.display_name.toLowerCase().indexOf(q);
      if (at >= 0) found.push({ u, rank: (at === 0 ? 0 : 2) + (u.role === "member" ? 1 : 0) });
    }
    found.sort((a, b) => a.rank - b.rank);   // (stable: the server's order within a rank)
    const room = PICKER_MAX - options.length;
    for (const { u } of found.slice(0, room)) options.push({ user: u });
    more = Math.max(0, found.length - room);
    // Names shown twice in the list are told apart by the end of their user ids.
    const seen = new Map();
    for (const o of options) if (o.user) seen.set(o.user.display_name, (seen.get(o.user.display_name) || 0) + 1);
    twice = new Set([...seen].filter(([, n]) => n > 1).map(([name]) => name));
    active = 0; moved = false;
    draw();
  };
  box.addEventListener("input", update);
  box.addEventListener("click", update);
  // The member list may come after "@" was typed (a group opened the first time): the open list is
  // drawn again from it, not left empty until the next key.
  // Not once an option was chosen with the arrows: redrawn, the list would start again at its first,
  // @所有人 for an owner, and the Enter meant for the one chosen would take that.
  box.addEventListener(MEMBERS_CAME, () => { if (document.activeElement === box && !moved) update(); });
  // (closed a moment after the text box loses the focus; not when it has it back by then, with a list
  // drawn since: a Tab away and straight back closed the list typed anew, and the next Tab left it)
  box.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== box) close(); }, 150));
  box.addEventListener("keydown", (e) => {
    if (picker.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      moved = true;
      draw();
    } else if (e.key === "Tab" && !moved) {
      // Tab from "@" on its way to 发送 goes there, the list closed: for an owner the first option is
      // @所有人, which a Tab that took it would have notified the whole group with.
      close();
    } else if ((e.key === "Enter" || e.key === "Tab") && !composing(e)) {
      e.preventDefault(); e.stopImmediatePropagation();
      choose(options[active]);
    } else if (e.key === "Escape") { close(); }
  }, true);
  return picker;
}

// ---------------------------------------------------------------- sending
export function hasFiles(g) { return draft(g).files.length > 0; }

// The send arguments beyond the text, and the files that could not be uploaded ({name, file,
// error}: the message fails with them named, and Retry uploads them again); waits for uploads
// still running. Clears the draft.
export async function takeExtras(g, text) {
  const d = draft(g);
  g.draft = null;
  drawReply(g);
  const extras = {};
  if (d.replyTo) extras.reply_to = d.replyTo.seq;
  const ids = [...d.mentions].filter(([, name]) => text.includes("@" + name)).map(([uid]) => uid);
  if (ids.length) extras.mentions = ids;
  if (d.mentionAll && text.includes("@" + mentionAllLabel())) extras.mention_all = true;
  const unsent = [];
  if (d.files.length) {
    drawTray(g);
    await Promise.all(d.files.map((f) => f.promise));
    const done = d.files.filter((f) => f.result).map((f) => f.result);
    for (const f of d.files) {
      if (f.preview) URL.revokeObjectURL(f.preview);
      if (!f.result && !f.cancelled) unsent.push({ name: f.file.name, file: f.file, error: f.error });
    }
    if (done.length) extras.attachments = done;
  }
  drawTray(g);
  return { extras, unsent };
}

// A refused send: its reply, mentions and (already uploaded) files go back into the draft.
export function restoreDraft(g, extras, text = "") {
  const d = draft(g);
  if (extras.reply_to && g.msgs.has(extras.reply_to)) d.replyTo = g.msgs.get(extras.reply_to);
  // A mention keeps the name its text says, which may be one the member had before a rename.
  for (const uid of extras.mentions || []) {
    if (!g.members || !g.members.has(uid)) continue;   // no longer a member: not mentioned again
    const names = namesOf(uid, g);
    const said = names.find((n) => text.includes("@" + n)) || names[0];
    if (said) d.mentions.set(uid, said);
  }
  if (extras.mention_all) d.mentionAll = true;
  for (const a of extras.attachments || []) {
    d.files.push({ file: { name: a.name, size: a.size, type: a.mime }, progress: 1, result: a, error: null, preview: null, promise: Promise.resolve(a) });
  }
  drawReply(g);
  drawTray(g);
}
