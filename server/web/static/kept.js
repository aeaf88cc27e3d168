// What this browser keeps of the user's own work between pages (localStorage, under the user's id,
// through browser_store.js): the messages not yet stored (the outbox, shared by the user's tabs),
// what is typed in each group's composer (the drafts), the read marks not sent yet, and the messages
// a logout the user did not choose left unsent; and what a logout forgets. The outbox itself,
// sending and drawing it, is app.js's; this module only keeps and gives back.
import { S } from "./state.js";
import { browserStore } from "./browser_store.js";
import { SEEN_PREFIX } from "./outcomes.js";
import { draft } from "./composer.js";

// What this browser keeps for the user logged in (the token, which messages they reacted to:
// "qg.react.USER.GROUP") is forgotten when they log out, so whoever uses the browser next finds
// none of it. Only the device's own settings stay, and when each user last looked at the outcome
// of their reports and appeals (outcomes.js: a time under a hash of the user id, no content).
const DEVICE_KEYS = new Set(["qg.lang"]);

export function forgetUser() {
  for (const k of browserStore.keys()) {
    if (k.startsWith("qg.") && !DEVICE_KEYS.has(k) && !k.startsWith(SEEN_PREFIX) && !keptUnsent(k)) browserStore.remove(k);
  }
}

// A logout the user did not choose here (the password changed, this login or every login ended on
// another page or device, a saved login that no longer works) keeps what they had not sent yet: the
// messages still waiting (this page's and those other pages of theirs saved), in this browser for a
// day under "qg.unsent.USER". The same user's next login here shows each one failed (send_logged_out),
// to send again, edit or discard; none is sent by itself (the login may have been ended because
// someone else holds this device). The login form says how many wait. A logout chosen here, and a
// cancelled or blacklisted account, forget them with the rest.
const UNSENT_PREFIX = "qg.unsent.";
const KEEP_UNSENT_MS = 24 * 3600 * 1000;

function readUnsent(key) {
  try {
    const kept = JSON.parse(browserStore.get(key) || "null");
    return kept && Number.isFinite(kept.at) && Array.isArray(kept.items) && Date.now() - kept.at < KEEP_UNSENT_MS ? kept : null;
  } catch { return null; }
}

// Whether browser key k holds messages kept at a forced logout that are still within their day.
function keptUnsent(k) { return k.startsWith(UNSENT_PREFIX) && readUnsent(k) !== null; }

// The user this browser's saved login is of ("qg.uid", beside the token): known before `me` answers,
// so a page reloaded with a login that no longer works keeps its user's messages too.
const UID_KEY = "qg.uid";
export function rememberUser() { if (S.me) browserStore.set(UID_KEY, S.me.user_id); }

// Kept before the rest is forgotten; how many messages wait for the user's next login here.
export function keepUnsent() {
  const uid = S.me ? S.me.user_id : browserStore.get(UID_KEY);
  if (!uid) return 0;
  const key = UNSENT_PREFIX + uid;
  const shared = sharedDone(uid);
  const items = [...((readUnsent(key) || {}).items || []), ...readSavedOutbox(outboxKey(uid)), ...S.outbox.map(savedForm)];
  const seen = new Set();
  const keep = items.filter((x) => x && typeof x === "object" && typeof x.cmid === "string" && typeof x.gid === "string"
    && (x.text || (Array.isArray(x.files) && x.files.length)) && !isDone(x.cmid, shared) && !seen.has(x.cmid) && seen.add(x.cmid));
  if (keep.length) browserStore.set(key, JSON.stringify({ at: Date.now(), items: keep })); else browserStore.remove(key);
  return keep.length;
}

// After a login: what a forced logout kept here comes back failed (once; the key goes).
export function restoreUnsent() {
  const key = UNSENT_PREFIX + S.me.user_id;
  const kept = readUnsent(key);
  browserStore.remove(key);
  if (!kept) return;
  for (const x of kept.items) {
    if (!x || typeof x !== "object" || typeof x.cmid !== "string" || typeof x.gid !== "string"
      || S.outbox.some((y) => y.cmid === x.cmid)) continue;
    // (one that had failed already keeps its reason: a refusal is not undone by the logout)
    S.outbox.push(outboxItem({ ...x, failed: x.failed || { key: "send_logged_out" } }, Date.now()));
  }
  saveOutbox();
}

// At a page's start: what forced logouts kept here past their day goes (whoever's it was).
export function dropStaleUnsent() {
  for (const k of browserStore.keys()) if (k.startsWith(UNSENT_PREFIX) && readUnsent(k) === null) browserStore.remove(k);
}

// A read mark not sent yet (markRead waits 200 ms for a burst to end): a page closed or reloaded
// meanwhile lost it, and the next start counted what had been read unread again. Kept here until its
// answer comes, under "qg.marks.USER" ({group id: seq}, forgotten at logout with the rest); the next
// start of this user in this browser sends what is still kept before it asks for its groups.
function marksKey() { return S.me ? "qg.marks." + S.me.user_id : null; }
export function keptMarks() {
  try {
    const kept = JSON.parse(browserStore.get(marksKey()) || "{}");
    return kept && typeof kept === "object" && !Array.isArray(kept) ? kept : {};
  } catch { return {}; }
}
function writeMarks(kept) {
  const key = marksKey();
  if (!key) return;
  if (Object.keys(kept).length) browserStore.set(key, JSON.stringify(kept)); else browserStore.remove(key);
}
export function keepMark(gid, seq) {
  const kept = keptMarks();
  if (!(Number(kept[gid]) >= seq)) { kept[gid] = seq; writeMarks(kept); }
}
// The server has the mark of `seq` (or refused it for good: the group gone): no longer kept, unless
// a later one waits.
export function markSent(gid, seq) {
  const kept = keptMarks();
  if (gid in kept && Number(kept[gid]) <= seq) { delete kept[gid]; writeMarks(kept); }
}

// What is typed in a group's composer and not sent (its draft) stays with the group: switching to
// another chat and back, or a reload, finds it there (kept in this browser under "qg.drafts.USER",
// one text per group, forgotten at logout with the rest), and the list shows it, 草稿, in place of
// the last message. Each page writes only the group typed in, so two tabs keep each other's.
// (The reply, mentions and files being written are kept with the group for the page's life.)
function draftsKey() { return S.me ? "qg.drafts." + S.me.user_id : null; }

function readDrafts(key) {
  try {
    const saved = JSON.parse((key && browserStore.get(key)) || "{}");
    return saved && typeof saved === "object" && !Array.isArray(saved) ? saved : {};
  } catch { return {}; }
}

// The drafts this browser kept for the user logged in, read once per login (the list is drawn often).
let draftsRead = { key: null, saved: {} };
function savedDrafts() {
  const key = draftsKey();
  if (draftsRead.key !== key) draftsRead = { key, saved: readDrafts(key) };
  return draftsRead.saved;
}

// Another tab wrote its drafts: read them again when next asked (a stale one could be sent twice).
window.addEventListener("storage", (e) => { if (e.key && e.key === draftsRead.key) draftsRead = { key: null, saved: {} }; });

export function typedFor(g) {
  if (!g) return "";
  if (g.draft && typeof g.draft.text === "string") return g.draft.text;
  const saved = savedDrafts()[g.group_id];
  return typeof saved === "string" ? saved : "";
}

export function keepTyped(g, text) {
  const had = typedFor(g).trim() !== "";
  draft(g).text = text;
  const key = draftsKey();
  if (key) {
    const saved = readDrafts(key);   // (as stored now: another tab's drafts stay)
    if (text.trim()) saved[g.group_id] = text; else delete saved[g.group_id];
    if (Object.keys(saved).length) browserStore.set(key, JSON.stringify(saved)); else browserStore.remove(key);
    draftsRead = { key, saved };
  }
  return had !== (text.trim() !== "");   // (草稿 in the list comes or goes: the caller draws the list)
}

// The outbox is kept in this browser too ("qg.outbox.USER", forgotten at logout like the rest), so
// a reload or a closed tab loses nothing typed: the next page of this user sends what is left again,
// each with its client_msg_id, so one stored just before the reload is answered with its first seq
// and not stored twice. An item is kept once its files are uploaded (its extras known); a message
// whose files were still uploading at the reload is lost with them. Failed ones stay failed; the
// names of files that could not be uploaded are kept (the files themselves cannot be): the next
// page shows the message failed, saying to attach them again (Edit).
function outboxKey(uid = S.me ? S.me.user_id : null) { return uid ? "qg.outbox." + uid : null; }

// Another tab of the same user keeps its own outbox under the same key: each tab writes its own
// items and leaves the others' as they are, dropping only the ids seen stored or discarded, by this
// tab (`outboxDone`) or by another one ("qg.outbox.USER.done", a day's ids): a tab that took in
// another's failed message at a reload neither writes it back once that tab discarded or sent it
// nor keeps showing it (the `storage` event below). A saved item is sent again automatically only within the day the server knows its
// client_msg_id (RESEND_WITHIN_MS): an older one comes back failed, for the user to check first, since
// the server would store it a second time if its first try was stored after all.
const RESEND_WITHIN_MS = 23 * 3600 * 1000;
const outboxDone = new Set();
const DONE_KEEP = 500;   // ids of the shared list at most (the oldest go first)

export function doneKey(uid = undefined) { const key = outboxKey(uid); return key ? key + ".done" : null; }

function doneElsewhere(uid = undefined) {
  const key = doneKey(uid);
  try {
    const rows = JSON.parse((key && browserStore.get(key)) || "[]");
    return Array.isArray(rows) ? rows.filter((r) => Array.isArray(r) && typeof r[0] === "string" && Number.isFinite(r[1])) : [];
  } catch { return []; }
}

function isDone(cmid, shared) { return outboxDone.has(cmid) || shared.has(cmid); }

export function sharedDone(uid = undefined) { return new Set(doneElsewhere(uid).map((r) => r[0])); }

// Stored or discarded: no tab keeps a copy of it.
export function markDone(cmid) {
  outboxDone.add(cmid);
  const key = doneKey();
  if (!key) return;
  const since = Date.now() - RESEND_WITHIN_MS;
  const rows = doneElsewhere().filter((r) => r[0] !== cmid && r[1] > since);
  rows.push([cmid, Date.now()]);
  browserStore.set(key, JSON.stringify(rows.slice(-DONE_KEEP)));
}

// The id is in use again (a failed message taken back with Edit and sent unchanged).
export function undone(cmid) {
  outboxDone.delete(cmid);
  const key = doneKey();
  const rows = doneElsewhere();
  if (key && rows.some((r) => r[0] === cmid)) browserStore.set(key, JSON.stringify(rows.filter((r) => r[0] !== cmid)));
}

function readSavedOutbox(key) {
  try {
    const saved = JSON.parse(browserStore.get(key) || "[]");
    return Array.isArray(saved) ? saved.filter((x) => x && typeof x.gid === "string" && typeof x.cmid === "string") : [];
  } catch { return []; }
}

// An outbox item as the browser keeps it. One whose files were still uploading (its extras not known
// yet) keeps their names as files to attach again.
function savedForm(x) {
  const unsent = x.extras === null ? x.files : x.unsent.map((f) => f.name);
  return { gid: x.gid, text: x.text, cmid: x.cmid, files: x.files, extras: x.extras || {}, at: x.at,
    failed: x.state === "failed" ? x.error : null, unsent: unsent.length ? unsent : undefined };
}

export function saveOutbox() {
  const key = outboxKey();
  if (!key) return;
  const mine = S.outbox.filter((x) => x.extras !== null).map(savedForm);
  const ours = new Set(S.outbox.map((x) => x.cmid));
  const shared = sharedDone();
  const others = readSavedOutbox(key).filter((x) => !ours.has(x.cmid) && !isDone(x.cmid, shared));
  const keep = [...others, ...mine.filter((x) => !shared.has(x.cmid))];
  // (storage full: dropped by browserStore.set; the page's own outbox still holds them)
  if (keep.length) browserStore.set(key, JSON.stringify(keep)); else browserStore.remove(key);
}

export function restoreOutbox() {
  const now = Date.now();
  const shared = sharedDone();
  for (const x of readSavedOutbox(outboxKey())) {
    if (S.outbox.some((y) => y.cmid === x.cmid) || isDone(x.cmid, shared)) continue;
    S.outbox.push(outboxItem(x, now));
  }
}

// The outbox item of a kept one (savedForm): failed as it was, or when kept too long to send by itself.
function outboxItem(x, now) {
  const at = Number.isFinite(x.at) ? x.at : 0;
  const stale = !x.failed && now - at > RESEND_WITHIN_MS;
  const unsent = (Array.isArray(x.unsent) ? x.unsent : []).filter((n) => typeof n === "string")
    .map((name) => ({ name, file: null, error: { key: "upload_attach_again" } }));
  const item = { gid: x.gid, text: String(x.text || ""), cmid: x.cmid, at,
    state: x.failed || stale ? "failed" : "queued", error: x.failed || (stale ? { key: "send_stale" } : null),
    files: Array.isArray(x.files) ? x.files : [], extras: x.extras || {}, unsent, retried: false, unsure: 0,
    timer: null, ready: Promise.resolve() };
  if (unsent.length) Object.assign(item, { state: "failed", error: { unsent: true } });
  return item;
}
