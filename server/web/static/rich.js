// Richer messages: text with @mentions marked, the quoted message of a reply, reactions,
// editing, the pinned-messages bar and search. Jumping to a message (from a quote, a pin or a
// search hit) loads older history as needed: app.js provides that as hooks.jumpTo.
import { el, clear, $, toast, modal, morphKids, dialogFor, composing } from "./dom.js";
import { t, errorText, fmtTime } from "./i18n.js";
import { S, api, LIMITS, charCount, namesOf, actingRole, postingBlocked } from "./state.js";
import { previewText } from "./media.js";
import { browserStore } from "./browser_store.js";

export const EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "👏"];
const MINE_KEEP = 300;   // reactions of one's own remembered per group on this device
let hooks = { jumpTo: async () => {} };
export function setRichHooks(h) { hooks = h; }

// ---------------------------------------------------------------- text with mentions
export function mentionsMe(m) {
  if (!S.me || !m.sender || m.sender.user_id === S.me.user_id) return false;
  return !!m.mention_all || (m.mentions || []).includes(S.me.user_id);
}

// The message text as text nodes, each "@name" of a mentioned member (or @所有人) in a span. A
// mention is found by the ids in `mentions`: the name the text says may be one the member had
// when it was written, before a rename (namesOf: the earlier names this page has seen), and is
// marked all the same, with the member's name now as its title. A member renamed before this page
// saw their old name is not found so: the message carries their id but neither the name it wrote
// nor where (docs/protocol.md), so the "@word"s no name explains stand for them (unnamedMentions).
// How "@all" is written: in the reader's language, and in Chinese as most messages write it.
const allLabels = () => [t("mention_all_name"), "所有人"];

export function textNode(g, m) {
  const names = [];
  for (const uid of m.mentions || []) {
    const known = namesOf(uid, g);
    for (const name of known) names.push({ name: "@" + name, uid, now: known[0], me: !!S.me && uid === S.me.user_id });
  }
  if (m.mention_all) for (const label of new Set(allLabels())) names.push({ name: "@" + label, me: true });
  const text = m.text || "";
  const hits = [];   // {at, name (as the text says it), uid, now, me}, by position
  for (let i = 0; i < text.length;) {
    const hit = text[i] === "@" ? names.filter((n) => text.startsWith(n.name, i)).sort((a, b) => b.name.length - a.name.length)[0] : null;
    if (hit) { hits.push({ ...hit, at: i }); i += hit.name.length; } else i++;
  }
  const found = new Set(hits.map((h) => h.uid));
  const unfound = (m.mentions || []).filter((uid) => !found.has(uid));
  if (unfound.length) {
    const words = unnamedMentions(g, m, text, hits);
    if (words.length === unfound.length) {
      words.forEach((w, k) => {
        const uid = unfound[k];
        hits.push({ ...w, uid, now: namesOf(uid, g)[0] || null, me: !!S.me && uid === S.me.user_id });
      });
      hits.sort((a, b) => a.at - b.at);
    }
  }
  const node = el("div", { class: "text" });
  let i = 0;
  for (const hit of hits) {
    if (hit.at > i) appendLinked(node, text.slice(i, hit.at));
    node.append(el("span", { class: "mention" + (hit.me ? " me" : ""), "data-uid": hit.uid || null,
      title: hit.uid && hit.now && hit.name !== "@" + hit.now ? "@" + hit.now : null, text: hit.name }));
    i = hit.at + hit.name.length;
  }
  if (i < text.length) appendLinked(node, text.slice(i));
  return node;
}

// Web addresses in a message are links a finger can follow (http and https only, opened apart from
// the chat, telling the site nothing of it); an address ends at a space, a quote, an angle bracket or
// Chinese punctuation, and a full stop, comma or closing bracket at its very end is left out of it.
const URL_IN_TEXT = /https?:\/\/[^\s<>"'\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]+/g;
function appendLinked(node, text) {
  let at = 0;
  for (const found of text.matchAll(URL_IN_TEXT)) {
    const url = found[0].replace(/[.,;:!?)\]}'"]+$/, "");
    if (url.length < 12) continue;   // ("http://x" and the like: not worth a link)
    if (found.index > at) node.append(text.slice(at, found.index));
    node.append(el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow ugc", class: "msg-link", text: url }));
    at = found.index + url.length;
  }
  if (at < text.length) node.append(text.slice(at));
}

// The "@word"s of the text that may be mentions written with a name this page never knew: each
// begins a word, runs to the next space, comma or full-width punctuation mark (less a closing
// punctuation mark at its end: "@Bob." or "@Bob)"), is not already a hit,
// and is not the whole "@name" of a member this message does not mention, nor @所有人. A name with
// a space in it is so marked up to its space only. textNode takes them, in the order of the text,
// for the mentioned ids it did not find, in the order of `mentions` (the order they were picked,
// which is the text's but when picked out of order), and only when there are as many of each.
const CLOSING = /[,.:;!?)\]}，。：；！？、）」』]+$/u;
function unnamedMentions(g, m, text, hits) {
  const plain = [...allLabels(), "all"];
  if (g.members) for (const u of g.members.values()) if (!(m.mentions || []).includes(u.user_id)) plain.push(u.display_name);
  const words = [];
  for (const x of text.matchAll(/(^|\s)(@[^\s@,;，。、；：！？（）「」『』【】]+)/gu)) {
    const at = x.index + x[1].length;
    if (hits.some((h) => at >= h.at && at < h.at + h.name.length)) continue;
    const word = x[2].replace(CLOSING, "") || x[2];
    const chars = [...word].length - 1;
    if (chars < 1 || chars > LIMITS.displayName) continue;
    if (plain.some((n) => n && text.startsWith("@" + n, at) && n.length + 1 >= word.length)) continue;
    words.push({ at, name: word });
  }
  return words;
}

// The mentions of the messages drawn in the open chat, marked again where what is known of the
// names changed (the member list came after the messages were drawn): only their text is redrawn.
export function redrawMentions(g) {
  const chat = document.getElementById("chat");
  if (!chat || chat.dataset.gid !== g.group_id) return;
  for (const m of g.msgs.values()) {
    if (m.deleted || !m.text || !(m.mentions || []).length) continue;
    const old = chat.querySelector(`#messages .msg[data-seq="${m.seq}"] .body > .text`);
    if (!old) continue;
    const node = textNode(g, m);
    if (!node.isEqualNode(old)) old.replaceWith(node);
  }
}

// ---------------------------------------------------------------- replies
// The quoted message: held, fetched before, or fetched now (the quote fills in when it comes).
export function quoteNode(g, m) {
  if (!m.reply_to) return null;
  const seq = m.reply_to;
  const node = el("button", { type: "button", class: "reply-quote", "data-quote": seq, onclick: () => hooks.jumpTo(g, seq) });
  fillQuote(node, quotedOf(g, seq));
  if (!quotedOf(g, seq)) fetchQuoted(g, seq);
  return node;
}

function quotedOf(g, seq) { return g.msgs.get(seq) || (g.quoted && g.quoted.get(seq)) || null; }

function fillQuote(node, q) {
  clear(node);
  if (!q) { node.append(el("span", { class: "muted", text: "…" })); return; }
  if (q.unavailable) { node.append(el("span", { class: "muted quote-text", text: t("quote_unavailable") })); return; }
  node.append(el("strong", { text: (q.sender ? q.sender.display_name : t("unknown_user")) + t("colon") }),
    el("span", { class: "quote-text", text: previewText(q) }));
}

function quotePreview(q) { return q.unavailable ? t("quote_unavailable") : previewText(q); }

// One request per quoted seq at a time; resolves when it is known (or could not be fetched).
// `history` answers for the messages the reader may see, a deleted one included (as
// `{deleted: true}`): that one is shown as deleted. A quoted message it does not return at all
// the reader cannot see: sent before they joined (history starts at their join point), or gone
// past retention. The message event tells nothing more (its `reply_to` is the seq alone), so
// such a quote says "not available", never "deleted".
function fetchQuoted(g, seq) {
  if (!g.quoted) { g.quoted = new Map(); g.quoting = new Map(); }
  if (g.quoted.has(seq)) return Promise.resolve();
  if (g.quoting.has(seq)) return g.quoting.get(seq);
  if (!S.authed) return Promise.resolve();
  const asked = g.quotedEpoch || 0;
  const p = api("history", { group_id: g.group_id, before_seq: seq + 1, limit: 1 }).then((r) => {
    if ((g.quotedEpoch || 0) !== asked) return;   // the copies were let go meanwhile (a reconnect): a newer read follows
    let q = r.messages.find((x) => x.seq === seq) || { seq, unavailable: true };
    // An edit or recall whose event came while this read was out: the answer may be from before it.
    const late = g.quoteLate && g.quoteLate.get(seq);
    if (late && !q.unavailable) q = late.deleted ? { seq, ts: q.ts, sender: q.sender, deleted: true, deleted_by: late.deleted_by } : { ...q, ...late };
    if (!g.msgs.has(seq)) g.quoted.set(seq, q);
    for (const node of quoteNodes(g, seq)) fillQuote(node, quotedOf(g, seq));
  }).catch(() => {}).finally(() => {
    if (g.quoting.get(seq) === p) { g.quoting.delete(seq); if (g.quoteLate) g.quoteLate.delete(seq); }
  });
  g.quoting.set(seq, p);
  return p;
}

// The quotes of message seq drawn in the open chat, when it is g's (seqs are per group).
function quoteNodes(g, seq) {
  const chat = document.getElementById("chat");
  if (!chat || chat.dataset.gid !== g.group_id) return [];
  return chat.querySelectorAll(`.reply-quote[data-quote="${seq}"]`);
}

// Message seq changed (edited, recalled): the copy kept for quotes follows, and so does every quote
// of it already drawn (they show the message the page holds, else the copy). `change` is the event's
// news: {deleted: true, deleted_by} or {text, edited_at}.
export function quoteChanged(g, seq, change) {
  if (g.quoting && g.quoting.has(seq) && (change.deleted || "text" in change)) {   // (see fetchQuoted)
    if (!g.quoteLate) g.quoteLate = new Map();
    g.quoteLate.set(seq, { ...(g.quoteLate.get(seq) || {}), ...change });
  }
  if (g.quoted && g.quoted.has(seq)) {
    const old = g.quoted.get(seq);
    g.quoted.set(seq, change.deleted ? { seq, ts: old.ts, sender: old.sender, deleted: true, deleted_by: change.deleted_by } : { ...old, ...change });
  }
  const q = quotedOf(g, seq);
  for (const node of quoteNodes(g, seq)) fillQuote(node, q);
}

// After a reconnect every copy kept for quotes may be stale: let them go (redrawQuotes reads again).
export function forgetAllQuoted(g) {
  if (g.quoted) { g.quoted.clear(); g.quoting.clear(); }
  if (g.quoteLate) g.quoteLate.clear();
  g.quotedEpoch = (g.quotedEpoch || 0) + 1;
}

// Redraw every quote in the open chat from what the page now holds; quoted messages it does not
// hold are read again (one request per quoted seq).
export function redrawQuotes(g) {
  const chat = document.getElementById("chat");
  if (!chat || chat.dataset.gid !== g.group_id) return;
  const seqs = new Set([...chat.querySelectorAll(".reply-quote[data-quote]")].map((n) => Number(n.dataset.quote)));
  for (const seq of seqs) {
    const q = quotedOf(g, seq);
    for (const node of quoteNodes(g, seq)) fillQuote(node, q);
    if (!q) fetchQuoted(g, seq);
  }
}

// ---------------------------------------------------------------- reactions
function mineKey(g) { return "qg.react." + (S.me ? S.me.user_id : "") + "." + g.group_id; }

function mine(g) {
  if (!g.myReactions) {
    let saved = {};
    try { saved = JSON.parse(browserStore.get(mineKey(g)) || "{}"); } catch { saved = {}; }
    g.myReactions = new Map(Object.entries(saved).map(([seq, list]) => [Number(seq), new Set(list)]));
  }
  return g.myReactions;
}

function setMine(g, seq, emoji, on) {
  const all = mine(g);
  const set = all.get(seq) || new Set();
  if (on) set.add(emoji); else set.delete(emoji);
  if (set.size) all.set(seq, set); else all.delete(seq);
  saveMine(g);
}

function saveMine(g) {
  const all = mine(g);
  const keep = [...all.keys()].sort((a, b) => b - a).slice(0, MINE_KEEP);
  browserStore.set(mineKey(g), JSON.stringify(Object.fromEntries(keep.map((s) => [s, [...all.get(s)]]))));
}

// A history copy of a message says which of its reactions are the reader's own (my_reactions, left
// from any device): what this browser remembered of that message gives way to it, and a message
// the page shows is drawn again when that changed its chips.
export function learnMine(g, m) {
  if (m.deleted) return;
  const now = new Set(m.my_reactions || []);
  const all = mine(g);
  const had = all.get(m.seq) || new Set();
  if (now.size === had.size && [...now].every((e) => had.has(e))) return;
  if (now.size) all.set(m.seq, now); else all.delete(m.seq);
  saveMine(g);
  if (g.msgs && g.msgs.has(m.seq) && hooks.redraw) hooks.redraw(g, m.seq);
}

export function reactedByMe(g, seq, emoji) { const s = mine(g).get(seq); return !!s && s.has(emoji); }

export async function toggleReaction(g, seq, emoji) {
  if (postingBlocked(g)) { toast(t("react_blocked"), "error"); return; }   // (a chip pressed while muted)
  const on = !reactedByMe(g, seq, emoji);
  try {
    await api("react", { group_id: g.group_id, seq, emoji, on });
    setMine(g, seq, emoji, on);   // the counts change with the reaction event everyone gets
    // Drawn again at once: a reaction left on another device before this browser knew it as ours
    // changes nothing on the server (no event), and the click still shows it ours now.
    if (hooks.redraw) hooks.redraw(g, seq);
  } catch (e) { toast(errorText(e), "error"); }
}

// A reaction event: the count changes; one's own (from another device too) is remembered.
export function applyReaction(g, ev) {
  if (S.me && ev.user_id === S.me.user_id) setMine(g, ev.seq, ev.emoji, ev.on);
  const m = g.msgs.get(ev.seq);
  if (!m) return null;
  // (no prototype: a reaction may be any short text, "toString" or "__proto__" too)
  const counts = Object.assign(Object.create(null), m.reactions || {});
  counts[ev.emoji] = Math.max(0, (Object.hasOwn(counts, ev.emoji) ? counts[ev.emoji] : 0) + (ev.on ? 1 : -1));
  if (counts[ev.emoji] === 0) delete counts[ev.emoji];
  return { ...m, reactions: Object.keys(counts).length ? counts : undefined };
}

export function reactionsNode(g, m) {
  const entries = Object.entries(m.reactions || {}).filter(([, n]) => n > 0);
  if (m.deleted || entries.length === 0) return null;
  return el("div", { class: "reactions" }, entries.map(([emoji, n]) => el("button", {
    type: "button", class: "reaction" + (reactedByMe(g, m.seq, emoji) ? " mine" : ""), "data-emoji": emoji,
    "aria-pressed": reactedByMe(g, m.seq, emoji) ? "true" : "false", title: t("react_toggle"),
    onclick: () => toggleReaction(g, m.seq, emoji) }, el("span", { text: emoji }), el("span", { class: "count", text: String(n) }))));
}

export function emojiRow(g, m, after) {
  // (muted, mute-all, the group suspended: a reaction would be refused as a message is, so none is offered)
  if (postingBlocked(g)) return el("p", { class: "muted small", id: "emoji-row-blocked", text: t("react_blocked") });
  return el("div", { class: "row wrap emoji-row", id: "emoji-row" }, EMOJI.map((e) => el("button", {
    type: "button", class: "emoji" + (reactedByMe(g, m.seq, e) ? " mine" : ""), "data-emoji": e, text: e,
    "aria-pressed": reactedByMe(g, m.seq, e) ? "true" : "false",   // (pressing one already given takes it back)
    onclick: () => { after(); toggleReaction(g, m.seq, e); } })));
}

// ---------------------------------------------------------------- editing
// No maxlength: it cut pasted text silently, and counted an emoji as two (UTF-16 units). The
// server's limit is `limits.max_text_chars` characters (code points), which `me` tells (LIMITS):
// a text over it is said in the dialog before anything is sent, and stays there to shorten.

// The message being edited here, while its dialog is open: an edit or a recall of it made meanwhile
// on another device (or by a manager) reaches the dialog (editChanged).
let editing = null;

export function editDialog(g, m) {
  dialogFor(g.group_id);
  const mine = { gid: g.group_id, seq: m.seq, base: m.text || "", box: null, done: null };
  editing = mine;
  modal(t("edit"), (done) => {
    const msg = el("p", { class: "form-msg", id: "edit-msg", role: "alert" });
    // Enter saves and Shift+Enter starts a new line, as in the composer.
    const box = el("textarea", { id: "edit-text", "aria-label": t("edit"), rows: 4, value: m.text || "",
      onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !composing(e)) { e.preventDefault(); form.requestSubmit(); } } });
    mine.box = box; mine.done = done;
    const form = el("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      const text = box.value;
      if (text === mine.base) { done(); return; }
      // A text left blank is a caption taken off a message with files; one without files would show
      // nothing: said here (recalling it is the way to take it back), not closed as if saved.
      if (!text.trim() && !(m.attachments || []).length) {
        msg.textContent = t("edit_empty");
        msg.className = "form-msg error";
        return;
      }
      const n = charCount(text);
      if (n > LIMITS.text) {
        msg.textContent = t("edit_too_long", { n, max: LIMITS.text });
        msg.className = "form-msg error";
        return;
      }
      try { await api("edit_message", { group_id: g.group_id, seq: m.seq, text }); done(); }
      catch (err) {
        msg.textContent = errorText(err);
        msg.className = "form-msg error";
      }
    } }, box, msg, el("div", { class: "row end" }, el("button", { type: "submit", class: "primary", id: "edit-save", text: t("save") })));
    return form;
  }).then(() => { if (editing === mine) editing = null; });
}

// Message seq of g changed elsewhere while its edit dialog is open: recalled or deleted, the dialog
// closes (its save could only be refused); edited, the text shown becomes the new one unless the
// user has already changed it (then theirs stays, to save over it or not).
export function editChanged(g, seq, change) {
  const e = editing;
  if (!e || e.gid !== g.group_id || e.seq !== seq || !e.done) return;
  if (change.deleted) { e.done(null); return; }
  if (typeof change.text !== "string") return;
  if (e.box.value === e.base) e.box.value = change.text;
  e.base = change.text;
}

// ---------------------------------------------------------------- pinned messages
export function drawPinBar(g) {
  const bar = $("#pin-bar");
  if (!bar) return;
  // In place (morph), as the chat head: a press on the bar spans its redraws.
  const pins = g.pinned || [];
  bar.hidden = pins.length === 0;
  if (!pins.length) { morphKids(bar, []); return; }
  const latest = pins[pins.length - 1];
  const q = quotedOf(g, latest);
  if (!q) fetchQuoted(g, latest).then(() => { if (S.current === g.group_id && quotedOf(g, latest)) drawPinBar(g); });
  morphKids(bar, [
    el("button", { type: "button", class: "pin-main grow clip", id: "pin-open", onclick: () => (pins.length === 1 ? hooks.jumpTo(g, latest) : openPins(g)) },
      el("img", { class: "pin-ico", src: "/pin.svg", alt: "" }),
      el("strong", { text: pins.length > 1 ? t("pinned_n", { n: pins.length }) : t("pinned") }),
      el("span", { class: "pin-text", text: " " + (q ? quotePreview(q) : "…") })),
    ...(pins.length > 1 ? [el("button", { type: "button", class: "link small", id: "pin-all", text: t("all"), onclick: () => openPins(g) })] : [])]);
}

export async function setPinned(g, seq, on) {
  try { await api("pin_message", { group_id: g.group_id, seq, on }); toast(on ? t("pin_done") : t("unpin_done")); }
  catch (e) { toast(errorText(e), "error"); }
}

export function openPins(g) {
  const pins = [...(g.pinned || [])].reverse();
  Promise.all(pins.filter((s) => !quotedOf(g, s)).map((s) => fetchQuoted(g, s))).then(() => {
    dialogFor(g.group_id);
    modal(t("pinned"), (done) => el("ul", { class: "hits", id: "pin-list" }, pins.map((seq) => pinItem(g, seq, done))),
      { id: "pins-dialog" });
  });
}

// One pinned message in the list: it opens the message; a manager (as the user acts now) may unpin it.
function pinItem(g, seq, done) {
  const q = quotedOf(g, seq);
  return el("li", { class: "hit pin-item", "data-seq": seq },
    el("button", { type: "button", class: "hit-main grow", onclick: () => { done(); hooks.jumpTo(g, seq); } },
      el("div", { class: "meta" }, el("span", { class: "who", text: q && q.sender ? q.sender.display_name : "" }),
        q && q.ts ? el("time", { text: fmtTime(q.ts) }) : null),
      el("div", { class: "clip", text: q ? quotePreview(q) : "" })),
    actingRole(g) !== "member" ? el("button", { type: "button", class: "small act-unpin", text: t("unpin"),
      onclick: () => { done(); setPinned(g, seq, false); } }) : null);
}

// ---------------------------------------------------------------- search
export function openSearch(g) {
  dialogFor(g.group_id);
  modal(t("search"), () => {
    const input = el("input", { id: "search-input", "aria-label": t("search"), type: "search", maxlength: 100, placeholder: t("search_hint"), required: true });
    const list = el("ul", { class: "hits", id: "search-results" });
    const msg = el("p", { class: "form-msg", role: "status" });
    const more = el("button", { type: "button", class: "link", id: "search-more", hidden: true, text: t("load_more") });
    let last = null;
    let query = "";
    let asking = 0;  // the latest search: an older one's late answer is dropped
    const run = async (before) => {
      const args = { group_id: g.group_id, query, limit: 20 };
      if (before) args.before_seq = before;
      const mine = ++asking;
      try {
        const r = await api("search", args);
        if (mine !== asking) return;
        if (!before) clear(list);
        for (const m of r.messages) list.append(hitNode(g, m));
        last = r.messages.length ? r.messages[r.messages.length - 1].seq : null;
        more.hidden = r.messages.length < 20;
        // (said, as the status it is: a screen reader heard nothing when hits came)
        msg.textContent = list.childElementCount ? t("search_found", { n: list.childElementCount }) : t("no_results");
        msg.className = "form-msg";
      } catch (e) { if (mine === asking) { msg.textContent = errorText(e); msg.className = "form-msg error"; } }
    };
    more.addEventListener("click", () => { if (last) run(last); });
    setTimeout(() => input.focus(), 0);
    return [el("form", { class: "row", onsubmit: (e) => {
      e.preventDefault();
      const asked = input.value.trim();
      if ([...asked].length < 2) {  // the results of the last search go: they do not answer this one
        clear(list); more.hidden = true; last = null; asking++;
        msg.textContent = t("search_short"); msg.className = "form-msg error"; return;
      }
      query = asked;
      run(null);
    } }, input, el("button", { type: "submit", class: "primary", id: "search-go", text: t("search") })), msg, list, more];
  }, { id: "search-dialog" });
}

// Message seq of g changed (edited, recalled) while a list of g's messages is open (search hits, the
// pinned messages): a recalled hit leaves the search results (its text no longer matches, and it was
// still there to read), a pinned one shows what it is now, as the pin bar does.
export function hitsChanged(g, seq) {
  const m = quotedOf(g, seq);
  if (!m) return;
  for (const li of document.querySelectorAll(`dialog[data-gid="${CSS.escape(g.group_id)}"] li.hit[data-seq="${seq}"]`)) {
    if (li.classList.contains("search-hit") && m.deleted) { li.remove(); continue; }
    const text = li.querySelector(".hit-text, .hit-main > div.clip");
    if (text) text.textContent = li.classList.contains("pin-item") ? quotePreview(m) : previewText(m);
  }
}

// g's pinned messages changed (group_updated): an open list of them keeps only those still pinned,
// and closes when none is left.
// The pinned list, open, follows the group: a pin made or taken away meanwhile, and the user's role
// (unpin is a manager's: a demotion, or the platform suspending their powers, takes the buttons away).
export function pinsChanged(g) {
  const open = () => document.querySelector(`dialog[data-gid="${CSS.escape(g.group_id)}"] #pin-list`);
  if (!open()) return;
  const pins = [...(g.pinned || [])].reverse();
  if (!pins.length) { open().closest("dialog").close(); return; }
  Promise.all(pins.filter((s) => !quotedOf(g, s)).map((s) => fetchQuoted(g, s))).then(() => {
    const list = open();
    if (!list) return;
    const dialog = list.closest("dialog");
    const now = [...(g.pinned || [])].reverse();   // (as it is once the texts came)
    if (!now.length) { dialog.close(); return; }
    list.replaceChildren(...now.map((seq) => pinItem(g, seq, () => dialog.close())));
  });
}

function hitNode(g, m) {
  return el("li", { class: "hit search-hit", "data-seq": m.seq },
    el("button", { type: "button", class: "hit-main grow", onclick: () => {
      const d = document.getElementById("search-dialog"); if (d) d.close();
      hooks.jumpTo(g, m.seq);
    } }, el("div", { class: "meta" }, el("span", { class: "who", text: m.sender ? m.sender.display_name : "" }),
      el("time", { text: fmtTime(m.ts) })),
    el("div", { class: "hit-text", text: previewText(m) })));
}
