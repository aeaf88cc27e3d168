// Shared client state and the one connection; app.js wires the connection's callbacks.
import { Conn } from "./conn.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";
import { browserStore } from "./browser_store.js";

const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";

export const S = {
  me: null,            // the `me` reply: user_id, username, display_name, id_verified, credit_level
  clockSkew: 0,        // the server's clock less this browser's, ms (see serverNow)
  token: browserStore.get("qg.token"),  // never put in a URL
  authed: false,
  groups: new Map(),   // group_id -> group state (see newGroup)
  current: null,       // the open group's id
  notices: [],
  unseen: 0,
  outbox: [],          // sends not yet stored, in the order sent (app.js: queued, sending, waiting, failed)
  mutesListed: false,  // the server lists each member's mute in `members` (it says muted_until in my_groups)
  names: new Map(),    // user_id -> display_name of everyone seen in a member list (bans and the log name ex-members)
  pastNames: new Map(), // user_id -> Set of the display names they had earlier in this page's life (rich.js: "@OldName" stays a mention)
  invites: new Map(),  // group_id -> invite links created in this page's life, with their codes (invite_links lists every link in force, without codes)
  pendingInvite: null, // an invite code from the URL (#join=CODE), used once logged in
  tab: "groups",       // what the sidebar shows: "groups" or "accounts"
  blacklistedText: null, // the reason of a `blacklisted` notice, shown on the login form once the server closes the page
};

// The server's default group and public-account categories (groups.categories,
// public_accounts.categories): what the forms offer until the server's own lists come (the
// `categories` op), and for good from a server without that op. A group's own category may be one
// neither list has: it is shown as it is and never replaced (manage.js).
export const GROUP_CATEGORIES = ["family", "friends", "work", "study", "interest", "business", "public_affairs", "other"];
export const ACCOUNT_CATEGORIES = ["news", "government", "education", "culture", "lifestyle", "business", "technology", "other"];

// The categories the forms offer: `from` is "builtin" until the server has answered `categories`.
export const CATEGORIES = { groups: GROUP_CATEGORIES, accounts: ACCOUNT_CATEGORIES, from: "builtin" };

// Ask the server which categories it accepts. Asked each time a form that offers them opens (the
// operator may change them with a reload); a refusal (a server without the op) or a dropped
// connection keeps what the forms had: the last answer, or the built-in lists.
export async function loadCategories() {
  try {
    const r = await api("categories");
    const ok = (xs) => Array.isArray(xs) && xs.length > 0 && xs.every((x) => typeof x === "string");
    if (ok(r.groups) && ok(r.accounts)) Object.assign(CATEGORIES, { groups: r.groups, accounts: r.accounts, from: "server" });
  } catch { /* the lists the forms have stand */ }
  return CATEGORIES;
}

// Fill a <select> with the categories of `kind` ("groups" or "accounts"), each named by `name`. The
// choice already made stays chosen if it is still offered, else `preferred`, else the first; `own`
// (a group's present category) is offered in any case. `data-from` says whose list it shows.
export function fillCategories(select, kind, name, { preferred = null, own = null } = {}) {
  const list = CATEGORIES[kind];
  const values = own && !list.includes(own) ? [own, ...list] : list;
  const chosen = [select.value, preferred, own].find((v) => v && values.includes(v)) || values[0];
  select.replaceChildren(...values.map((c) => el("option", { value: c, text: name(c), selected: c === chosen })));
  select.value = chosen;
  select.dataset.from = CATEGORIES.from;
  return select;
}

export const conn = new Conn(wsUrl, {});

// A refusal for want of the current platform rules and agreement, whatever op met it (a post, a new
// name, a pin...): the page offers the rules at once (app.js sets the hook: checkAgreement).
let onAgreementNeeded = () => {};
export function setAgreementHook(fn) { onAgreementNeeded = fn; }
export function api(op, args = {}) {
  return conn.request(op, args).catch((e) => {
    if (e && e.code === "forbidden" && e.reply && e.reply.agreement_version) onAgreementNeeded();
    throw e;
  });
}

// Waiting for the connection to be usable again (what a dropped connection interrupted, such as an
// upload, goes on then): whenAuthed() resolves true once the page is authenticated (at once if it
// is), false if the user logs out first. app.js calls authChanged at each auth and at logout.
let authWaiters = [];
export function whenAuthed() { return S.authed ? Promise.resolve(true) : new Promise((resolve) => authWaiters.push(resolve)); }
export function authChanged(on) {
  const waiting = authWaiters;
  authWaiters = [];
  for (const resolve of waiting) resolve(on);
}

export function newGroup(gid, name, role) {
  return {
    group_id: gid, name, role,
    info: null,                // group_info reply
    members: null,             // Map user_id -> user, once loaded
    mutes: new Map(),          // user_id -> until (ms), from member_muted events and refused sends
    msgs: new Map(),           // seq -> message
    lastSeq: 0, firstSeq: null, noMore: false, loadingOlder: false,
    resumeAfter: null,         // lastSeq when the connection dropped: the catch-up starts there
    cursor: null,              // [ext] message_changes' cursor, taken before this connection's pages were read
    readSeq: 0,                // the server's read position (my_groups, read_marker, our own mark_read)
    markTimer: null,           // our mark_read of readSeq, waiting 200 ms for the burst to end (kept.js keeps it)
    countedTo: 0,              // unread counts every message from others in (readSeq, countedTo]
    unread: 0, mentioned: false, preview: "", requests: 0, muteAll: false, suspendedUntil: 0, heldUntil: 0,
    synced: 0,                 // how many times my_groups set unread (a skipped span filled before then is in it)
    syncedAt: 0,               // when my_groups last set unread (Date.now()): a deletion just after reads it again
    pinned: [], slowMode: 0, slowUntil: 0,
    draft: null,               // the composer's reply, mentions and files (composer.js)
  };
}
// Public accounts (accounts.js, posts.js).
export const A = {
  subs: new Map(),        // account_id -> {account_id, name, status}: my_subscriptions
  mine: new Map(),        // account_id -> {account_id, name, role, status}: my_accounts (owner or editor)
  newPosts: new Map(),    // account_id -> Set of the post_ids announced by `post` events since the account was last opened
  newComments: new Map(), // account_id -> Map comment_id -> post_id: `comment` events (managers) not yet looked at
  view: null,             // the open account: { aid, info, posts, noMore, post } (post: the open post, or null)
  editors: new Map(),     // account_id -> Map user_id -> on, set in this page's life (the server lists no editors)
};
export function resetAccounts() {
  for (const m of [A.subs, A.mine, A.newPosts, A.newComments, A.editors]) m.clear();
  A.view = null;
}
// The caller's role on an account it may still run ("owner", "editor"), or null.
export function managerRole(aid) {
  const x = A.mine.get(aid);
  return x && x.status !== "closed" ? x.role : null;
}

// Names seen in member lists. A name that differs from the one seen before is a rename this page
// missed (it was away): the old one is kept as an earlier name, like a rename it saw (pastName).
export function remember(users) {
  for (const u of users) {
    if (!u || !u.user_id) continue;
    const old = S.names.get(u.user_id);
    if (old && old !== u.display_name) pastName(u.user_id, old);
    S.names.set(u.user_id, u.display_name);
  }
}

// User uid was called `name` before a rename: messages written then say "@name", and still mention them.
export function pastName(uid, name) {
  if (typeof name !== "string" || !name) return;
  if (!S.pastNames.has(uid)) S.pastNames.set(uid, new Set());
  S.pastNames.get(uid).add(name);
}

// Every name user uid is known by in this page: the current one (the group's member list, else any
// list seen, else our own) first, then the earlier ones.
export function namesOf(uid, g = null) {
  const u = g && g.members ? g.members.get(uid) : null;
  const now = u ? u.display_name : S.names.get(uid) || (S.me && S.me.user_id === uid ? S.me.display_name : null);
  const all = now ? [now] : [];
  for (const n of S.pastNames.get(uid) || []) if (n !== now) all.push(n);
  return all;
}

export function roleTag(role) {
  if (role !== "owner" && role !== "admin") return null;
  return el("span", { class: "tag tag-" + role, text: t("role_" + role) });
}
export function myMuteUntil(g) {
  const until = S.me ? g.mutes.get(S.me.user_id) || 0 : 0;
  return until > serverNow() ? until : 0;
}
// How long a text may be, in characters as the server counts them (Unicode code points: an emoji is
// one, though the browser's `maxlength` counts it as two). `me` tells the operator's
// `limits.max_text_chars` (learnLimits); until it has, and from a server that does not say, the
// default is assumed, and a server set lower answers `too_large`.
// `uploadTypes`: the file types the server takes (`me`'s **[ext]** `upload_types`), which the chat's
// file picker offers (its `accept`); empty until told, and from a server that does not say: any file.
export const LIMITS = { text: 4000, displayName: 32, uploadTypes: [] };

export function learnLimits(me) {
  if (me && Number.isInteger(me.max_text_chars) && me.max_text_chars > 0) LIMITS.text = me.max_text_chars;
  if (me && Array.isArray(me.upload_types) && me.upload_types.every((x) => typeof x === "string")) {
    LIMITS.uploadTypes = me.upload_types;
    const picker = document.getElementById("file-input");
    if (picker) picker.accept = me.upload_types.join(",");
  }
}

// Characters (code points) in s.
export function charCount(s) { return [...s].length; }

// The maxlength of a free-text field whose server limit is `chars` characters: the browser counts
// UTF-16 units (an emoji as two) and cuts silently, so it is given room for every character being
// one of those; a text over the server's count is refused by the server, in words, never cut here.
export function textRoom(chars) { return 2 * chars; }

// A display name's length as the server checks it (`register`, `set_profile`): NFC, then trimmed.
export function nameCount(s) { return charCount(s.normalize("NFC").trim()); }

export function newId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// The role I act in, in group g: an owner or admin whose management powers the platform suspended
// (`me`'s powers_suspended_until) acts as a member meanwhile (slowed, muted by mute-all, offered no
// management), as the server treats them (governance/posting.py: acting_role).
// What stops the user posting in `g` now (the platform's suspension, their mute, mute-all for a plain
// member): the composer closes, and reactions are not offered (the server refuses them alike).
export function postingBlocked(g) {
  return g.suspendedUntil > serverNow() || !!myMuteUntil(g) || (g.muteAll && actingRole(g) === "member");
}

export function actingRole(g) {
  const until = S.me ? S.me.powers_suspended_until || 0 : 0;
  return g.role !== "member" && until > serverNow() ? "member" : g.role;
}

// Now by the server's clock. Mutes, suspensions, slow mode's end, the edit window and signed links end
// at the server's times, and a browser's clock may be minutes off: by it, a member whose mute had ended
// found the composer closed for as long as the clock was slow, and one still muted found it open.
export function serverNow() { return Date.now() + S.clockSkew; }

// The skew, from a reply carrying the server's time ([ext] `me`'s server_time), taken at the middle of
// the round trip (sent and back: this browser's times around the request).
export function learnServerTime(serverTime, sent, back) {
  if (typeof serverTime === "number" && Number.isFinite(serverTime)) S.clockSkew = Math.round(serverTime - (sent + back) / 2);
}
