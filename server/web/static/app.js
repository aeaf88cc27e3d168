// qunguan web client: login and registration, groups, live chat with resume, read state, notices.
// Management lives in manage.js and moderation.js, replies/reactions/pins/search in rich.js, the
// composer's extras in composer.js, files in media.js, public accounts in accounts.js and posts.js.
// Every piece of user data is rendered as text (dom.js).
import { el, clear, $, toast, modal, confirmBox, morph, morphKids, closeDialogsOf, keepingFocus, composing, onLongPress, announceArrival, typingFocusWelcome, announce, focusIfIdle } from "./dom.js";
import { t, errorText, keptError, keptText, setLang, getLang, fmtTime, catName } from "./i18n.js";
import { S, conn, api, setAgreementHook, authChanged, newGroup, roleTag, myMuteUntil, newId, remember, pastName, namesOf, resetAccounts, loadCategories, fillCategories, LIMITS, charCount, nameCount, learnLimits, actingRole, textRoom, postingBlocked, serverNow, learnServerTime, managerRole } from "./state.js";
import { openManage, refreshManage, redrawAtMuteEnds, managersEvent, messageActions, setHooks, appealDialog, learnSuspension, forgetSuspension, settingsChangeText, powersSuspendedUntil } from "./manage.js";
import { attachmentsNode, deletedText, previewText, upload } from "./media.js";
import { textNode, quoteNode, reactionsNode, applyReaction, learnMine, mentionsMe, drawPinBar, openSearch, setRichHooks, quoteChanged, editChanged, hitsChanged, pinsChanged, forgetAllQuoted, redrawQuotes, redrawMentions } from "./rich.js";
import { draft, drawReply, drawTray, filePicker, attachMentionPicker, hasFiles, takeExtras, restoreDraft, addFile, MEMBERS_CAME } from "./composer.js";
import { fmtSeconds, forgetInviteImages } from "./moderation.js";
import { browserStore } from "./browser_store.js";
import { appealKey, checkOutcomes, markOutcomesSeen, markPlatformNoticeSeen, markSanctionsSeen, openMyReports, platformNoticesDue } from "./outcomes.js";
import { forgetUser, keepUnsent, restoreUnsent, dropStaleUnsent, rememberUser, typedFor, keepTyped as keepDraft, doneKey, sharedDone, markDone, undone, saveOutbox, restoreOutbox, keepMark, keptMarks, markSent } from "./kept.js";
import { loadHeld, onHeldSettled, heldBox, heldAccountsBox, onHeldChange, forgetHeld } from "./held.js";
import { accountsSide, drawAccounts, renderPane, syncAccounts, onPostEvent, onPostDeleted, onPostComments, onCommentEvent, onCommentDeleted, onEditorChanged, commenterRenamed, onAccountUpdated, accountsShown, accountNotice, setAccountHooks, said, accountFromHistory } from "./accounts.js";
import { accountEntry } from "./posts.js";

const PAGE = 50;
let statusKey = "offline";
let keepBottom = true;   // the reader of the open chat is at its bottom (as of their last scroll): kept there

// ------------------------------------------------------------------ boot
// A group's counts changed (its waiting join requests): its badge in the list, and its head if open.
function showCounts(g) {
  renderGroups();
  if (g.group_id === S.current) renderChatHead();
}

function boot() {
  dropStaleUnsent();
  conn.onOpen = onOpen;
  conn.onEvent = onEvent;
  conn.onClose = onClose;
  setHooks({ dropGroup, reload: syncGroups, suspended: (g) => { if (g.group_id === S.current) updateComposer(); },
    counted: showCounts });
  setRichHooks({ jumpTo, redraw: (g, seq) => { const m = g.msgs.get(seq); if (m) replaceMessage(g, m); } });
  setAccountHooks({ openProfile });
  setAgreementHook(checkAgreement);
  takeInviteFromUrl();
  window.addEventListener("hashchange", takeInviteFromUrl);
  // (a reload opens no chat: the entry a chat left is the list's again; replaced, not gone back
  // from: the entry before it was the document's before the reload, which Back would load again)
  try { if (chatEntry() || accountEntry()) history.replaceState(null, ""); } catch { /* as below */ }
  window.addEventListener("popstate", () => { chatFromHistory(); accountFromHistory(); });
  if (S.token) { conn.keep = true; setStatus("connecting"); renderMain(); conn.connect().catch(() => {}); }
  else renderLogin("login");
  document.addEventListener("visibilitychange", () => { const g = cur(); if (g && !document.hidden && nearBottom()) markRead(g); });
}

// An invite link is the app's URL with #join=CODE: the code is taken out of the address bar at
// once (so it is not bookmarked or shared further by accident) and, once we are logged in, the user
// is asked before it is used: a link opened by mistake, or planted in a page, joins nobody to a group.
function takeInviteFromUrl() {
  const m = /^#join=([^&#]{1,256})$/.exec(location.hash);
  if (!m) return;
  try { S.pendingInvite = decodeURIComponent(m[1]); } catch { return; }
  history.replaceState(null, "", location.pathname + location.search);
  if (S.authed) useInvite();
  else showInviteHint();
}

function showInviteHint() {
  const card = $(".login-wrap .card");
  if (card && S.pendingInvite && !$("#invite-hint")) card.before(el("p", { id: "invite-hint", class: "form-msg ok center", text: t("invite_after_login") }));
}

async function useInvite() {
  const code = S.pendingInvite;
  S.pendingInvite = null;
  if (!code) return;
  // What the link would join, named before the user says yes (a planted link must not join anyone
  // to a group they never saw described); an older server without invite_info: the question alone.
  let info = null;
  try { info = await api("invite_info", { invite_code: code }); } catch (e) {
    if (e.code === "disconnected") { S.pendingInvite = code; return; }   // asked again after the reconnect
    if (e.code !== "unknown_op") {
      notice(later("invite_failed", { reason: e.code === "not_found" ? t("invite_unusable") : errorText(e) }), null, "error");
      return;
    }
  }
  if (info && info.member && S.groups.has(info.group_id)) { openGroup(info.group_id); return; }   // already in it
  const yes = await modal(t("invite_confirm_title"), (done) => [
    el("p", { id: "invite-what", text: info ? t("invite_confirm_named", { name: info.name, n: info.member_count, category: catName(info.category) })
      : t("invite_confirm") }),
    el("div", { class: "row end" },
      el("button", { type: "button", class: "ghost", id: "invite-cancel", text: t("cancel"), onclick: () => done(false) }),
      el("button", { type: "button", class: "primary", id: "invite-join", text: t("join"), onclick: () => done(true) })),
  ], { id: "invite-confirm" });
  if (yes !== true) return;
  if (!S.authed) { S.pendingInvite = code; return; }   // asked again after the reconnect
  try {
    const r = await api("join_group", { invite_code: code });
    if (r.status === "pending") { toast(t("n_join_pending")); return; }
    await syncGroups();
    if (r.group_id && S.groups.has(r.group_id)) { openGroup(r.group_id); toast(t("n_joined", { group: gname(r.group_id) })); }
  } catch (e) {
    // not_found: the code is unknown, used up, expired or revoked (the server says no more), not a group
    notice(later("invite_failed", { reason: e.code === "not_found" ? t("invite_unusable") : errorText(e) }), null, "error");
  }
}

function cur() { return S.current ? S.groups.get(S.current) : null; }

function setStatus(key) {
  statusKey = key;
  document.body.dataset.status = key;
  document.body.dataset.statusText = t(key);   // (the banner at phone width, where the sidebar is hidden)
  const node = $("#status");
  const changed = !node || node.className !== "status status-" + key;
  if (node) { node.textContent = t(key); node.className = "status status-" + key; }
  // Where the sidebar with its status is hidden (a phone showing a chat), the banner drawn in its
  // place is no live region: a screen reader hears the change from here instead.
  if (changed && S.me && (!node || node.offsetParent === null)) announce(t(key));
}

function langButton() {
  return el("button", { type: "button", class: "ghost small", id: "lang-btn", text: t("lang_switch"),
    lang: getLang() === "en" ? "zh-CN" : "en",   // (its words are in the language it switches to)
    onclick: () => {
      setLang(getLang() === "en" ? "zh-CN" : "en");
      if (S.me) {
        // (the chat's place and what is typed in the account pane outlive the redraw)
        const s = $("#scroller"), place = s && !nearBottom() ? s.scrollTop : null;
        const kept = [...document.querySelectorAll("#account-pane [data-keep][id]")].map((x) => [x.id, x.value]);
        renderMain(); setStatus(statusKey);
        for (const [id, value] of kept) { const x = document.getElementById(id); if (x) x.value = value; }
        const again = $("#scroller"); if (again && place !== null) { again.scrollTop = place; keepBottom = nearBottom(); }
      } else {
        // The form is drawn again in the other language with what was typed in it (a password too:
        // it never leaves the page), and where the focus was.
        const typed = [...document.querySelectorAll("#app form input[id]")].map((x) => [x.id, x.value]);
        renderLogin(document.body.dataset.form || "login");
        for (const [id, value] of typed) { const x = document.getElementById(id); if (x) x.value = value; }
      }
      const again = $("#lang-btn"); if (again) again.focus();
    } });
}

// ------------------------------------------------------------------ login and registration
function renderLogin(which) {
  document.body.dataset.view = "login";
  document.body.dataset.form = which;
  const app = clear($("#app"));
  const msg = el("p", { class: "form-msg", id: "form-msg", role: "alert" });
  const fail = (e) => { msg.textContent = ruleText(e) || errorText(e); msg.className = "form-msg error"; };
  const refuse = (key, input) => { msg.textContent = t(key); msg.className = "form-msg error"; input.focus(); };
  let form;
  if (which === "login") {
    form = el("form", { id: "login-form", class: "card",
      onsubmit: async (e) => {
        e.preventDefault();
        msg.textContent = t("logging_in"); msg.className = "form-msg";
        try { await login($("#login-username").value.trim(), $("#login-password").value); } catch (err) { fail(err); }
      } },
      el("h2", { text: t("login") }),
      field(t("username"), el("input", { id: "login-username", autocomplete: "username", required: true })),
      field(t("password"), el("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true })),
      el("button", { type: "submit", id: "login-submit", class: "primary wide", text: t("login") }),
      msg,
      el("button", { type: "button", class: "link", id: "to-register", text: t("no_account"), onclick: () => renderLogin("register") }),
      el("button", { type: "button", class: "link", id: "to-reset", text: t("forgot_password"), onclick: () => renderLogin("reset") }));
  } else {
    const p = which === "reset" ? "reset" : "reg";   // (the register form's ids as they were)
    // (named by aria-label: its label also holds the button, whose words are no part of its name)
    const phone = el("input", { id: `${p}-phone`, type: "tel", autocomplete: "tel", required: true, placeholder: "138 0013 8000", "aria-label": t("phone") });
    const getCode = el("button", { type: "button", id: `${p}-get-code`, class: "ghost", text: t("get_code"),
      onclick: async () => {
        if (!phoneOk(phone.value)) { refuse("reg_phone_rule", phone); return; }
        try {
          await conn.request("request_code", { phone: phone.value.trim() }, { connect: true });
          codeSent = { phone: phone.value.trim(), until: Date.now() + CODE_AGAIN_MS };
          msg.textContent = t("code_sent", { phone: codeSent.phone }); msg.className = "form-msg ok";
          lockCode(getCode);
        } catch (err) { fail(err); }
      } });
    // The form drawn again (a language switch) still says where the code went, and still waits.
    if (codeSent && codeSent.until > Date.now()) {
      msg.textContent = t("code_sent", { phone: codeSent.phone }); msg.className = "form-msg ok";
      lockCode(getCode);
    }
    if (which === "reset") {   // [ext] reset_password: a forgotten password, with a code to the phone
      const pw = el("input", { id: "reset-password", type: "password", autocomplete: "new-password", required: true });
      form = el("form", { id: "reset-form", class: "card",
        onsubmit: async (e) => {
          e.preventDefault();
          if (!phoneOk(phone.value)) { refuse("reg_phone_rule", phone); return; }
          const n = charCount(pw.value);
          if (n < 8 || n > 128) { refuse("reg_password_rule", pw); return; }
          msg.textContent = t("resetting"); msg.className = "form-msg";
          try {
            await conn.request("reset_password", { phone: phone.value.trim(), code: $("#reset-code").value.trim(), new_password: pw.value }, { connect: true });
            codeSent = null;
            renderLogin("login");
            const done = $("#form-msg"); done.textContent = t("password_reset_done"); done.className = "form-msg ok";
          } catch (err) { if (err.code === "not_found") refuse("reset_no_account", phone); else fail(err); }
        } },
        el("h2", { text: t("reset_password") }),
        field(t("phone"), el("div", { class: "row" }, phone, getCode)),
        field(t("code"), el("input", { id: "reset-code", inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 6 })),
        field(t("new_password"), pw, t("password_hint")),
        el("button", { type: "submit", id: "reset-submit", class: "primary wide", text: t("reset_password") }),
        msg,
        el("button", { type: "button", class: "link", id: "to-login", text: t("back_to_login"), onclick: () => renderLogin("login") }));
    } else {
    const regDisplay = el("input", { id: "reg-display" });
    form = el("form", { id: "register-form", class: "card",
      onsubmit: async (e) => {
        e.preventDefault();
        msg.textContent = t("registering"); msg.className = "form-msg";
        const username = $("#reg-username").value.trim();
        const password = $("#reg-password").value;
        // The rules of docs/protocol.md (register), said in the reader's language before anything is sent.
        if (!phoneOk(phone.value)) { refuse("reg_phone_rule", phone); return; }
        if (!USERNAME_RE.test(username)) { refuse("reg_username_rule", $("#reg-username")); return; }
        const pwLength = charCount(password);   // code points, as the server counts
        if (pwLength < 8 || pwLength > 128) { refuse("reg_password_rule", $("#reg-password")); return; }
        const args = { username, password, phone: phone.value.trim(), code: $("#reg-code").value.trim() };
        const dn = $("#reg-display").value.trim();
        const long = nameTooLong(dn);
        if (long) { msg.textContent = long; msg.className = "form-msg error"; $("#reg-display").focus(); return; }
        if (dn) args.display_name = dn;
        try {
          const r = await conn.request("register", args, { connect: true });
          codeSent = null;   // (used: the next registration on this page asks for its own)
          await login(username, password);
          // The display name waits for the platform's review: the account shows its username meanwhile.
          if (r.held) toast(t("held_register_name", { name: dn, username }));
        } catch (err) { fail(err); }
      } },
      el("h2", { text: t("register") }),
      field(t("phone"), el("div", { class: "row" }, phone, getCode)),
      field(t("code"), el("input", { id: "reg-code", inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 6 })),
      field(t("username"), el("input", { id: "reg-username", autocomplete: "username", required: true }), t("username_hint")),
      field(t("password"), el("input", { id: "reg-password", type: "password", autocomplete: "new-password", required: true }), t("password_hint")),
      field(t("display_name"), regDisplay, null, nameNote(regDisplay)),
      el("button", { type: "submit", id: "reg-submit", class: "primary wide", text: t("register") }),
      msg,
      el("button", { type: "button", class: "link", id: "to-login", text: t("have_account"), onclick: () => renderLogin("login") }));
    }
  }
  app.append(el("div", { class: "login-wrap" },
    el("div", { class: "brand" }, el("img", { src: "/logo.svg", alt: "", class: "logo" }),
      el("div", {}, el("h1", { text: t("app") }), el("p", { class: "muted", text: t("tagline") }))),
    form, el("div", { class: "row center" }, langButton())));
  const first = form.querySelector("input"); if (first) first.focus();
  showInviteHint();
}

// A code asked for: where it went, and until when the button waits before another may be asked.
const CODE_AGAIN_MS = 30000;
let codeSent = null;
function lockCode(button) {
  button.disabled = true;
  setTimeout(() => { button.disabled = false; }, Math.max(0, codeSent.until - Date.now()));
}

// register's rules (docs/protocol.md): the username, the password's length in characters (code
// points), a mainland mobile number with an optional +86 / 86 / 0086 and spaces or dashes.
const USERNAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{2,31}$/;
function phoneOk(raw) { return /^(?:\+86|0086|86)?1[3-9][0-9]{9}$/.test(raw.trim().replace(/[ -]/g, "")); }
// A malformed argument the server still refused (rules this page does not know yet): its **[ext]**
// `field` names it, and the rule is said in the reader's language, never with the server's English.
const RULES = { username: "reg_username_rule", password: "reg_password_rule", phone: "reg_phone_rule", display_name: "reg_display_rule" };
function ruleText(e) {
  const f = e && e.code === "bad_request" && e.reply ? e.reply.field : null;
  return f && RULES[f] ? t(RULES[f]) : null;
}

function field(label, input, hint, extra = null) {
  return el("label", { class: "field" }, el("span", { class: "label", text: label }), input, hint ? el("small", { class: "muted", text: hint }) : null, extra);
}

// Under a display name's field: no maxlength, which would cut the name silently (and count an
// emoji as two). Past the server's 32 characters (after trimming) a note under it says so, and the
// form does not send it (nameTooLong).
function nameNote(input) {
  const note = el("small", { class: "count-over", id: input.id + "-count", hidden: true, "aria-live": "polite" });
  const draw = () => { const long = nameTooLong(input.value); note.hidden = !long; note.textContent = long || ""; };
  input.addEventListener("input", draw);
  draw();
  return note;
}
function nameTooLong(value) {
  const n = nameCount(value);
  return n > LIMITS.displayName ? t("name_too_long", { n, max: LIMITS.displayName }) : null;
}

// What this login is called in the account's list of logins ([ext] my_logins): the browser and the
// system, read from the user agent ("Chrome · Windows"); only the account itself ever sees it.
function deviceName() {
  const ua = navigator.userAgent;
  const browser = [[/Edg\//, "Edge"], [/MicroMessenger/, "WeChat"], [/OPR\//, "Opera"], [/Firefox\//, "Firefox"],
    [/Chrom(e|ium)\//, "Chrome"], [/Safari\//, "Safari"]].find(([re]) => re.test(ua));
  const system = [[/Android/, "Android"], [/iPhone|iPad/, "iOS"], [/Windows/, "Windows"], [/Mac OS X/, "macOS"],
    [/CrOS/, "ChromeOS"], [/Linux/, "Linux"]].find(([re]) => re.test(ua));
  return [browser ? browser[1] : "Browser", system && system[1]].filter(Boolean).join(" · ");
}

// `me`, and the server's clock with it ([ext] server_time; see state.serverNow).
async function loadMe() {
  const sent = Date.now();
  const me = await api("me");
  learnServerTime(me.server_time, sent, Date.now());
  S.me = me;
  return me;
}

async function login(username, password) {
  const r = await conn.request("login", { username, password, device: deviceName() }, { connect: true });
  S.token = r.token;
  browserStore.set("qg.token", r.token);
  conn.keep = true;
  await afterAuth();
}

// keep: a logout the user did not choose here (keepUnsent). One chosen on another tab of this browser
// (the same login, so this tab is closed "logged out" too) removed the saved token first: nothing kept.
function localLogout(message, keep = false) {
  const kept = keep && S.token && browserStore.get("qg.token") === S.token ? keepUnsent() : 0;
  if (kept) message = (message ? message + " " : "") + t("unsent_kept", { n: kept });
  conn.close();
  delete document.body.dataset.synced;
  S.token = null; S.me = null; S.authed = false; authChanged(false); S.groups.clear(); S.current = null; S.outbox = []; S.notices = []; S.unseen = 0; S.blacklistedText = null;
  // The invite links made here are secrets (whoever has one joins), and the names seen are the
  // user's groups' members: neither stays in the tab for whoever logs in next.
  S.invites.clear(); S.names.clear(); S.pastNames.clear(); S.pendingInvite = null; forgetInviteImages();
  // Every dialog goes with the account (a forced logout can come while one is open: the group's
  // panel with its members, the notices, my account): none stays over the login form.
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
  resetAccounts(); forgetHeld(); S.tab = "groups";
  document.body.classList.remove("show-account");
  delete document.body.dataset.outcomes;
  forgetUser();
  document.body.classList.remove("show-chat"); chatLeftHistory();
  renderLogin("login");
  if (message) { const m = $("#form-msg"); m.textContent = message; m.className = "form-msg error"; }
}

// ------------------------------------------------------------------ connection lifecycle
// `auth` on each new connection, and after it `me` and `my_groups`. Answered `internal` (the server
// cannot serve it now: a cluster's home node is changing, or the store did not answer) or
// `rate_limited`, each is asked again on the same connection after a short wait with jitter (0.5 s
// doubling, or the server's retry_after_ms), the status saying so: the page never just waits for
// the server to drop it at its auth timeout, nor stays signed in without its groups until the next
// reconnect. After SERVE_TRIES such answers to one request the connection is given up for a new
// one, made after the connection's own backoff (behind a load balancer it may reach another node).
const SERVE_TRIES = 4;
const NOT_SERVED = Symbol("not served");

// The reply to op on the open connection ws, asked again as above. NOT_SERVED when the page stops
// asking: the connection closed or was given up, or the user logged out. Other refusals are thrown.
async function served(ws, op, args = {}) {
  return retried(ws, op, () => api(op, args));
}

// served's rule for any work whose requests are all `op` (a group's catch-up: history, page after
// page): done again from its start when one of them is answered as above.
async function retried(ws, op, work) {
  const ops = [].concat(op);   // (the ops whose answers are retried: one, or a list)
  for (let tries = 1; ; tries++) {
    try {
      const r = await work();
      if (tries > 1 && (statusKey === "server_busy" || statusKey === "too_many_connections")) setStatus("connected");
      return r;
    } catch (e) {
      if ((e.code !== "internal" && e.code !== "rate_limited") || !ops.includes(e.op)) throw e;
      if (conn.ws !== ws || !conn.keep) return NOT_SERVED;
      // (an account at its connections cap: waiting alone does not cure it, so it says what does)
      setStatus(e.reply && e.reply.cause === "connections_per_user" ? "too_many_connections" : "server_busy");
      if (tries >= SERVE_TRIES) { conn.restart(e.op + " not served"); return NOT_SERVED; }
      const ms = e.code === "rate_limited" && e.reply.retry_after_ms > 0 ? e.reply.retry_after_ms
        : 500 * 2 ** (tries - 1) * (0.75 + Math.random() * 0.5);
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (conn.ws !== ws || !conn.open || !conn.keep || !S.token) return NOT_SERVED;   // closed or logged out meanwhile
    }
  }
}

const LOGIN_ENDED = ["logged_out", "password_changed", "too_many_logins", "account_deleted", "account_reopened"];

async function onOpen() {
  if (!conn.keep || !S.token) return;
  try {
    if (await served(conn.ws, "auth", { token: S.token }) === NOT_SERVED) return;
  } catch (e) {
    // (a saved login that no longer works: nobody typed a wrong password; logged out elsewhere, or
    // expired. The server says why a login ended early, a device offline at the time included.)
    if (e.code === "unauthenticated") localLogout(t(LOGIN_ENDED.includes(e.reply && e.reply.cause) ? "ended_" + e.reply.cause : "session_ended"), true);
    else if (e.code === "blacklisted") localLogout(errorText(e));
    return;   // (disconnected: the next connection asks)
  }
  await afterAuth();
}

function onClose(code, reason) {
  S.authed = false;
  delete document.body.dataset.synced;
  // Where each group's catch-up starts: fixed now, since live events after the next auth
  // will move lastSeq past messages sent while we were away.
  for (const g of S.groups.values()) if (g.resumeAfter === null) g.resumeAfter = g.lastSeq;
  if (code === 1008 && reason === "logged out") {   // this login was logged out on another page or device
    localLogout(t("logged_out_elsewhere"), true);
    return;
  }
  if (code === 1008 && reason === "logged out from another device") {   // ended from another login's list
    localLogout(t("login_ended_elsewhere"), true);
    return;
  }
  if (code === 1008 && (reason === "logged out on every device" || reason === "the password was changed")) {
    localLogout(t(reason === "the password was changed" ? "password_changed_elsewhere" : "logged_out_everywhere"), true);
    return;
  }
  if (code === 1008 && (reason === "account closed by the platform" || reason === "account cancelled")) {
    // The `blacklisted` notice came just before the close: its reason stays on the login form (the
    // notices list goes with the logout). Every login of the same verified person is closed so.
    const why = S.blacklistedText;
    localLogout(reason === "account cancelled" ? t("account_deleted") : why ? t("n_blacklisted", { text: why }) : t("e_blacklisted"));
    return;
  }
  if (S.me) setStatus(conn.keep ? "reconnecting" : "offline");
}

// After login or auth on a fresh connection: who am I, the rules, my groups, catch up, resend.
async function afterAuth() {
  S.authed = true;
  platformNoticesDue();   // (a live platform notice from here waits for this connection's check: outcomes.js)
  setStatus("connected");
  authChanged(true);   // uploads a dropped connection interrupted go on (media.js)
  const ws = conn.ws;
  try {
    const sent = Date.now();
    const me = await served(ws, "me");
    if (me === NOT_SERVED) return;
    learnServerTime(me.server_time, sent, Date.now());
    const first = !S.me;
    S.me = me;
    learnLimits(me);
    rememberUser();
    if (first) { restoreOutbox(); restoreUnsent(); }   // what an earlier page of this user had not sent yet
    if (first || document.body.dataset.view !== "main") renderMain();
    if (!first) missedEvents();
    // The marks a page closed before it sent them (kept.js): stored before the counts are read.
    await Promise.all(Object.entries(keptMarks()).map(([gid, seq]) => sendKeptMark(gid, Number(seq))));
    const listed = await served(ws, "my_groups");
    if (listed === NOT_SERVED) return;
    await syncGroups(listed);
    // (signed in from the form, the focus went with it: it starts at the group list, not the page)
    if (first && (!document.activeElement || document.activeElement === document.body)) {
      // (drawn now: the list is drawn at the next frame, which a busy or background tab may not have
      // had yet, and the focus went to ＋ beside a list still empty)
      drawGroups();
      const start = $("#group-list .group-item") || $("#btn-new-group");
      if (start) start.focus();
    }
    flushOutbox();
    // body[data-synced] once all the reads of this connection's start have answered (for tests
    // and tools that act on the page only when it holds the state the server gave it).
    Promise.allSettled([
      syncAccounts({ comments: true }),
      checkAgreement(),
      checkOutcomes(notice),
      loadHeld(),   // what of mine still waits for the platform's review (names, announcements)
    ]).then(() => { if (conn.ws === ws && S.authed) document.body.dataset.synced = "1"; });
    if (S.pendingInvite) useInvite();
  } catch (e) {
    if (e.code !== "disconnected") toast(errorText(e), "error");
  }
}

// Events may have been missed (the connection dropped, or a cluster's home was lost: notice resync).
// Each group's catch-up then reads again the window the page shows (resume), not only what follows
// it. And a mute of mine may have been lifted meanwhile: it is forgotten here, and my_groups says
// again which holds (syncGroups). From a server whose my_groups does not say (no `muted_until`), a
// send still refused with `muted` learns it again, with its end (trySend).
function missedEvents() {
  for (const g of S.groups.values()) {
    if (g.resumeAfter === null) g.resumeAfter = g.lastSeq;
    if (S.me) g.mutes.delete(S.me.user_id);
  }
}

// listed: a my_groups reply already in hand (afterAuth asks for it itself, again while not served).
async function syncGroups(listed = null) {
  const r = listed || await api("my_groups");
  const seen = new Set();
  const changed = [];   // groups whose posting state my_groups changed
  for (const x of r.groups) {
    seen.add(x.group_id);
    let g = S.groups.get(x.group_id);
    if (!g) { g = newGroup(x.group_id, x.name, x.role); S.groups.set(x.group_id, g); }
    g.name = x.name; g.role = x.role;
    takeReadState(g, x);
    if (postingState(g, x)) changed.push(g);
    if ("muted_until" in x) S.mutesListed = true;   // this server also lists mutes in `members`
  }
  // A group gone while we were away (removed, dissolved, closed, or left on another device): said,
  // not only taken off the list.
  for (const gid of [...S.groups.keys()]) {
    if (!seen.has(gid)) { notice(later("n_gone", { group: gname(gid) })); dropGroup(gid); }
  }
  renderGroups();
  // Each catch-up asked again while not served: until it succeeds the group's resumeAfter stays set,
  // which keeps the live gap fill off, so one given up would leave what came while away unreachable
  // (scrolling back loads only below the first message shown) and later reads would mark it read.
  const ws = conn.ws;
  await Promise.all([...S.groups.values()].map((g) => retried(ws, CATCH_UP_OPS, () => catchUp(g)).catch(() => {})));
  await Promise.all([...S.groups.values()].filter((g) => g.role !== "member").map(countRequests));
  const g = cur();
  if (g) {
    await loadDetail(g);
    // The open chat is brought up to date in place (catchUp added and redrew its messages): the
    // reader keeps their place, the text typed and the focus. Read only when they are at the bottom.
    const chat = $("#chat");
    if (chat && chat.dataset.gid === g.group_id && $("#messages")) {
      if (S.current === g.group_id) { renderChatHead(); updateComposer(); if (!document.hidden && nearBottom()) markRead(g); }
    } else renderChat();
  }
  for (const x of changed) refreshManage(x);   // the owner's panel follows the suspension too
  renderGroups();
}

// A group's posting state as my_groups gives it (the caller's mute, mute-all, the platform's
// suspension with its cause), set as the live events would have set it: what changed while the
// page was away (a mute or a suspension lifted, or a new one whose event it missed) shows after a
// reload or a reconnect. Fields a server does not send change nothing. True when something changed.
function postingState(g, x) {
  const before = [myMuteUntil(g), g.muteAll, g.suspendedUntil, g.heldUntil, g.suspensionCause].join();
  const now = serverNow();
  if (typeof x.muted_until === "number" && S.me) {
    if (x.muted_until > now) g.mutes.set(S.me.user_id, x.muted_until); else g.mutes.delete(S.me.user_id);
  }
  if (typeof x.mute_all === "boolean") g.muteAll = x.mute_all;
  if (typeof x.suspended_until === "number") {
    if (x.suspended_until > now) learnSuspension(g, x.suspended_until, x.suspension_cause);
    else forgetSuspension(g);
  }
  return before !== [myMuteUntil(g), g.muteAll, g.suspendedUntil, g.heldUntil, g.suspensionCause].join();
}

// Live changes to the messages the page holds (an edit, a recall or removal, a reaction), in the
// order they came (liveTick). The server reads a history page before it answers, so the answer to a
// page asked before such a change may hold the copy from before it (the change's event overtook the
// answer): that copy must not replace the one the event made.
let liveTick = 0;
function changedLive(g, seq) {
  if (!g.changedLive) g.changedLive = new Map();
  g.changedLive.set(seq, ++liveTick);
}
// A history page asked at `asked` (liveTick then) holds copy `m`: add it, or replace the page's own.
// When the message changed live since the page was asked, neither copy can be trusted (the page's
// may miss what changed while it was away, the answer's misses the live change): it is read again.
function fromHistory(g, m, asked, uncounted = false) {
  if (changedSince(g, m.seq, asked)) reread(g, m.seq);
  else { learnMine(g, m); addMessage(g, m, uncounted); }
}
function changedSince(g, seq, asked) {
  return g.msgs.has(seq) && !!g.changedLive && (g.changedLive.get(seq) || 0) > asked;
}
async function reread(g, seq) {
  const asked = liveTick;
  let r;
  try { r = await api("history", { group_id: g.group_id, after_seq: seq - 1, limit: 1 }); } catch { return; }
  const m = r.messages.find((x) => x.seq === seq);
  if (!m || S.groups.get(g.group_id) !== g || !g.msgs.has(seq)) return;
  if (changedSince(g, seq, asked)) reread(g, seq);
  else { learnMine(g, m); if (changed(g.msgs.get(seq), m)) { replaceMessage(g, m); echoChange(g, seq); } }
}

// What the counts covered when a catch-up began (countedTo, and which my_groups set them): a message
// it reads above that was counted by nobody (a live message after it that came first moves countedTo
// past it), and counts as it comes, as a skipped span's do (fillSkipped).
function countedNow(g) { return { to: g.countedTo, synced: g.synced }; }
function uncountedBy(g, m, counted) { return m.seq > counted.to && g.synced === counted.synced; }

// Everything after the last seq we held when the connection dropped (so nothing sent meanwhile
// is skipped, even when live events arrive before this runs), or the latest page.
async function catchUp(g) {
  const counted = countedNow(g);
  if (g.resumeAfter) await resume(g, g.resumeAfter, counted);
  else if (g.lastSeq > 0 && g.resumeAfter === null) { await takeCursor(g); await readAfter(g, g.lastSeq, counted); }
  else {
    g.resumeAfter = null;
    await takeCursor(g);
    const asked = liveTick;
    const r = await api("history", { group_id: g.group_id, limit: PAGE });
    for (const m of r.messages) fromHistory(g, m, asked);
    if (r.messages.length) g.firstSeq = Math.min(g.firstSeq ?? Infinity, r.messages[0].seq);
    if (r.messages.length < PAGE) g.noMore = true;
  }
}

// Forward from `after`, page after page until the list is empty (those above `counted` counted as
// they come: countedNow).
async function readAfter(g, after, counted = countedNow(g)) {
  for (;;) {
    const asked = liveTick;
    const r = await api("history", { group_id: g.group_id, after_seq: after, limit: 500 });
    for (const m of r.messages) fromHistory(g, m, asked, uncountedBy(g, m, counted));
    if (r.messages.length < 500) return;
    after = r.messages[r.messages.length - 1].seq;
  }
}

// [ext] The clock of changes to messages (message_changes), asked before a group's pages are read
// on a connection (a change made between the two then shows in both, never in neither): from it, a
// catch-up after a reconnect asks only what changed (resumeByChanges). Null from a server without it
// (or refusing it): the catch-up then reads the window again (rereadWindow). A server that cannot
// serve it now (internal, rate_limited) has the whole catch-up asked again (retried), as for history.
const CATCH_UP_OPS = ["history", "message_changes"];
function passing(e) { return e.code === "disconnected" || e.code === "internal" || e.code === "rate_limited"; }
async function takeCursor(g) {
  try { g.cursor = (await api("message_changes", { group_id: g.group_id })).cursor; }
  catch (e) {
    if (passing(e)) throw e;
    g.cursor = null;
  }
}

async function resume(g, from, counted) {
  if (g.cursor !== null && await resumeByChanges(g, from, counted)) return;
  await rereadWindow(g, from, counted);
}

// What changed while away in the messages the page holds, asked from the cursor it kept: each
// message recalled, edited, reacted to or removed by the platform once, as it reads now, redrawn in
// place (and the copy kept for quotes of it); one the page does not hold that falls inside the span
// it holds (a held message released meanwhile keeps its own, lower seq) filled in. Then what is new,
// forward from `from`. Nothing else is read again, so what the reader scrolled back to stays. What
// the page holds at or below the reader's join point (`joined_seq`: they left and joined again while
// away) is no longer theirs to see, and goes. False when the server refused it, or said `reset` (the
// cursor is from before a restore of its database): the window is read again instead.
async function resumeByChanges(g, from, counted) {
  let since = g.cursor;
  try {
    for (;;) {
      const asked = liveTick;
      const r = await api("message_changes", { group_id: g.group_id, since, limit: 500 });
      if (r.reset) { g.cursor = null; return false; }
      keepView(g, () => {
        if (typeof r.joined_seq === "number") for (const seq of [...g.msgs.keys()]) if (seq <= r.joined_seq) dropMessage(g, seq);
        for (const m of r.messages) fromChanges(g, m, from, asked);
      });
      since = r.cursor;
      if (!r.more) break;
    }
  } catch (e) {
    if (passing(e)) throw e;
    g.cursor = null;
    return false;
  }
  g.cursor = since;
  await readAfter(g, from, counted);
  g.resumeAfter = null;
  if (g.group_id === S.current) redrawQuotes(g);
  return true;
}

function fromChanges(g, m, from, asked) {
  if (m.seq > from) return;   // came after the page's last message: read whole by readAfter
  if (g.quoted && g.quoted.has(m.seq)) g.quoted.set(m.seq, m);
  if (!g.msgs.has(m.seq)) {
    if (g.noMore || (g.firstSeq !== null && m.seq >= g.firstSeq)) { learnMine(g, m); addMessage(g, m); }
  } else if (changedSince(g, m.seq, asked)) reread(g, m.seq);   // (see fromHistory)
  else {
    learnMine(g, m);
    if (changed(g.msgs.get(m.seq), m)) { replaceMessage(g, m); echoChange(g, m.seq); }
  }
}

// From a server without message_changes: the messages the page already shows may have changed while
// it was away: recalled, edited, reacted to, removed by the platform, or (a held message released
// meanwhile keeps its own, lower seq) filled in. So the catch-up starts not after `from` but at the start of
// the window the page holds: the newest REFRESH seqs up to `from`, or in the open group from just
// above the first message on screen (at most REFRESH_OPEN seqs). That window is read again (what
// differs is redrawn, what the server no longer shows is taken away), and the same pages go on
// past `from` to what came meanwhile. Older messages the page held are let go: scrolling back
// loads them again, as they now are. A reconnect so costs about one page per group.
const REFRESH = 500;
const REFRESH_OPEN = 5000;
async function rereadWindow(g, from, counted) {
  await takeCursor(g);   // (a server that has it now, after an upgrade: the next catch-up asks changes)
  let low = Math.max(g.noMore ? 1 : (g.firstSeq ?? from), from - REFRESH + 1);
  const top = g.group_id === S.current ? firstShownSeq() : null;
  if (top !== null && top - 10 < low) low = Math.max(g.noMore ? 1 : (g.firstSeq ?? top), top - 10, from - REFRESH_OPEN + 1);
  forgetAllQuoted(g);
  let after = low - 1;
  for (;;) {
    const asked = liveTick;
    const r = await api("history", { group_id: g.group_id, after_seq: after, limit: 500 });
    const full = r.messages.length === 500;
    const upto = full ? r.messages[r.messages.length - 1].seq : Infinity;   // the span this page answers for
    keepView(g, () => {
      const got = new Set();
      for (const m of r.messages) {
        got.add(m.seq);
        if (!g.msgs.has(m.seq)) { learnMine(g, m); addMessage(g, m, uncountedBy(g, m, counted)); }
        else if (changedSince(g, m.seq, asked)) reread(g, m.seq);   // (see fromHistory)
        else {
          learnMine(g, m);
          if (changed(g.msgs.get(m.seq), m)) { replaceMessage(g, m); echoChange(g, m.seq); }
        }
      }
      for (const seq of [...g.msgs.keys()]) {
        if (seq > after && seq <= upto && seq <= from && !got.has(seq)) dropMessage(g, seq);   // purged or hidden
      }
    });
    if (!full) break;
    after = upto;
  }
  letGoOlder(g, low);   // what the page held below the window (it loads again when scrolled to)
  g.resumeAfter = null;
  if (g.group_id === S.current) redrawQuotes(g);
}

// The messages held below `low` let go: scrolling back loads them again from there.
function letGoOlder(g, low) {
  const older = [...g.msgs.keys()].filter((seq) => seq < low);
  if (!older.length) return;
  keepView(g, () => { for (const seq of older) dropMessage(g, seq); });
  g.firstSeq = low; g.noMore = false;
  const b = g.group_id === S.current ? $("#load-earlier") : null;
  if (b) { b.textContent = t("load_earlier"); b.disabled = false; }
}

// Whether a message as the server has it now differs from the copy shown.
function changed(a, b) {
  const sig = (m) => JSON.stringify([!!m.deleted, m.text || "", m.edited_at || 0,
    Object.entries(m.reactions || {}).filter(([, n]) => n > 0).sort(), (m.attachments || []).length]);
  return sig(a) !== sig(b);
}

// A message the page holds that the server no longer shows (past retention, or hidden): taken away.
function dropMessage(g, seq) {
  g.msgs.delete(seq);
  if (g.group_id !== S.current) return;
  const node = document.querySelector(`#messages .msg[data-seq="${seq}"]`);
  if (node) node.remove();
}

// The seq of the first message (partly) on screen in the open group, or null.
function firstShownSeq() {
  const s = $("#scroller");
  if (!s) return null;
  const top = s.getBoundingClientRect().top;
  for (const node of s.querySelectorAll("#messages .msg[data-seq]")) {
    if (node.getBoundingClientRect().bottom > top) return Number(node.dataset.seq);
  }
  return null;
}

// Change the messages shown without moving what the reader looks at: a reader at the bottom stays
// there; otherwise the first message on screen keeps its place.
function keepView(g, change) {
  const s = g.group_id === S.current ? $("#scroller") : null;
  if (!s) { change(); return; }
  if (nearBottom()) { change(); scrollToBottom(); return; }
  const seq = firstShownSeq();
  const at = (q) => { const n = q === null ? null : s.querySelector(`#messages .msg[data-seq="${q}"]`); return n ? n.getBoundingClientRect().top : null; };
  const before = at(seq);
  change();
  const after = at(seq);
  if (before !== null && after !== null) s.scrollTop += after - before;
}

// The messages between `after` and `before` (both left out) that the page does not hold yet.
// Those above `counted` (countedTo before the message that showed the gap) are counted as unread:
// my_groups did not count them and the live event that would have did not come.
async function fillSkipped(g, after, before, counted) {
  const synced = g.synced;
  const r = await api("history", { group_id: g.group_id, after_seq: after, before_seq: before, limit: 500 });
  // (my_groups read meanwhile counted them already)
  for (const m of r.messages) {
    if (!g.msgs.has(m.seq)) { learnMine(g, m); addMessage(g, m, m.seq > counted && g.synced === synced); }
  }
}

async function countRequests(g) {
  if (powersSuspendedUntil()) { g.requests = 0; return; }   // refused while the platform suspends my powers
  try { g.requests = (await api("join_requests", { group_id: g.group_id })).requests.length; } catch { g.requests = 0; }
}

// The member list read when the group was opened is kept by the member events (joins, leaves, roles,
// names) on the same connection: opened again within MEMBERS_FRESH_MS on it, the group is not read
// again (2,000 members are some 140 KB at every switch). After a reconnect events may have been missed.
const MEMBERS_FRESH_MS = 10 * 60 * 1000;
function membersFresh(g) {
  return !!g.members && !!g.membersOf && g.membersOf.ws === conn.ws && Date.now() - g.membersOf.at < MEMBERS_FRESH_MS;
}

async function loadDetail(g) {
  try {
    // Asked together, each taken as it comes: a live event that comes between the two answers is
    // applied on top of the first (taken at once), never undone by it (taken after both, as before).
    await Promise.all([
      api("group_info", { group_id: g.group_id }).then((info) => {
        g.info = info; g.muteAll = !!info.mute_all; g.name = info.name;
        setPins(g, info.pinned || []); g.slowMode = info.slow_mode_seconds || 0;
      }),
      membersFresh(g) ? null : api("members", { group_id: g.group_id }).then((mem) => {
        g.members = new Map(mem.members.map((u) => [u.user_id, u]));
        g.membersOf = { ws: conn.ws, at: Date.now() };
        remember(mem.members);
        const mine = g.members.get(S.me.user_id); if (mine) g.role = mine.role;
        const box = S.current === g.group_id ? $("#composer-text") : null;
        if (box) box.dispatchEvent(new Event(MEMBERS_CAME));
      })]);
    redrawMentions(g);   // messages drawn before the member list came (a group opened the first time)
  } catch (e) { if (e.code !== "disconnected") toast(errorText(e), "error"); }
}

async function checkAgreement() {
  try {
    const r = await api("agreement");
    if (r.version && !r.accepted) showAgreement(r);
  } catch { /* older servers: nothing to accept */ }
}

export function showAgreement(r) {
  if ($("#agreement-dialog")) return;
  modal(t("agreement"), (done) => [
    el("p", { class: "muted", text: t("agreement_version", { v: r.version }) }),
    el("h3", { text: t("rules_heading") }),
    el("pre", { class: "doc", tabindex: 0, text: r.rules || "" }),   // (scrolled from the keyboard in every browser)
    el("h3", { text: t("agreement_heading") }),
    el("pre", { class: "doc", tabindex: 0, text: r.agreement || "" }),
    el("div", { class: "row end" }, el("button", { type: "button", class: "primary", id: "accept-agreement", text: t("accept"),
      onclick: async () => {
        try { await api("accept_agreement", { version: r.version }); done(true); toast(t("saved")); } catch (e) { toast(errorText(e), "error"); return; }
        agreementAccepted();
      } })),
  ], { id: "agreement-dialog", wide: true });
}

// The rules and agreement are accepted, here or on another device: the messages refused for want of
// that acceptance go now, as the user meant them to.
function agreementAccepted() {
  for (const item of S.outbox.filter((x) => x.state === "failed" && x.error && x.error.reply && x.error.reply.agreement_version)) {
    retryItem(item);
  }
}

// [ext] `self_changed`: my other device changed something about me that no other event carries.
async function changedElsewhere(ev) {
  if (ev.what === "agreement") {
    const open = $("#agreement-dialog");
    if (open) open.close();
    agreementAccepted();
  } else if (ev.what === "identity") {
    await loadMe();
    const form = $("#verify-form");   // (the profile, open here: the form would only be refused now)
    if (form) { form.remove(); $("#id-state").textContent = t("id_verified"); }
    renderPane();
  } else if (ev.what === "held_texts") {
    await loadHeld();   // a name, announcement or intro of mine waits for review: shown where it would apply
  } else {
    await syncAccounts();   // followed or no longer, an account opened or renamed: the lists and the open page
  }
}

// ------------------------------------------------------------------ main layout
function renderMain() {
  document.body.dataset.view = "main";
  const app = clear($("#app"));
  const bell = el("button", { type: "button", class: "icon", id: "btn-notices", title: t("notices"), "aria-label": bellLabel(), onclick: openNotices },
    el("img", { src: "/bell.svg", alt: "", class: "ico" }), el("span", { class: "badge", id: "notice-count", hidden: S.unseen === 0, text: String(S.unseen) }));
  const side = el("aside", { id: "sidebar" },
    el("header", { class: "side-head" },
      el("img", { src: "/logo.svg", alt: "", class: "logo small" }),
      el("div", { class: "grow" }, el("strong", { id: "me-name", class: "clip", text: S.me ? S.me.display_name : "", title: S.me ? S.me.display_name : "" }),
        el("div", { id: "status", class: "status status-" + statusKey, role: "status", text: t(statusKey) })),
      bell,
      el("button", { type: "button", class: "icon", id: "btn-profile", title: t("profile"), "aria-label": t("profile"), onclick: openProfile }, el("img", { src: "/user.svg", alt: "", class: "ico" }))),
    // Tabs as a screen reader expects them: one Tab stop (the selected one), the arrow keys between them,
    // each naming the pane it shows.
    el("nav", { class: "tabs", role: "tablist", onkeydown: (e) => {
      // (the arrows move the focus only; Enter or Space shows the tab: showing 公众号 closes the open chat,
      // which a screen-reader user exploring the tabs should not lose)
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight" && e.key !== "Home" && e.key !== "End") return;
      e.preventDefault();
      const on = document.activeElement && document.activeElement.id === "tab-accounts" ? "accounts" : "groups";
      const to = e.key === "Home" ? "groups" : e.key === "End" ? "accounts" : on === "groups" ? "accounts" : "groups";
      $("#tab-" + to).focus();
    } },
      el("button", { type: "button", class: "tab", id: "tab-groups", role: "tab", "aria-controls": "group-side", text: t("groups"), onclick: () => showTab("groups") }),
      el("button", { type: "button", class: "tab", id: "tab-accounts", role: "tab", "aria-controls": "account-side", onclick: () => showTab("accounts") },
        t("accounts"), el("span", { class: "badge", id: "accounts-badge", hidden: true }))),
    el("div", { id: "group-side", class: "side-pane", role: "tabpanel", "aria-labelledby": "tab-groups" },
      el("div", { class: "side-title" }, el("span", { text: t("groups") }),
        el("button", { type: "button", class: "icon", id: "btn-new-group", title: t("new_group"), "aria-label": t("new_group"), onclick: openNewGroup }, el("img", { src: "/plus.svg", alt: "", class: "ico" }))),
      el("ul", { id: "group-list" })),
    accountsSide(),
    el("footer", { class: "side-foot" }, langButton()));
  const chat = el("main", { id: "chat" });
  app.append(side, chat, el("main", { id: "account-pane" }));
  showTab(S.tab || "groups");
  renderGroups();
  renderChat();
  drawAccounts();
  renderPane();
}

// The sidebar shows groups or public accounts. Leaving the groups closes the open chat, so nothing
// counts as read while it is out of sight; an account's page left open while the groups were shown
// is in sight again, and what its badge counted meanwhile is taken as seen (accounts.js).
function showTab(tab) {
  S.tab = tab;
  document.body.dataset.tab = tab;
  for (const name of ["groups", "accounts"]) {
    const b = $("#tab-" + name);
    if (b) { b.classList.toggle("active", name === tab); b.setAttribute("aria-selected", String(name === tab)); b.tabIndex = name === tab ? 0 : -1; }
  }
  if (tab === "accounts") accountsShown();
  if (tab === "accounts" && S.current) {
    S.current = null;
    document.body.classList.remove("show-chat"); chatLeftHistory();
    renderGroups();
    renderChat();
  }
}

let groupsQueued = false;
function renderGroups() {
  if (groupsQueued) return;
  groupsQueued = true;
  requestAnimationFrame(() => { groupsQueued = false; drawGroups(); });
}
// Drawn in place (morph), each group's item kept from one draw to the next: the list is drawn
// again for every message in any group, and a click on an item pressed before such a draw and
// released after it used to be lost (the item pressed was gone), the chat never opening.
function drawGroups() {
  const list = $("#group-list");
  if (!list) return;
  if (S.groups.size === 0) { clear(list); list.append(el("li", { class: "empty muted", text: t("no_groups") })); return; }
  const had = new Map();
  for (const node of [...list.children]) { if (node.dataset.gid) had.set(node.dataset.gid, node); else node.remove(); }
  const groups = [...S.groups.values()].sort((a, b) => lastTs(b) - lastTs(a) || a.group_id.localeCompare(b.group_id));
  groups.forEach((g, i) => {
    const fresh = groupItem(g);
    const old = had.get(g.group_id);
    had.delete(g.group_id);
    const node = old ? morph(old, fresh) : fresh;
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
  for (const node of had.values()) node.remove();   // groups left
}
function groupItem(g) {
  const badge = g.unread > 0 ? el("span", { class: "badge unread", text: g.unread > 99 ? "99+" : String(g.unread) }) : null;
  const req = g.requests > 0 ? el("span", { class: "badge req", title: t("join_requests"), text: "+" + g.requests }) : null;
  const gid = g.group_id;   // (the handlers name the group only: morph keeps the first item's)
  const typed = gid !== S.current ? typedFor(g) : "";
  const preview = el("div", { class: "preview clip muted" }, g.mentioned ? el("span", { class: "mention-flag", text: t("mentioned_flag") }) : null,
    ...(typed.trim() ? [el("span", { class: "draft-flag", text: t("draft_flag") }), typed]
      : [g.msgs.has(g.lastSeq) ? listLine(g.msgs.get(g.lastSeq)) : g.preview]));
  // Its name for a screen reader, in words: the avatar's letter left out, the counts said as what they count.
  const said = [g.name, g.role === "member" ? "" : t("role_" + g.role), g.unread > 0 ? t("unread_said", { n: g.unread }) : "",
    g.requests > 0 ? t("requests_said", { n: g.requests }) : "", preview.textContent].filter(Boolean).join(t("said_sep"));
  return el("li", { class: "group-item" + (gid === S.current ? " active" : ""), "data-gid": gid, "aria-label": said,
    "aria-current": gid === S.current ? "true" : null,
    tabindex: 0, role: "button", onclick: () => openGroup(gid), onkeydown: (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openGroup(gid, true); return; }
      // (the arrows, Home and End walk the list: with many groups, Tab alone took one stop per group)
      const item = e.currentTarget;
      const to = { ArrowDown: item.nextElementSibling, ArrowUp: item.previousElementSibling,
        Home: item.parentElement.firstElementChild, End: item.parentElement.lastElementChild }[e.key];
      if (to && to.classList.contains("group-item")) { e.preventDefault(); to.focus(); }
    } },
    el("div", { class: "avatar", "aria-hidden": "true", text: [...(g.name || "?")][0] }),
    el("div", { class: "grow clip" }, el("div", { class: "row" }, el("span", { class: "gname clip", text: g.name }), roleTag(g.role)), preview),
    req, badge);
}
function lastTs(g) { const m = g.msgs.get(g.lastSeq); return m ? m.ts : 0; }
// The group list's line for its last message m says who sent it ("name：text"), as chat apps do
// (without it, in a group, another's message read like one's own): another member by the name the
// chat shows them by, the user as 你 / You (sent from this page or another device alike); a deleted
// one (a notice whose text names who: "X 撤回了一条消息") as it is. The name is the sender's as held
// (renamed() changes it there, and draws the list again).
function listLine(m) {
  const text = previewText(m);
  if (m.deleted || !m.sender) return text;
  return t("message_said", { name: isMine(m) ? t("list_me") : m.sender.display_name || t("unknown_user"), text });
}

// ------------------------------------------------------------------ chat pane
// byKeys: opened from the keyboard, whose user goes on in the chat (the composer, or the chat's
// heading when the composer is closed), not at the list item they left (hidden at phone width).
// A chat opened afresh starts at its newest messages: it keeps this many of what was read back before
// (scrolling up loads the rest again). Drawing every message held, thousands after a long read back,
// froze each switch to the group for seconds.
const KEEP_ON_OPEN = 300;
// Past this many messages held, those off screen are not laid out (style.css: #messages.big).
const BIG_CHAT = 1000;
async function openGroup(gid, byKeys = false) {
  const g = S.groups.get(gid);
  // (before it is the current group: nothing of it is on screen to keep in view)
  if (g && S.current !== gid && g.msgs.size > KEEP_ON_OPEN) letGoOlder(g, [...g.msgs.keys()].sort((a, b) => b - a)[KEEP_ON_OPEN - 1]);
  // Where this opening's unread messages begin (its "new messages" line and ↑ button: newMark),
  // taken before the chat is drawn, which reads them.
  if (g && S.current !== gid) { g.newFrom = g.unread > 0 ? g.readSeq : null; g.newCount = g.unread; g.newSeen = false; }
  chatInHistory(gid);
  S.current = gid;
  document.body.classList.add("show-chat");
  renderChat();
  renderGroups();
  if (byKeys) focusChat();
  await loadDetail(g);
  if (S.current === gid) { renderChatHead(); updateComposer(); }
}

// The open chat is an entry in the browser's history, so that Back (a phone's button, the browser's)
// goes from the chat to the list of groups, as ‹ does, rather than off the page (the web review).
// Switching from one chat to another replaces the entry: Back then leaves the chat, not walks the
// chats opened. A reload opens no chat, as before: one opened by itself would count its messages read
// in a tab nobody looks at.
function chatEntry() { return history.state && typeof history.state.qunguanChat === "string" ? history.state.qunguanChat : null; }
function chatInHistory(gid) {
  try {
    if (chatEntry() === gid) return;
    if (chatEntry()) history.replaceState({ qunguanChat: gid }, "");
    else history.pushState({ qunguanChat: gid }, "");
  } catch { /* a browser that refuses history changes: ‹ still closes the chat */ }
}
// The chat closed by other means (the account tab, a group gone, a logout): its entry goes, Back from
// the list then leaves the page at once as it would had no chat been opened (a blank entry left in
// its place took a press that did nothing). The entry before it is this page's list (chatInHistory
// pushed the chat's over it); popstate there finds no chat to close.
function chatLeftHistory() {
  try { if (chatEntry()) history.back(); } catch { /* as above */ }
}
function closeChat() {
  const gid = S.current;
  if (gid) closeDialogsOf(gid);   // (Back with a message's menu open: not left over the list)
  // (drawn empty: on a desktop the chat pane stays in view, and showed the group's messages no longer followed)
  document.body.classList.remove("show-chat"); S.current = null; renderGroups(); renderChat();
  const item = gid && $(`#group-list [data-gid="${CSS.escape(gid)}"]`);
  if (item) item.focus();   // (the keyboard's place: the group it came from)
}
// Back or Forward moved onto an entry: the chat it names (Forward, a group still ours), or none.
function chatFromHistory() {
  const gid = chatEntry();
  if (gid && S.authed && S.groups.has(gid)) { if (S.current !== gid) openGroup(gid); }
  else if (S.current) closeChat();
}

function focusChat() {
  const box = $("#composer-text");
  if (box && !box.disabled) { box.focus(); return; }
  const messages = $("#messages");
  if (messages) { messages.tabIndex = -1; messages.focus(); }
}

function renderChat() {
  const chat = $("#chat");
  if (!chat) return;
  const old = $("#composer-text");
  // A redraw of the same chat (a language switch) keeps what was typed, the focus and the reader's
  // place; a chat opened afresh starts at the bottom.
  const same = !!old && !!S.current && chat.dataset.gid === S.current;
  const typed = same ? old.value : typedFor(cur());
  const kept = same ? { focused: document.activeElement === old, start: old.selectionStart, end: old.selectionEnd,
    bottom: nearBottom(), top: $("#scroller") ? $("#scroller").scrollTop : 0 } : null;
  clear(chat);
  const g = cur();
  chat.dataset.gid = g ? g.group_id : "";
  if (!g) { chat.append(el("div", { class: "placeholder muted", text: t("pick_group") })); return; }
  const scroller = el("div", { id: "scroller", onscroll: () => {
    keepBottom = nearBottom();
    drawNewAbove(g);
    if (scroller.scrollTop < 40) loadOlder(g);
    if (keepBottom) { if (g.below) { g.below = 0; drawBelow(g); } if (!document.hidden) markRead(g); }
  } },
  el("div", { class: "older" }, el("button", { type: "button", class: "link", id: "load-earlier", text: g.noMore ? t("no_earlier") : t("load_earlier"),
    disabled: g.noMore, onclick: () => loadOlder(g) })),
  // A feed of articles, not a live log: a log read out every message redrawn (a reaction, an edit)
  // and every older page read back; the new ones are said on their own (announceArrival).
  el("div", { id: "messages", class: g.msgs.size > BIG_CHAT ? "big" : "", role: "feed", "aria-label": t("messages_of", { name: g.name }),
    onkeydown: feedKeys }),
  el("div", { id: "outbox" }));
  // The reader at the bottom stays there when the chat's height changes (a note above the
  // composer, a reply or files being added, the text box growing), so the last line is never hidden.
  // So does the reader when the messages grow in place (a reaction on the last one, a name that wraps).
  const keeper = new ResizeObserver(() => { if (keepBottom) scrollToBottom(); });
  keeper.observe(scroller);
  const below = el("button", { type: "button", id: "new-below", class: "primary small", hidden: true, onclick: () => {
    const keyed = document.activeElement === below;
    scrollToBottom();
    if (keyed) { const box = $("#composer-text:not([disabled])"); (box || $("#messages .msg:last-of-type") || $("#chat-head button")).focus(); }
  } });
  const above = el("button", { type: "button", id: "new-above", class: "primary small", hidden: true, onclick: () => jumpToNew(g) });
  // No maxlength: the browser's counts UTF-16 units (an emoji as two) and cuts silently. The server
  // counts characters; the count shows near the limit and a longer text is refused here, kept as it is.
  const count = el("div", { id: "composer-count", class: "small", hidden: true });
  const text = el("textarea", { id: "composer-text", "aria-label": t("message"), rows: 1, placeholder: composerHint(), value: typed, enterkeyhint: "send",
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !composing(e)) { e.preventDefault(); submit(); } },
    oninput: () => { text.style.height = "auto"; text.style.height = Math.min(text.scrollHeight, 160) + "px"; drawCount(text, count); keepTyped(g, text.value); } });
  const submit = () => {
    const v = text.value;
    if ((!v.trim() && !hasFiles(g)) || composerBlocked(g) || slowWait(g) > 0) return;
    if (drawCount(text, count)) { toast(t("text_too_long", { n: charCount(v), max: LIMITS.text }), "error"); return; }
    text.value = ""; text.style.height = "auto"; drawCount(text, count); keepTyped(g, "");
    sendMessage(g, v);
  };
  const picker = attachMentionPicker(g, text);
  const [fileInput, attachBtn] = filePicker(g, () => composerBlocked(g));
  chat.append(
    el("header", { id: "chat-head" }),
    el("div", { id: "announce", hidden: true, role: "button", tabindex: 0, onclick: () => foldAnnouncement(g),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); foldAnnouncement(g); } } }),
    el("div", { id: "pin-bar", class: "row", hidden: true }),
    el("div", { id: "scroll-wrap" }, scroller, above, below),
    el("form", { id: "composer", onsubmit: (e) => { e.preventDefault(); submit(); } },
      el("div", { id: "composer-note", hidden: true }),
      count,
      el("div", { id: "slow-note", class: "muted small", hidden: true }),
      el("div", { id: "reply-bar", class: "row", hidden: true }),
      el("div", { id: "attach-tray", class: "row wrap", hidden: true }),
      picker,
      el("div", { class: "row" }, fileInput, attachBtn, text, el("button", { type: "submit", class: "primary", id: "send-btn", text: t("send"),
        // (a press keeps the focus in the text box: on a phone the keyboard stays up for the next message)
        onmousedown: (e) => { if (document.activeElement === text) e.preventDefault(); } }))));
  renderChatHead();
  drawReply(g);
  drawTray(g);
  const box = $("#messages");
  keeper.observe(box);
  // The messages and the group's lines, in order (a line sits after the message it came after).
  const lines = g.sys || [];
  const items = [...[...g.msgs.keys()].map((seq) => [seq, () => messageNode(g, g.msgs.get(seq))]),
    ...lines.map((l) => [l.key, () => sysNode(l)])].sort((a, b) => a[0] - b[0]);
  for (const [, make] of items) box.append(make());
  for (const item of S.outbox) if (item.gid === g.group_id) $("#outbox").append(pendingNode(item));
  drawCount(text, count);
  if (typed) { text.style.height = "auto"; text.style.height = Math.min(text.scrollHeight, 160) + "px"; }
  updateComposer();
  drawNewMark(g);
  if (kept && !kept.bottom) scroller.scrollTop = kept.top; else { scrollToBottom(); g.below = 0; }
  keepBottom = nearBottom();
  drawBelow(g);
  drawNewAbove(g);
  if (kept && kept.focused && !text.disabled) { text.focus(); text.setSelectionRange(kept.start, kept.end); }
  if (!document.hidden && nearBottom()) markRead(g);
}

// The composer's hint: at phone width the keyboard hint (Enter sends, Shift+Enter for a new line)
// neither fits nor applies to a touch keyboard, so it says only what the box is for.
const PHONE = window.matchMedia("(max-width: 720px)");
function composerHint() { return t(PHONE.matches ? "composer_placeholder_short" : "composer_placeholder"); }
PHONE.addEventListener("change", () => { const box = $("#composer-text"); if (box) box.placeholder = composerHint(); });

function renderChatHead() {
  const g = cur();
  const head = $("#chat-head");
  if (!g || !head) return;
  // Drawn in place (morph): the head is drawn again when the group's details come (after a chat
  // opens, and after every catch-up) and on each count; a press on Manage or Search begun before
  // such a redraw and released after it still clicks (with new nodes, the browser fired no click).
  const count = g.info ? t("member_count_max", { n: g.info.member_count, max: g.info.max_members }) : "";
  morphKids(head, [
    el("button", { type: "button", class: "icon back", id: "btn-back", "aria-label": t("back"), text: "‹",
      onclick: () => { if (chatEntry()) history.back(); else closeChat(); } }),
    el("div", { class: "grow clip" }, el("h2", { class: "clip", id: "chat-title", text: g.name }),
      el("div", { class: "muted small clip" }, el("span", { text: t("group_id") + " " }), el("span", { class: "mono", id: "chat-gid", text: g.group_id }),
        count ? " · " + count : "")),
    el("button", { type: "button", class: "icon", id: "btn-search", title: t("search"), "aria-label": t("search"), onclick: () => openSearch(g) },
      el("img", { src: "/search.svg", alt: "", class: "ico" })),
    el("button", { type: "button", class: "ghost", id: "btn-manage", onclick: () => openManage(g),
      text: g.role === "member" ? t("members") : t("manage") }, g.requests > 0 ? el("span", { class: "badge req", text: "+" + g.requests }) : null)]);
  const ann = $("#announce");
  const text = g.info ? g.info.announcement : "";
  ann.hidden = !text;
  // Folded to one line at a press (a phone's keyboard leaves little room); a new announcement unfolds.
  const folded = !!text && g.annFolded === text;
  ann.classList.toggle("folded", folded);
  ann.setAttribute("aria-expanded", String(!folded));
  ann.title = t(folded ? "announcement_unfold" : "announcement_fold");
  morphKids(ann, text ? [el("strong", { text: t("announcement") + t("colon") }), el("span", { class: "ann-text", text })] : []);
  drawPinBar(g);
}

function foldAnnouncement(g) {
  const text = g.info ? g.info.announcement : "";
  if (window.getSelection && String(window.getSelection())) return;   // (selecting its text to copy)
  g.annFolded = g.annFolded === text ? null : text;
  renderChatHead();
}

function isMine(m) { return !!(S.me && m.sender && m.sender.user_id === S.me.user_id); }

function messageNode(g, m) {
  const mine = isMine(m);
  const sender = m.sender || { display_name: t("unknown_user"), role: "member" };
  const pinned = (g.pinned || []).includes(m.seq);
  const body = m.deleted ? el("div", { class: "text deleted", text: deletedText(m) })
    : el("div", { class: "body" }, quoteNode(g, m), m.text ? textNode(g, m) : null, attachmentsNode(g, m));
  const mentioned = !m.deleted && mentionsMe(m);
  const cls = "msg" + (mine ? " mine" : "") + (m.deleted ? " is-deleted" : "") + (mentioned ? " mention-me" : "") + (pinned ? " is-pinned" : "");
  // (an article a screen reader steps through, named by who and when; focusable from a script, so that
  // a jump to it or a recall that left it no control puts the focus on it)
  const label = t("message_label", { name: sender.display_name, time: fmtTime(m.ts) }) + (mentioned ? t("mentions_you_said") : "");
  const node = el("div", { class: cls, "data-seq": m.seq, "data-key": m.seq, role: "article", tabindex: -1, "aria-label": label },
    el("div", { class: "meta" }, el("span", { class: "who", text: sender.display_name }), roleTag(sender.role),
      el("time", { text: fmtTime(m.ts), datetime: new Date(m.ts).toISOString() }),
      m.edited_at && !m.deleted ? el("span", { class: "edited", title: fmtTime(m.edited_at), text: t("edited") }) : null,
      pinned ? el("img", { class: "pin-mark", src: "/pin.svg", alt: t("pinned"), title: t("pinned") }) : null),
    el("div", { class: "bubble" }, body,
      m.deleted ? null : el("button", { type: "button", class: "more", "aria-label": t("message_menu_of", { name: sender.display_name, time: fmtTime(m.ts) }),
        title: t("message_menu"), text: "⋯", onclick: () => messageActions(g, m) })),
    m.deleted ? null : reactionsNode(g, m));
  // On a phone a long press on the message opens its menu, as in every chat app (the ⋯ stays).
  if (!m.deleted) onLongPress(node.querySelector(".bubble"), () => messageActions(g, g.msgs.get(m.seq) || m));
  return node;
}

// A message changed in place (edited, reacted to, deleted, pinned): redrawn where it is, no scrolling.
function replaceMessage(g, m) {
  g.msgs.set(m.seq, m);
  if (m.seq === g.lastSeq) { g.preview = listLine(m); renderGroups(); }
  if (g.group_id !== S.current) return;
  const old = document.querySelector(`#messages .msg[data-seq="${m.seq}"]`);
  // (a keyboard user's place: the same control of the message drawn anew)
  if (old) keepingFocus(old, () => old.replaceWith(messageNode(g, m)));
}

// Message seq changed (edited, recalled, or found changed after a reconnect): wherever else it is
// shown follows: the quotes of replies to it, the pin bar, the reply being written.
function echoChange(g, seq, change = {}) {
  quoteChanged(g, seq, change);
  editChanged(g, seq, { ...(g.msgs.get(seq) || {}), ...change });   // (after a reconnect: as history has it now)
  hitsChanged(g, seq);
  const d = g.draft;
  if (d && d.replyTo && d.replyTo.seq === seq) {
    d.replyTo = g.msgs.get(seq) || { ...d.replyTo, ...change };
    if (g.group_id === S.current) drawReply(g);
  }
  if (g.group_id === S.current && (g.pinned || []).includes(seq)) drawPinBar(g);
}

// A line about the group (a join, a mute, a new setting) between its messages. Kept with the group
// (the last SYS_KEPT), also while another chat is open, and drawn again with the chat: opening the
// group again, or switching the language (``say`` words it in the language of the moment).
const SYS_KEPT = 100;
function sysLine(g, say) {
  const line = { key: g.lastSeq + 0.5, say };
  (g.sys ||= []).push(line);
  if (g.sys.length > SYS_KEPT) g.sys.splice(0, g.sys.length - SYS_KEPT);
  if (g.group_id !== S.current) return;
  const box = $("#messages");
  if (!box) return;
  const atBottom = nearBottom();
  box.append(sysNode(line));
  if (atBottom) scrollToBottom();
  sayNew(line.say());   // (the list is no live region: the group's news is said as new messages are)
}

function sysNode(line) { return el("div", { class: "sys", "data-key": line.key, text: line.say() }); }

function nearBottom() { const s = $("#scroller"); return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 60; }
// nearBottom as it was at the start of this task: a page of history or a catch-up adds hundreds of
// messages in one go, and measuring after each insert laid the whole chat out again each time (at
// 3,000 messages held, 40% of a page's time). Adding messages does not change it within the task: one
// at the bottom keeps it (the view follows), one above or below an unfollowed view leaves it false.
let bottomNow = null;
function nearBottomOnce() {
  if (bottomNow === null) { bottomNow = nearBottom(); queueMicrotask(() => { bottomNow = null; }); }
  return bottomNow;
}
function scrollToBottom() { const s = $("#scroller"); if (s) { s.scrollTop = s.scrollHeight; keepBottom = true; if (bottomNow === false) bottomNow = true; } }
// scrollToBottom once at the end of this task, however many messages it adds: each one's read of the
// chat's height laid out every message held again (at 7,000 held, 80% of reading back a page of 500).
let bottomQueued = false;
function scrollToBottomOnce() {
  if (bottomNow === false) bottomNow = true;
  keepBottom = true;
  if (bottomQueued) return;
  bottomQueued = true;
  queueMicrotask(() => { bottomQueued = false; scrollToBottom(); });
}

// "New messages below": shown while the reader is scrolled up and messages from others arrived
// since (also at phone width, where the group list and its unread count are out of sight); a click
// scrolls to the newest, and reaching the bottom in any way hides it.
function drawBelow(g) {
  const b = $("#new-below");
  if (!b || g.group_id !== S.current) return;
  b.hidden = !g.below;
  b.textContent = g.below === 1 ? t("new_below_one") : t("new_below", { n: g.below || 0 });
}

// The messages that were unread when the chat was opened: a line above the first of them ("new
// messages"), once the page holds the messages on both sides of it, and while that line is not on
// screen above the reader a "↑ N new messages" button that reads back to it. Opening a group with
// hundreds unread showed its newest page only and counted them all read, with nothing to say where
// they began (the web review). The line stays for this opening; the next one starts afresh.
function newMarkPlaceable(g) {
  if (g.newFrom === null || g.newFrom === undefined) return false;
  const held = [...g.msgs.keys()];
  return held.some((seq) => seq > g.newFrom) && (g.noMore || held.some((seq) => seq <= g.newFrom));
}
function drawNewMark(g) {
  const box = g.group_id === S.current ? $("#messages") : null;
  if (!box) return;
  const was = $("#new-mark");
  if (!newMarkPlaceable(g)) { if (was) was.remove(); return; }
  if (was && Number(was.dataset.key) === g.newFrom + 0.25) return;
  if (was) was.remove();
  insertByKey(box, el("div", { id: "new-mark", class: "new-mark", "data-key": g.newFrom + 0.25, role: "separator",
    text: t("new_from_here") }), g.newFrom + 0.25);
}
function drawNewAbove(g) {
  const b = $("#new-above");
  if (!b || g.group_id !== S.current) return;
  const mark = $("#new-mark"), s = $("#scroller");
  // (measured only until the line has been seen: this runs at every scroll, and each measure lays the chat out)
  if (!g.newSeen && mark && s && mark.getBoundingClientRect().bottom >= s.getBoundingClientRect().top) g.newSeen = true;
  b.hidden = g.newFrom === null || g.newFrom === undefined || g.newSeen || g.newCount <= 0;
  b.textContent = t("new_above", { n: g.newCount || 0 });
}
async function jumpToNew(g) {
  await readBackWhile(g, () => !newMarkPlaceable(g) && !g.noMore);
  drawNewMark(g);
  const mark = $("#new-mark");
  if (!mark) { toast(t("message_too_far"), "error"); return; }
  mark.scrollIntoView({ block: "start" });
  g.newSeen = true;
  drawNewAbove(g);
  const first = mark.nextElementSibling;
  if (first && first.classList.contains("msg")) first.focus({ preventScroll: true });
}

// The composer's count of characters: shown from 90% of the limit, and as a warning past it. True
// when the text is too long to send. Said to a screen reader only as it changes zone (near the limit,
// over it): as a live region it was read out again at every key typed near the limit.
function drawCount(box, node) {
  const n = box.value.length < LIMITS.text * 0.9 ? 0 : charCount(box.value);   // never more characters than UTF-16 units
  const over = n > LIMITS.text;
  node.hidden = n < LIMITS.text * 0.9;
  node.className = "small " + (over ? "count-over" : "muted");
  node.textContent = node.hidden ? "" : over ? t("text_too_long", { n, max: LIMITS.text }) : t("char_count", { n, max: LIMITS.text });
  const zone = node.hidden ? "" : over ? "over" : "near";
  if (zone !== (node.dataset.zone || "") && zone) announce(node.textContent);
  node.dataset.zone = zone;
  return over;
}

// Store a message (from history, an ack or an event) and show it in seq order. uncounted: m is
// below countedTo but not in the count (a held message released, a message the live events skipped).
function addMessage(g, m, uncounted = false) {
  const known = g.msgs.has(m.seq);
  const fresh = !known && m.seq > g.lastSeq;   // newer than all the page holds (not history read back)
  g.msgs.set(m.seq, m);
  if (m.seq >= g.lastSeq) { g.lastSeq = m.seq; g.preview = listLine(m); }
  // firstSeq is where the contiguous window the page holds starts ("load earlier" pages from it):
  // history pages move it (catchUp, loadOlder), a single message only starts it. A held message
  // released by an operator keeps its old, lower seq: taking that for the window's start would
  // skip everything between it and the window when scrolling back.
  if (g.firstSeq === null) g.firstSeq = m.seq;
  const current = g.group_id === S.current;
  const reading = current && !document.hidden && nearBottomOnce();
  const newer = m.seq > g.countedTo;   // new since the server's count: count it here
  if (newer) g.countedTo = m.seq;
  if ((newer || (uncounted && !known)) && isUnread(g, m) && !reading) {
    g.unread++;
    if (mentionsMe(m)) { g.mentioned = true; mentionToast(g, m); }
  }
  if (current) {
    const box = $("#messages");
    if (box) {
      const atBottom = nearBottomOnce();
      const node = messageNode(g, m);
      const old = known ? box.querySelector(`.msg[data-seq="${m.seq}"]`) : null;
      if (old) old.replaceWith(node);
      else insertByKey(box, node, m.seq);
      if (g.msgs.size > BIG_CHAT && !box.classList.contains("big")) box.classList.add("big");
      // (my own new message: to the bottom; not one of mine in an older page read back, or released)
      if (fresh && !isMine(m) && !m.deleted) sayArrived(m);
      if (atBottom || (isMine(m) && fresh)) scrollToBottomOnce();
      else if (fresh && !m.deleted) { g.below = (g.below || 0) + 1; drawBelow(g); }
    }
    if (!document.hidden && nearBottomOnce()) markRead(g);
  }
  renderGroups();
}

// The feed's keys (as a screen reader's feed expects them): Page Down / Page Up from the message
// the focus is in to the next or previous one, Ctrl+End out to the composer, Ctrl+Home up to the
// chat's first control: a chat's hundreds of ⋯ need not be tabbed through.
function feedKeys(e) {
  const here = e.target.closest && e.target.closest("#messages .msg");
  if (!here) return;
  let to = null;
  if ((e.key === "PageDown" || e.key === "PageUp") && !e.ctrlKey) {
    const step = e.key === "PageUp" ? "previousElementSibling" : "nextElementSibling";
    for (to = here[step]; to && !to.classList.contains("msg"); to = to[step]);   // (past the group's news lines)
  } else if (e.key === "End" && e.ctrlKey) to = $("#composer-text:not([disabled])") || $("#chat-head button");
  else if (e.key === "Home" && e.ctrlKey) to = $("#load-earlier:not([disabled])") || $("#chat-head button");
  if (!to) return;
  e.preventDefault();
  to.focus();
  if (to.classList.contains("msg")) to.scrollIntoView({ block: "nearest" });
}

function sayArrived(m) {
  const name = m.sender ? m.sender.display_name : t("unknown_user");
  sayNew(t("message_said", { name, text: previewText(m) }) + (mentionsMe(m) ? t("mentions_you_said") : ""));
}
function sayNew(text) { announceArrival(text, (n, last) => t("messages_said", { n, last })); }

// In key order (after the lines of an equal key), walking from the nearer end: an older page read
// back goes in at the top one message at a time, and a walk from the bottom past everything held
// made each page cost as much as all the pages before it.
function insertByKey(box, node, key) {
  const first = box.firstElementChild, last = box.lastElementChild;
  if (!last || Number(last.dataset.key) <= key) { box.append(node); return; }
  if (key - Number(first.dataset.key) < Number(last.dataset.key) - key) {
    let before = first;
    while (Number(before.dataset.key) <= key) before = before.nextElementSibling;   // (last's key is above key)
    box.insertBefore(node, before);
    return;
  }
  let after = last;
  while (after && Number(after.dataset.key) > key) after = after.previousElementSibling;
  if (after) after.after(node); else box.prepend(node);
}

// "X mentioned you" waits a moment (MENTION_TOAST_MS) before it shows: another device of mine
// showing that chat marks it read at once (markRead, 200 ms), and its read_marker reaching this page
// meanwhile keeps the toast away (the phone stays quiet while the laptop reads), as does this page
// scrolling to it. The list's @ mark is set at once either way.
const MENTION_TOAST_MS = 1200;
function mentionToast(g, m) {
  setTimeout(() => {
    const now = g.msgs.get(m.seq);   // (a recall replaces the page's copy)
    if (S.groups.get(g.group_id) === g && m.seq > g.readSeq && now && !now.deleted) {
      toast(t("mentioned_you", { name: m.sender.display_name, group: g.name }));
    }
  }, MENTION_TOAST_MS);
}

// The user has seen the newest message: tell the server (once per burst), which tells our other devices.
function markRead(g) {
  if (g.lastSeq > g.readSeq) {
    g.readSeq = g.lastSeq;
    keepMark(g.group_id, g.readSeq);   // (until the server has it: a page closed meanwhile loses no read)
    clearTimeout(g.markTimer);
    g.markTimer = setTimeout(() => {
      if (S.authed && S.groups.get(g.group_id) === g) sendKeptMark(g.group_id, g.readSeq);
    }, 200);
  }
  if (g.unread || g.mentioned) { g.unread = 0; g.mentioned = false; renderGroups(); }
}
// A mark refused for good (the group gone, or left) is kept no more; one refused for the moment (the
// store, a cluster's home node failing over) is sent again a little later, while the same user is
// signed in (never on the next user's connection); one the connection lost stays kept, and the
// reconnect's start sends it (afterAuth). Once stored, the page counts it as if read on another
// device of theirs: a kept mark sent again at a start may land after that start read its counts.
const MARK_REFUSED_FOR_GOOD = ["not_found", "not_member", "group_closed", "bad_request"];
function sendKeptMark(gid, seq, tries = 0, uid = S.me ? S.me.user_id : null) {
  const same = () => uid !== null && S.authed && S.me && S.me.user_id === uid;
  return api("mark_read", { group_id: gid, seq }).then(() => {
    if (!same()) return;
    markSent(gid, seq);
    const g = S.groups.get(gid);
    if (g) readElsewhere(g, seq);
  }, (e) => {
    if (!same()) return;
    if (MARK_REFUSED_FOR_GOOD.includes(e.code)) markSent(gid, seq);
    else if (e.code !== "disconnected" && tries < 3) {
      setTimeout(() => { if (same()) sendKeptMark(gid, seq, tries + 1, uid); }, 2000 * (tries + 1));
    }
  });
}

// read_marker: another of our devices read up to seq.
function readElsewhere(g, seq) {
  if (seq <= g.readSeq && g.unread === 0) return;
  g.readSeq = Math.max(g.readSeq, seq);
  let n = 0;
  for (const m of g.msgs.values()) if (isUnread(g, m)) n++;
  g.unread = Math.min(g.unread, n);
  if (!g.unread) g.mentioned = false;
  else if (g.mentioned) recountSoon();   // the mention may be among those read: the server says
  renderGroups();
}

// Whether message m is one of those `unread` counts: from someone else, not deleted, in
// (readSeq, countedTo].
function isUnread(g, m) {
  return m.seq > g.readSeq && m.seq <= g.countedTo && !m.deleted && !isMine(m);
}

// message_deleted (recalled by its sender, deleted by a manager, removed by the platform): a message
// the count held counts no more. m: the page's copy as it was before (the page holds it deleted
// already, so a look for another mention skips it). One the page does not hold (below the newest
// page it read) may or may not be in the count (my own, or one a skipped span left out): the
// server's count, which leaves out what is deleted, is read again, once for a burst of deletions
// (the platform's remove-term hides many at once), not one lookup per message.
function uncountDeleted(g, seq, m) {
  // (my_groups read a moment ago may have counted after the deletion already: read it again)
  const recent = Date.now() - g.syncedAt < RECENT_SYNC_MS;
  if (m && !recent) { if (isUnread(g, m)) uncount(g, mentionsMe(m)); return; }
  if (g.unread && seq > g.readSeq && seq <= g.countedTo) recountSoon();
}
const RECENT_SYNC_MS = 2000;

const RECOUNT_DELAY_MS = 500;
let recountTimer = null;
function recountSoon() {
  if (recountTimer !== null) return;
  recountTimer = setTimeout(() => {
    recountTimer = null;
    recount().catch(() => {});   // (not read now: the next sync reads it)
  }, RECOUNT_DELAY_MS);
}

// The unread counts as my_groups has them now.
async function recount() {
  const r = await api("my_groups");
  for (const x of r.groups) {
    const g = S.groups.get(x.group_id);
    if (g && x.last_seq !== undefined) takeReadState(g, x);
  }
  renderGroups();
}

// The server's read state of g in a my_groups answer x (shared by all our devices): its count of
// the unread up to last_seq, plus those the page holds above it (come live while the answer was on
// its way: counted here already, then overwritten). A read point never goes back: this page's own
// mark_read may not have landed when the answer was made (it waits 200 ms), and taking the answer's
// older point counted the group unread again, then sent that point as the mark. When the page has
// read past the answer's point, the answer's count holds what it read: the page counts what it holds,
// and what it does not hold yet is not counted (countedTo stays at the page's newest), so each that
// comes later, live or read again after a gap, counts as it comes.
function takeReadState(g, x) {
  const point = x.read_seq ?? g.readSeq, last = x.last_seq ?? g.lastSeq;
  const ahead = g.readSeq > point;
  g.readSeq = Math.max(g.readSeq, point);
  g.countedTo = ahead ? g.lastSeq : Math.max(last, g.lastSeq);
  g.unread = ahead ? 0 : x.unread ?? 0;
  g.mentioned = g.unread > 0 && x.mentioned === true;   // [ext] an unread message mentions me
  g.synced++;
  g.syncedAt = Date.now();
  for (const m of g.msgs.values()) {
    if ((ahead || m.seq > last) && isUnread(g, m)) {
      g.unread++;
      if (mentionsMe(m)) g.mentioned = true;
    }
  }
}

// One unread message less; if it mentioned me, the flag stays only if another unread one does
// (my_groups says: read again).
function uncount(g, mentioned) {
  g.unread = Math.max(0, g.unread - 1);
  if (!g.unread) g.mentioned = false;
  else if (mentioned && g.mentioned) recountSoon();
  renderGroups();
}

async function loadOlder(g, limit = PAGE) {
  if (g.noMore || g.loadingOlder || !S.authed || g.group_id !== S.current) return false;
  g.loadingOlder = true;
  try {
    const from = g.firstSeq;
    const args = { group_id: g.group_id, limit };
    if (from !== null) args.before_seq = from;
    const asked = liveTick;
    const r = await api("history", args);
    // The window moved meanwhile (the group opened again and trimmed, or a reconnect's catch-up let
    // older messages go): this page is older than its new start, and taken it would leave a gap.
    if (g.firstSeq !== from) return false;
    if (r.messages.length < limit) g.noMore = true;
    // The first message on screen kept where it is, measured around the insert: the chat's height
    // taken before the request counted the messages that came meanwhile (added below) as if added
    // above, and threw the reader forward by their height; and the browser's own scroll anchoring,
    // when the page was not at its top, had already moved the view once.
    keepView(g, () => { for (const m of r.messages) fromHistory(g, m, asked); drawNewMark(g); });
    if (r.messages.length) g.firstSeq = Math.min(g.firstSeq ?? Infinity, r.messages[0].seq);
    if (g.group_id === S.current) {
      const b = $("#load-earlier");
      if (b && g.noMore) {
        const focused = document.activeElement === b;
        b.textContent = t("no_earlier"); b.disabled = true;
        // (a disabled button drops the focus to the page: the keyboard user goes on at the oldest message)
        const first = focused ? $("#messages .msg") : null;
        if (first) first.focus({ preventScroll: true });
      }
    }
    return true;
  } catch (e) {
    if (e.code !== "disconnected") toast(errorText(e), "error");
    return false;
  } finally { g.loadingOlder = false; }
}

// Show message seq (from a reply's quote, a pin or a search hit): older pages are loaded until it
// is there, then it is scrolled to and flashes.
// A message to show (a search hit, a quote, a pin): the pages before it are read back, the server's
// largest (500), up to JUMP_PAGES of them (20,000 messages); one further back is said to be out of reach
// here, not gone.
const JUMP_PAGES = 40;
// Older pages read back, the server's largest, while more() says so, up to JUMP_PAGES of them (a jump to a
// message, or to where the unread messages began).
async function readBackWhile(g, more) {
  for (let i = 0; i < JUMP_PAGES && more(); i++) {
    while (g.loadingOlder) await new Promise((r) => setTimeout(r, 50));
    if (!(await loadOlder(g, 500))) break;
  }
}
async function jumpTo(g, seq) {
  const started = document.activeElement;   // (where the focus is as the jump starts: a dialog closed, it is back on its opener)
  if (g.group_id !== S.current) await openGroup(g.group_id);
  const behind = () => !g.msgs.has(seq) && !g.noMore && g.firstSeq !== null && seq < g.firstSeq;
  await readBackWhile(g, behind);
  const node = document.querySelector(`#messages .msg[data-seq="${seq}"]`);
  if (!node) { toast(t(behind() ? "message_too_far" : "message_gone"), "error"); return; }
  node.scrollIntoView({ block: "center" });
  // (a keyboard or screen-reader user is taken there too, unless they went on meanwhile: a jump far
  // back reads pages first)
  focusIfIdle(node, started);
  node.classList.remove("flash");
  void node.offsetWidth;   // restart the animation
  node.classList.add("flash");
}

// ------------------------------------------------------------------ sending
function composerBlocked(g) { return postingBlocked(g); }

// Slow mode binds plain members only (and a manager whose powers are suspended): ms until their next
// message may go (0: now).
function slowWait(g) {
  if (!g.slowMode || actingRole(g) !== "member") return 0;
  return Math.max(0, g.slowUntil - Date.now());
}

function updateComposer() {
  const g = cur();
  const note = $("#composer-note");
  if (!g || !note) return;
  const until = myMuteUntil(g);
  let text = "";
  if (g.suspendedUntil > serverNow()) text = t("suspended_until", { until: fmtTime(g.suspendedUntil) });
  else if (until) text = t("muted_until", { until: fmtTime(until) });
  else if (g.muteAll && actingRole(g) === "member") text = t("muted_all");
  note.hidden = !text;
  note.textContent = text;
  document.body.classList.toggle("composer-blocked", !!text);
  const wait = slowWait(g);
  const slow = $("#slow-note");
  slow.hidden = !(g.slowMode && actingRole(g) === "member");
  slow.textContent = slow.hidden ? "" : t("slow_note", { d: fmtSeconds(g.slowMode) }) + (wait ? " " + t("slow_wait", { s: Math.ceil(wait / 1000) }) : "");
  const box = $("#composer-text");
  box.disabled = !!text;
  box.placeholder = text ? t("composer_closed") : composerHint();   // (why: in the note above, said once)
  if (text) box.setAttribute("aria-describedby", "composer-note"); else box.removeAttribute("aria-describedby");
  $("#attach-btn").disabled = !!text;
  $("#send-btn").disabled = !!text || wait > 0;
  clearTimeout(updateComposer.timer);
  const next = Math.max(until, g.suspendedUntil) - serverNow();
  if (wait > 0) updateComposer.timer = setTimeout(updateComposer, Math.min(1000, wait + 50));
  else if (next > 0 && next < 2 ** 31) updateComposer.timer = setTimeout(updateComposer, next + 200);
}

// The outbox: what the user sent that the server has not stored yet, in the order it was sent,
// each shown at the end of its chat until it is. An item is
//   queued  - its turn has not come (an earlier message of the group is on its way), or the page is offline;
//   sending - sent, no answer yet (a dropped connection sends it again after the reconnect);
//   waiting - refused as too fast (`rate_limited` with `retry_after_ms`): sent again once, after that
//             delay; or answered `internal` (the server does not know whether it was stored: a
//             cluster's home node changing under it, a store that did not answer): sent again, with
//             the same client_msg_id, after UNSURE_MS[0], [1], ... (with jitter), and at once when a
//             message of mine that says the same arrives (settleOwn): a copy stored after all answers
//             with its seq, so it is never stored twice;
//   failed  - refused for a reason waiting will not cure (content_blocked, muted, group_suspended,
//             too_large, ...), or too fast again, or `internal` after the last of UNSURE_MS, or a
//             file of it could not be uploaded (`unsent`, each named with why): it stays in the chat
//             with the reason and Retry (which uploads such files again first), Edit (the text,
//             reply and files back into the composer) and Discard. Nothing the user typed or
//             attached is ever dropped without their say.
// Why an item failed (`error`) is kept as the server's code and reason (keptError), or {key} of a
// reason of the page's own, or {unsent: true}, and worded when drawn (failText): in the language of
// the moment, also after a reload or a switch of language.
// A file still uploading when the connection drops goes on after the reconnect (media.js): the
// message waits for it, "sending".
// A group's messages go one at a time, in order: the next is sent only once the one before is stored
// or has failed, so none overtakes another, not even one waiting for its automatic retry. Every
// attempt of a message carries its client_msg_id: a retry whose first try was stored after all (the
// answer lost with the connection) gets the first one's seq, and a refused try does not use the id up.
const UNSURE_MS = [1000, 2000, 4000];
function sendMessage(g, text) {
  const d = draft(g);
  const files = d.files.map((f) => f.file.name);
  // A failed message taken back with Edit and sent unchanged is the same message: it keeps its
  // client_msg_id, so one the server stored after all (its answer was `internal`) is not stored twice.
  const cmid = sameAsEdited(d, text) ? d.edited.cmid : newId();
  undone(cmid);
  const item = { gid: g.group_id, text, cmid, at: Date.now(), state: "queued", error: null, files, extras: null, unsent: [], retried: false, unsure: 0, timer: null };
  item.ready = takeExtras(g, text).then((x) => { item.extras = x.extras; item.unsent = x.unsent; saveOutbox(); });
  S.outbox.push(item);
  if (g.group_id === S.current) { $("#outbox").append(pendingNode(item)); scrollToBottom(); }
  pump(g.group_id);
}

// What is typed in group g's composer, kept with the group (kept.js); the list shows it as 草稿.
function keepTyped(g, text) { if (keepDraft(g, text)) renderGroups(); }

// Another tab discarded or sent a failed message this one took in: it goes from here too.
window.addEventListener("storage", (e) => {
  if (!e.key || e.key !== doneKey()) return;
  const shared = sharedDone();
  for (const item of S.outbox.filter((x) => x.state === "failed" && shared.has(x.cmid))) dropPending(item);
});

// Whether the composer's draft holds a failed message taken back with Edit as it was: the same text,
// reply and attachments.
function sameAsEdited(d, text) {
  const was = d.edited;
  if (!was || was.text !== text) return false;
  if ((d.replyTo ? d.replyTo.seq : null) !== (was.extras.reply_to ?? null)) return false;
  const ids = (list) => list.map((a) => (a ? a.media_id : null)).join();
  return ids(d.files.map((f) => f.result)) === ids(was.extras.attachments || []);
}


// Send the group's first unsent message, unless one of its messages is on its way or waiting.
function pump(gid) {
  if (!S.authed) return;   // flushOutbox starts again after the reconnect
  const head = S.outbox.find((x) => x.gid === gid && x.state !== "failed");
  if (head && head.state === "queued") trySend(head);
}

function pendingNode(item) {
  const failed = item.state === "failed";
  const status = failed ? t("send_failed", { reason: failText(item) })
    : item.state === "waiting" ? t(item.waitKey || "send_waiting", { s: Math.max(1, Math.ceil(item.wait / 1000)) }) : t("sending");
  return el("div", { class: "msg mine pending" + (failed ? " failed" : ""), "data-cmid": item.cmid, "data-state": item.state },
    el("div", { class: "bubble" }, item.text ? el("div", { class: "text", text: item.text }) : null,
      item.files.length ? el("div", { class: "muted small", text: "📎 " + item.files.join(", ") }) : null,
      el("small", { class: failed ? "send-error" : "muted", role: failed ? "alert" : null, text: status }),
      failed ? el("div", { class: "row tight send-actions" },
        el("button", { type: "button", class: "ghost small send-retry", text: t("send_retry"), onclick: () => retryItem(item) }),
        el("button", { type: "button", class: "ghost small send-edit", text: t("send_edit"), onclick: () => editItem(item) }),
        el("button", { type: "button", class: "ghost small send-discard", text: t("send_discard"), onclick: () => dropPending(item) })) : null));
}

// The item's bubble drawn again (its state changed), the reader kept at the bottom if they were.
function redrawPending(item) {
  const node = document.querySelector(`.pending[data-cmid="${item.cmid}"]`);
  if (!node) return;
  const atBottom = nearBottom();
  node.replaceWith(pendingNode(item));
  if (atBottom) scrollToBottom();
}

// A failed message's bubble about to go (Retry, Discard): the focus, when on one of its buttons, goes
// to the next failed message's Retry, or the composer, or the messages, never onto the page.
function focusPastPending(node) {
  if (!node || !node.contains(document.activeElement)) return;
  const next = [...document.querySelectorAll(".pending.failed .send-retry")].find((b) => !node.contains(b));
  const box = $("#composer-text");
  const target = next || (box && !box.disabled ? box : null) || $("#messages");
  if (target && target.id === "messages" && !target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  if (target) target.focus();
}

function dropPending(item) {
  clearTimeout(item.timer);
  S.outbox = S.outbox.filter((x) => x !== item);
  markDone(item.cmid);   // stored or discarded: no other tab's copy of it is kept either
  saveOutbox();
  const node = document.querySelector(`.pending[data-cmid="${item.cmid}"]`);
  focusPastPending(node);
  if (node) node.remove();
}

// Retry: the failed message goes again, with its client_msg_id, after whatever the group still has
// to send (it is moved to the end, where it will land). Files of it that could not be uploaded are
// uploaded again first (the message waits for them, "sending"); one this page no longer has (it was
// attached before a reload) cannot be: the message stays failed, and Edit lets it be attached again.
function retryItem(item) {
  if (item.state !== "failed") return;
  if (item.unsent.some((f) => !f.file)) { toast(unsentText(item), "error"); return; }
  if (item.unsent.length) item.ready = uploadAgain(item);
  Object.assign(item, { state: "queued", error: null, retried: false, unsure: 0 });
  S.outbox = S.outbox.filter((x) => x !== item);
  S.outbox.push(item);
  saveOutbox();
  const node = document.querySelector(`.pending[data-cmid="${item.cmid}"]`);
  focusPastPending(node);
  if (node) node.remove();
  if (item.gid === S.current && $("#outbox")) { $("#outbox").append(pendingNode(item)); scrollToBottom(); }
  pump(item.gid);
}

// Edit: the text goes back into the composer (after what is typed there, never over it), with its
// reply, mentions and files (one that could not be uploaded starts uploading again; one this page no
// longer has is named in a toast, to be attached again); the failed bubble goes.
function editItem(item) {
  const g = S.groups.get(item.gid);
  const box = $("#composer-text");
  if (!g || !box || g.group_id !== S.current) return;
  if (box.disabled) { toast(t("send_edit_blocked"), "error"); return; }   // kept: a closed composer would lose it
  dropPending(item);
  const alone = !box.value;
  box.value = box.value ? box.value + "\n" + item.text : item.text;
  restoreDraft(g, item.extras || {}, item.text);
  // Sent again unchanged, it keeps its client_msg_id (sendMessage); one the server may have stored
  // after all (`internal`) is said to be so: changed, it would be a second message.
  if (alone) draft(g).edited = { cmid: item.cmid, text: item.text, extras: item.extras || {} };
  if (unsure(item)) toast(t("send_edit_unsure"));
  for (const f of item.unsent) if (f.file) addFile(g, f.file);
  const lost = item.unsent.filter((f) => !f.file);
  if (lost.length) toast(unsentText({ unsent: lost }), "error");
  box.dispatchEvent(new Event("input"));
  if (!box.disabled) { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }
}

async function trySend(item) {
  if (!S.authed || item.state === "sending") return;
  const g = S.groups.get(item.gid);
  if (!g) { dropPending(item); return; }
  item.state = "sending";
  const extras = {};
  try {
    await item.ready;
    if (!S.outbox.includes(item)) { pump(item.gid); return; }   // dropped meanwhile (a logout, the group left)
    if (item.unsent.length) { failItem(item, { unsent: true }); pump(item.gid); return; }   // a file could not be uploaded
    Object.assign(extras, item.extras);
    if (!item.text.trim() && !extras.attachments) { dropPending(item); pump(item.gid); return; }   // nothing left to send
    const args = { group_id: item.gid, text: item.text, client_msg_id: item.cmid, ...extras };
    if (extras.attachments) args.attachments = extras.attachments.map((a) => a.media_id);
    const r = await api("send", args);
    dropPending(item);
    if (g.slowMode && actingRole(g) === "member") { g.slowUntil = Date.now() + g.slowMode * 1000; updateComposer(); }
    if (r.held) toast(t("held"));
    else if (!g.msgs.has(r.seq)) addMessage(g, { group_id: item.gid, seq: r.seq, ts: r.ts, text: item.text, ...extras,
      sender: { user_id: S.me.user_id, display_name: S.me.display_name, role: g.role } });
  } catch (e) {
    if (!S.outbox.includes(item)) { pump(item.gid); return; }   // dropped meanwhile (the group left, a logout)
    if (e.code === "disconnected") { item.state = "queued"; return; }   // sent again after the reconnect
    if (e.code === "muted") {
      if (e.reply.until) g.mutes.set(S.me.user_id, e.reply.until); else g.muteAll = true;
      updateComposer();
    } else if (e.code === "group_suspended" && e.reply.until) { learnSuspension(g, e.reply.until, e.reply.cause); updateComposer(); }
    else if (e.code === "rate_limited" && g.slowMode && e.reply.retry_after_ms) { g.slowUntil = Date.now() + e.reply.retry_after_ms; updateComposer(); }
    // (Not an @all over the group's hourly allowance: held for up to an hour, it would hold every later
    // message of the group behind it. It fails, to be edited or discarded.)
    // (told from the other rate limits, which it still waits out, by its wait: up to an hour)
    const allCapped = e.code === "rate_limited" && item.extras && item.extras.mention_all
      && e.reply.retry_after_ms > 60_000;
    if (e.code === "rate_limited" && e.reply.retry_after_ms > 0 && !item.retried && !allCapped) {
      // Too fast: sent again by itself after the delay; the group's later messages wait behind it.
      item.retried = true;
      hold(item, e.reply.retry_after_ms, "send_waiting");
      return;
    }
    if (e.code === "internal" && item.unsure < UNSURE_MS.length) {
      // Not known whether it was stored: sent again (same client_msg_id) after a moment; the group's
      // later messages wait behind it, as they would behind an answer that had not come yet.
      hold(item, UNSURE_MS[item.unsure++] * (0.75 + Math.random() * 0.5), "send_unsure");
      return;
    }
    // (api() offers the rules: state.js)
    if (e.code === "forbidden" && e.reply.agreement_version) { failItem(item, keptError(e), false); toast(t("agreement_needed"), "error"); }
    else failItem(item, keptError(e));
  }
  pump(item.gid);   // the group's next message, if any
}

// The item waits `ms` (its bubble says why, with text `key`), then goes again.
function hold(item, ms, key) {
  item.state = "waiting"; item.wait = ms; item.waitKey = key;
  clearTimeout(item.timer);
  item.timer = setTimeout(() => { if (item.state === "waiting") { item.state = "queued"; redrawPending(item); pump(item.gid); } }, ms + 50);
  redrawPending(item);
}

// Whether the server may have stored the item after all: its last answer was `internal`.
function unsure(item) {
  return item.state === "waiting" ? item.waitKey === "send_unsure" : !!(item.error && item.error.code === "internal");
}

function failItem(item, why, tell = true) {
  item.state = "failed";
  item.error = why;
  saveOutbox();
  redrawPending(item);
  if (tell) toast(t("send_failed", { reason: failText(item) }), "error");
}

// Why the item failed, in the language of the moment.
function failText(item) {
  const why = item.error;
  if (why && why.unsent) return unsentText(item);
  if (why && why.code === "internal") return t("send_unknown");
  return keptText(why);
}

// Why a message's files were not uploaded: each named, with its reason.
function unsentText(item) {
  return item.unsent.map((f) => t("upload_failed", { name: f.name, reason: keptText(f.error) })).join(" ");
}

// A message of mine came (`message` carries no client_msg_id): an outbox item the server may have
// stored after all (unsure: waiting for its next try, or failed after the last) whose text and
// attachments are the same may be that message. It goes again at once with its client_msg_id: the
// server answers with the stored copy's seq, and the item is settled as sent, its bubble gone; had
// the message been another with the same words, this one is stored now, as the user meant it to be.
function settleOwn(g, ev) {
  const ids = (list) => (list || []).map((a) => a.media_id).join();
  const item = S.outbox.find((x) => x.gid === g.group_id && x.extras && unsure(x) && x.text === (ev.text || "")
    && ids(x.extras.attachments) === ids(ev.attachments));
  if (!item) return;
  if (item.state === "waiting") { clearTimeout(item.timer); item.state = "queued"; redrawPending(item); pump(item.gid); }
  else retryItem(item);
}

// Retry of a message whose files could not be uploaded: each is uploaded again (going on through
// dropped connections as in the composer), and added to the message's attachments once done.
async function uploadAgain(item) {
  const still = [];
  for (const f of item.unsent) {
    try {
      const a = await upload(f.file, null, { stopped: () => !S.outbox.includes(item) });   // not once discarded
      item.extras = { ...item.extras, attachments: [...(item.extras.attachments || []), a] };
    } catch (e) { still.push({ ...f, error: keptError(e) }); }
  }
  item.unsent = still;
  saveOutbox();
}

// After a (re)connect: each group's messages go again, in order (failed ones wait for the user).
function flushOutbox() { for (const gid of new Set(S.outbox.map((x) => x.gid))) pump(gid); }

// ------------------------------------------------------------------ events
function gname(gid, fallback) { const g = S.groups.get(gid); return g ? g.name : fallback || gid; }
// Who a system line names: the name known now (the group's member list, else any list this page
// saw, else our own), kept; one unknown now (a group whose chat was never opened) is looked up again
// each time the line is drawn, once its member list has loaded, and only then said as 用户.
function uname(g, uid) {
  const now = namesOf(uid, g)[0];
  return () => now || namesOf(uid, g)[0] || t("unknown_user");
}

function onEvent(ev) {
  const g = ev.group_id ? S.groups.get(ev.group_id) : null;
  const meId = S.me ? S.me.user_id : null;
  switch (ev.ev) {
    case "message":
      if (g) {
        const last = g.lastSeq, counted = g.countedTo;
        addMessage(g, ev);
        if (S.me && ev.sender && ev.sender.user_id === S.me.user_id) settleOwn(g, ev);
        // Live messages come in seq order: one that skips seqs means some never reached us (a
        // node of a cluster cut off from its broker for a moment). Read the skipped span again;
        // a span that holds only messages we may not see (held for review) comes back empty.
        if (last > 0 && ev.seq > last + 1 && g.resumeAfter === null) fillSkipped(g, last, ev.seq, counted).catch(() => {});
      }
      break;
    case "message_released":  // a held message an operator released: its original seq, inserted in place
      if (g) addMessage(g, ev, true);   // (unread now, though below countedTo: no count had it)
      // (its sender was told at sending that it waits for review: told now that it is shown, as it
      // lands in its old place, out of view)
      if (g && ev.sender && ev.sender.user_id === meId) toast(t("my_message_released", { name: g.name }));
      break;
    case "message_deleted": {
      if (!g) break;
      const m = g.msgs.get(ev.seq);
      changedLive(g, ev.seq);
      const gone = { deleted: true, deleted_by: ev.deleted_by };
      if (m) replaceMessage(g, { group_id: m.group_id, seq: m.seq, ts: m.ts, sender: m.sender, ...gone });
      { const menu = $("#message-actions"); const dlg = menu && menu.closest("dialog");
        if (dlg && dlg.dataset.gid === g.group_id && Number(menu.dataset.seq) === ev.seq) dlg.close(); }
      // (a picture of it open at full size, its download link with it: gone with the message)
      for (const d of document.querySelectorAll("dialog#image-viewer")) if (d.dataset.gid === g.group_id && Number(d.dataset.seq) === ev.seq) d.close();
      uncountDeleted(g, ev.seq, m);
      echoChange(g, ev.seq, gone);
      break;
    }
    case "message_edited":
      if (!g) break;
      changedLive(g, ev.seq);
      if (g.msgs.has(ev.seq)) replaceMessage(g, { ...g.msgs.get(ev.seq), text: ev.text, edited_at: ev.edited_at });
      echoChange(g, ev.seq, { text: ev.text, edited_at: ev.edited_at });
      break;
    case "reaction":
      if (g) { changedLive(g, ev.seq); const m = applyReaction(g, ev); if (m) replaceMessage(g, m); }
      break;
    case "read_marker":
      if (g) readElsewhere(g, ev.seq);
      break;
    case "member_joined":
      if (ev.user.user_id === meId) { if (!g) syncGroups().catch(() => {}); break; }
      if (g) { if (g.members) g.members.set(ev.user.user_id, ev.user); remember([ev.user]); bumpCount(g, 1); sysLine(g, () => t("sys_joined", { name: ev.user.display_name })); refreshManage(g); }
      break;
    case "member_left":
    case "member_removed":
      if (ev.user_id === meId) {
        if (ev.ev === "member_removed") notice(later(ev.banned ? "n_banned" : "n_removed", { group: gname(ev.group_id) }), null, ev.banned ? "error" : "info");
        dropGroup(ev.group_id);
        break;
      }
      if (g) {
        const name = uname(g, ev.user_id);   // (now, while the member list still has them)
        sysLine(g, () => t(ev.ev === "member_left" ? "sys_left" : ev.banned ? "sys_banned" : "sys_removed", { name: name() }));
        if (g.members) g.members.delete(ev.user_id);
        bumpCount(g, -1); refreshManage(g);
      }
      break;
    case "role_changed":
      if (!g) break;
      if (g.members && g.members.has(ev.user_id)) g.members.get(ev.user_id).role = ev.role;
      if (ev.user_id === meId) {
        g.role = ev.role;
        // (a member no longer sees join requests, nor hears of their decisions: the badge goes)
        if (ev.role !== "member") countRequests(g).then(renderGroups); else g.requests = 0;
        renderGroups(); updateComposer(); pinsChanged(g);
      }
      if (g.info && ev.role === "owner" && g.members) g.info.owner = g.members.get(ev.user_id) || g.info.owner;
      { const name = uname(g, ev.user_id); sysLine(g, () => t("sys_role", { name: name(), role: t("role_" + ev.role) })); }
      if (g.group_id === S.current) renderChatHead();
      refreshManage(g);
      break;
    case "member_muted":
      if (!g) break;
      g.mutes.set(ev.user_id, ev.until);
      { const name = uname(g, ev.user_id);
        sysLine(g, () => ev.until ? t("sys_muted", { name: name(), until: fmtTime(ev.until) }) : t("sys_unmuted", { name: name() })); }
      if (g.group_id === S.current) updateComposer();
      refreshManage(g);
      redrawAtMuteEnds(g);   // (its end: the managers' panel drops its tag and Unmute then)
      break;
    case "group_updated":
      if (!g) break;
      if (g.info) for (const k of ["name", "category", "join_policy", "announcement", "mute_all", "pinned", "slow_mode_seconds"]) if (k in ev) g.info[k] = ev[k];
      if ("name" in ev) {
        g.name = ev.name;
        const feed = g.group_id === S.current && $("#messages");
        if (feed) feed.setAttribute("aria-label", t("messages_of", { name: g.name }));
      }
      if ("mute_all" in ev) { g.muteAll = ev.mute_all; sysLine(g, () => t(ev.mute_all ? "sys_mute_all_on" : "sys_mute_all_off")); }
      else if ("pinned" in ev) { setPins(g, ev.pinned || []); sysLine(g, () => t("sys_pinned")); }
      else if ("slow_mode_seconds" in ev) {
        g.slowMode = ev.slow_mode_seconds || 0;
        sysLine(g, () => ev.slow_mode_seconds ? t("sys_slow_on", { d: fmtSeconds(ev.slow_mode_seconds) }) : t("sys_slow_off"));
      } else sysLine(g, () => "announcement" in ev ? t("sys_announcement") : settingsChangeText(ev));
      renderGroups();
      if (g.group_id === S.current) { renderChatHead(); updateComposer(); }
      refreshManage(g);
      break;
    case "join_request": {
      if (!g) break;
      // A burst (a raid asks by the hundred) is counted from the events at once, read again once it
      // settles (not the whole queue at each), and said by one toast that counts.
      g.requests = (g.requests || 0) + 1;
      showCounts(g);
      clearTimeout(g.requestsRead);
      g.requestsRead = setTimeout(() => countRequests(g).then(() => { showCounts(g); refreshManage(g); }), 400);
      const burst = g.requestBurst && Date.now() - g.requestBurst.at < 4000 ? g.requestBurst.n + 1 : 1;
      g.requestBurst = { n: burst, at: Date.now() };
      toast(burst === 1 ? t("new_join_request", { name: ev.user.display_name, group: g.name })
        : t("new_join_requests", { n: burst, group: g.name }), "info", "requests:" + g.group_id);
      break;
    }
    case "join_request_decided":   // [ext] to the managers: a request left the queue (decided here or elsewhere)
      if (!g) break;
      if (managersEvent(g, ev)) showCounts(g);
      else countRequests(g).then(() => showCounts(g));
      break;
    case "ban_changed":            // [ext] to the managers: a ban given or lifted
    case "invite_link_changed":    // [ext] to the managers: an invite link made or revoked
      if (g) managersEvent(g, ev);
      break;
    case "join_result":
      if (ev.status === "approved") { notice(later("n_join_approved", { group: ev.name || gname(ev.group_id) })); syncGroups().catch(() => {}); }
      // **[ext]** `cause`: no decision was made, the group ended (dissolved or closed) with the request pending
      else notice(later(ev.cause === "group_dissolved" || ev.cause === "group_closed" ? "n_join_" + ev.cause : "n_join_rejected",
        { group: ev.name || gname(ev.group_id) }));
      break;
    case "invited":
      // (加入 goes once the user is in the group: joined here, or on another device of theirs)
      notice(later("n_invited", { by: ev.by.display_name, group: ev.name, id: ev.group_id }),
        { label: () => t("join_now"), run: () => joinGroup(ev.group_id), done: () => S.groups.has(ev.group_id) });
      break;
    case "group_dissolved":   // (by me: on another device of mine)
      notice(later(ev.by === meId ? "n_dissolved_by_me" : "n_dissolved", { group: gname(ev.group_id) }));
      dropGroup(ev.group_id);
      break;
    case "group_closed":
      notice(later(ev.cause === "owner_blacklisted" ? "n_closed_owner" : "n_closed", { group: gname(ev.group_id), reason: ev.reason || "" }), null, "error");
      dropGroup(ev.group_id);
      break;
    case "group_suspended":
      // `cause` says whether the group itself is suspended or its category frozen (manage.js).
      if (g) { learnSuspension(g, ev.until, ev.cause); if (g.group_id === S.current) updateComposer(); refreshManage(g); }
      // **[ext]** `sanction_id` (suspend-group, or the freeze's row for this group): only the group's owner
      // may appeal it, and theirs has 申诉.
      notice(later(ev.cause === "category_freeze" ? "n_frozen" : "n_suspended",
        { group: gname(ev.group_id), until: fmtTime(ev.until), reason: ev.reason || "" }),
        g && g.role === "owner" && ev.sanction_id ? appealAction(ev.sanction_id) : null, "error");
      if (g && g.role === "owner" && ev.sanction_id) markSanctionsSeen();   // (told live: not again at the next login)
      break;
    case "notice":
      platformNotice(ev);
      break;
    case "user_renamed":   // [ext] a name already on screen changed
      renamed(ev);
      break;
    case "held_text_settled":   // one of my held names or announcements no longer waits
      onHeldSettled(ev);
      if (ev.account_id && ev.outcome === "released") syncAccounts();   // a public account's: its name or intro now
      break;
    case "post":
      onPostEvent(ev);
      break;
    case "post_deleted":   // [ext] a post went: out of the open account's list, closed if open
      onPostDeleted(ev);
      break;
    case "post_comments":   // [ext] a post's comment mode changed: its comment box opens or closes
      onPostComments(ev);
      break;
    case "comment":
      onCommentEvent(ev);
      break;
    case "comment_deleted":   // [ext] a comment I saw went: out of the open post and the badge
      onCommentDeleted(ev);
      break;
    case "self_changed":   // [ext] what my other device did (followed, verified, accepted, opened)
      changedElsewhere(ev).catch(() => {});
      break;
    case "account_updated":   // [ext] an account I follow or run shows a new name or intro
      onAccountUpdated(ev);
      break;
    case "editor_changed": {   // [ext] made an editor of a public account, or no longer one
      const line = onEditorChanged(ev);
      if (line) notice(line);
      break;
    }
    default:
      break;   // events this client does not know are ignored
  }
}

// The pinned list changed: the pin bar and the pin marks of the messages that gained or lost one.
function setPins(g, pins) {
  const before = new Set(g.pinned || []);
  g.pinned = pins;
  for (const seq of new Set([...before, ...pins])) {
    if (before.has(seq) !== pins.includes(seq) && g.msgs.has(seq)) replaceMessage(g, g.msgs.get(seq));
  }
  if (g.group_id === S.current) drawPinBar(g);
  pinsChanged(g);
}

function bumpCount(g, d) {
  if (g.info) { g.info.member_count += d; if (g.group_id === S.current) renderChatHead(); }
}

// A group's suspension lifted early: `until` and `cause` say what still holds the group (until 0:
// nothing), so the composer and the owner's panel follow at once, not at the lifted sanction's end.
function liftSuspension(ev) {
  const g = S.groups.get(ev.group_id);
  if (!g) return;
  if (ev.until > serverNow()) learnSuspension(g, ev.until, ev.cause);
  else forgetSuspension(g);
  if (g.group_id === S.current) updateComposer();
  refreshManage(g);
}

function platformNotice(ev) {
  const group = ev.group_id ? gname(ev.group_id) : "";
  const text = ev.text || "";
  // A user's own credit (a content_blocked penalty on a post or comment also names the account):
  // the user's, told as every credit notice is, and their level read again.
  if (ev.account_id && ev.kind !== "credit") {   // about a public account (accounts.js)
    const bad = ["account_warning", "account_restricted", "account_suspended", "account_closed", "post_removed", "content_removed"].includes(ev.kind);
    // A sanction of the account (a warning, the comments' restriction, a suspension) carries its id:
    // its owner (not an editor: the owner answers for the account) may appeal it from the notice.
    const sanctioned = ["account_warning", "account_restricted", "account_suspended"].includes(ev.kind) && ev.sanction_id;
    const owner = sanctioned && managerRole(ev.account_id) === "owner";
    notice(accountNotice(ev), owner ? appealAction(ev.sanction_id) : null, bad ? "error" : "info");
    if (owner) markSanctionsSeen();   // (told live: the next login does not tell it again)
    return;
  }
  switch (ev.kind) {
    case "warning": {
      // (worded when said: the notices list reads in the language of the moment)
      const s = () => t("n_warning", { group, text }) + (ev.deadline ? " " + t("n_warning_deadline", { deadline: fmtTime(ev.deadline) }) : "");
      // Only the group's owner may appeal a warning: theirs carries the button, the members' do not.
      const g = S.groups.get(ev.group_id);
      const owner = g && g.role === "owner" && ev.sanction_id;
      notice(s, owner ? appealAction(ev.sanction_id) : null, "error");
      if (owner) markSanctionsSeen();   // (told live: the next login does not tell it again)
      break;
    }
    case "appeal_result":   // **[ext]** `note`: the operator's note alone (`text` adds English words)
      notice(later(appealKey(ev, "n_appeal_upheld", "n_appeal_upheld_ended", "n_appeal_rejected"), { sid: ev.sanction_id || "", text: said(ev.note, text) }),
        null, ev.outcome === "upheld" ? "info" : "error");
      markOutcomesSeen();
      break;
    case "sanction_lifted":
      notice(() => liftedText(ev, group, text));
      if (ev.group_id && typeof ev.until === "number") liftSuspension(ev);
      if (!ev.group_id) powersChanged();   // management powers or the right to create groups are back
      break;
    case "report_result":
      notice(later(ev.outcome === "upheld" ? "n_report_result_upheld" : "n_report_result_rejected", { text }));
      markOutcomesSeen();
      break;
    case "sanction": {   // **[ext]** `measure`, `reason`, `sanction_id` (what appeal takes), `until`
      const key = { suspend_admin: "n_sanction_suspend_admin", revoke_create: "n_sanction_revoke_create" }[ev.measure];
      const s = () => (key && typeof ev.reason === "string"
        ? t(key, { reason: ev.reason, sid: ev.sanction_id || "", until: ev.until ? fmtTime(ev.until) : "" })
        : t("n_sanction", { text }));
      notice(s, ev.sanction_id ? appealAction(ev.sanction_id) : null, "error");
      powersChanged();   // a sanction may take credit, and `me` says what it holds
      markSanctionsSeen();
      break;
    }
    case "blacklisted": {
      // Another login of the same verified person is closed with the operator's reason (`text`) and
      // whose blacklisting it followed (`same_person_as`, that login's username).
      const why = ev.same_person_as ? t("n_blacklisted_twin", { text, user: ev.same_person_as }) : text;
      S.blacklistedText = why;
      notice(later("n_blacklisted", { text: why }), null, "error");
      break;
    }
    case "credit": notice(() => creditText(ev, text)); refreshMe(); break;
    case "agreement": notice(later("n_agreement", { v: ev.version || "" })); if (S.authed) checkAgreement(); break;
    case "platform": notice(later("n_platform", { text })); markPlatformNoticeSeen(ev.at); break;
    // [ext] the group's owner was blacklisted and the group passed to me, its longest-serving admin
    case "group_handover": notice(later("n_group_handover", { group })); break;
    case "content_removed": notice(() => removedText(ev, group, text), null, "error"); break;
    case "resync":
      // A cluster's node was lost, not handed over: events of its last moments (members, roles, edits,
      // group settings, posts deleted) may never come. Read the groups and the accounts again, as after a
      // reconnect; at a random moment within 5 s, so that every page of the service does not ask at once.
      setTimeout(() => {
        if (!S.authed) return;
        missedEvents();
        const ws = conn.ws;   // (my_groups asked again while not served, as after a sign-in)
        served(ws, "my_groups").then((r) => (r === NOT_SERVED ? null : syncGroups(r))).catch(() => {});
        syncAccounts({ comments: true });
      }, Math.random() * 5000);
      break;
    default: notice(text);   // a kind this client does not know: its text as it is
  }
}

// `credit`: the operator changed the score, or gave back what an overturned sanction took. Built
// from the notice's fields (`credit_score`, `credit_level`, `delta`, and `sanction_id` or `reason`),
// never from its English text; a server that sends no fields: its text as it is.
// `report_id`: a report about the user was upheld and cost them points (the reporter's note is not
// theirs to read). A sanction's id with points taken rather than given back says which took them.
function creditText(ev, text) {
  if (typeof ev.credit_score !== "number" || typeof ev.credit_level !== "number") return t("n_credit_other", { text });
  const score = ev.credit_score, level = ev.credit_level, delta = ev.delta;
  if (typeof delta === "number") {
    if (ev.sanction_id) {
      return delta > 0 ? t("n_credit_back", { points: delta, sid: ev.sanction_id, score, level })
        : t("n_credit_sanction", { points: -delta, sid: ev.sanction_id, score, level });
    }
    if (ev.report_id && delta < 0) return t("n_credit_report", { points: -delta, score, level });
    // **[ext]** `cause: "content_blocked"`: the server's own penalty for content a block list refused.
    if (ev.cause === "content_blocked" && delta < 0) return t("n_credit_blocked", { points: -delta, score, level });
    // **[ext]** `cause: "given_back"`: points another notice counted that were not taken after all.
    if (ev.cause === "given_back" && delta > 0) return t("n_credit_given_back", { points: delta, score, level });
  }
  if (typeof ev.reason === "string" && ev.reason) return t("n_credit", { score, level, reason: ev.reason });
  return t("n_credit_plain", { score, level, delta: typeof delta === "number" ? (delta > 0 ? "+" + delta : String(delta)) : "" });
}

function appealAction(sid) { return { label: () => t("appeal"), run: () => appealDialog(sid) }; }

// `sanction_lifted`: **[ext]** `measure` (the lifted sanction's kind) and `reason` (the operator's
// alone, or the upheld appeal's note) word it; an older server's `text` as it is.
function liftedText(ev, group, text) {
  const sid = ev.sanction_id || "";
  const reason = said(ev.reason, text);
  // (a group's: `until` > 0 when another suspension, or a category's freeze, still holds its posting)
  const groupStill = ev.measure === "suspend_group" && typeof ev.until === "number" && ev.until > 0;
  const key = ev.group_id ? (groupStill ? "n_lifted_still_suspend_group_group"
    : { warning: "n_lifted_warning_group", suspend_group: "n_lifted_suspend_group_group" }[ev.measure])
    : ev.still === true ? { suspend_admin: "n_lifted_still_suspend_admin", revoke_create: "n_lifted_still_revoke_create" }[ev.measure]
      : { suspend_admin: "n_lifted_suspend_admin", revoke_create: "n_lifted_revoke_create" }[ev.measure];
  // (`still`: another sanction of the kind holds, so the powers or the right are not back; `until` when they are)
  const until = typeof ev.until === "number" && ev.until > 0 ? fmtTime(ev.until) : "";
  if (key && typeof ev.reason === "string") return t(key, { group, sid, reason, until });
  return ev.group_id ? t("n_sanction_lifted_group", { group, sid, text: reason }) : t("n_sanction_lifted", { sid, text: reason });
}

// `content_removed` of a message, a group's name or announcement or one's display name: **[ext]**
// `content` says which, `outcome` whether it was held and refused or taken down, `reason` why.
function removedText(ev, group, text) {
  const what = ev.content && t("cr_" + ev.content, { group });
  if (!what || what === "cr_" + ev.content || typeof ev.reason !== "string") return t("n_content_removed", { group, text });
  return t(ev.outcome === "rejected" ? "cr_rejected" : "cr_removed", { what, reason: ev.reason });
}

// A sanction on my own powers came or went: `me` says what holds now (powers_suspended_until,
// create_revoked), and the owner's panel offers only what works.
async function powersChanged() {
  await refreshMe();
  drawCreateRight();
  updateComposer();   // speaking through mute-all (and past slow mode) is a manager's power: it went or came back
  for (const g of S.groups.values()) {
    refreshManage(g);
    pinsChanged(g);   // (unpin too)
    if (g.role !== "member") countRequests(g).then(renderGroups);   // the badge: none asked while suspended
  }
}

function showMyName() {
  const n = $("#me-name");
  if (n && S.me) { n.textContent = S.me.display_name; n.title = S.me.display_name; }
}

// user_renamed: a user who shares a group with us (or we ourselves) has a new display name. Every
// place the page shows it follows at once: the senders of the messages held and of the copies kept
// for quotes (history gives current names too), the member lists, the quotes and the reply being
// written, the owner in the group's information, and our own name in the sidebar. The old name is
// kept as one of theirs (pastName): messages that mention them as "@OldName" still mark it.
function renamed(ev) {
  const uid = ev.user_id, name = ev.display_name;
  if (typeof uid !== "string" || typeof name !== "string") return;
  for (const old of namesOf(uid)) if (old !== name) pastName(uid, old);
  if (S.names.has(uid)) S.names.set(uid, name);
  if (S.me && S.me.user_id === uid) { S.me.display_name = name; showMyName(); }
  const fix = (u) => {
    if (!u || u.user_id !== uid || u.display_name === name) return false;
    pastName(uid, u.display_name);
    u.display_name = name;
    return true;
  };
  for (const g of S.groups.values()) {
    const member = g.members ? g.members.get(uid) : null;
    fix(member);
    if (g.info) fix(g.info.owner);
    const redraw = [];
    for (const m of g.msgs.values()) if (fix(m.sender)) redraw.push(m);
    if (g.quoted) for (const q of g.quoted.values()) fix(q.sender);
    const d = g.draft;
    if (d && d.replyTo) fix(d.replyTo.sender);
    if (g.group_id === S.current) {
      for (const m of redraw) replaceMessage(g, m);
      redrawMentions(g);   // "@OldName" stays marked, titled with the new name
      redrawQuotes(g);
      drawReply(g);
      drawPinBar(g);
    }
    if (member) refreshManage(g);   // an open member list reads the members again
    if (redraw.length) renderGroups();   // (the list's last line names its sender)
  }
  commenterRenamed(uid, name);   // the open post's comments
}

// The score and level shown (我的账号) follow a credit notice.
async function refreshMe() {
  try { await loadMe(); } catch { return; }
  learnLimits(S.me);
  const dd = $("#my-credit");
  if (dd) dd.textContent = String(S.me.credit_level);
}

// ``text``: the words, or a function giving them (``later``), so that the list of notices says them in
// the language of the moment, not the one they arrived in.
// ``at``: when it happened, when that was before now (a platform notice sent while away); ``quiet``:
// listed without a toast (one of several the caller sums up in one).
export function notice(text, action = null, kind = "info", { at = null, quiet = false } = {}) {
  const say = typeof text === "function" ? text : () => text;
  S.notices.unshift({ ts: at ?? Date.now(), say, action });
  S.unseen++;
  const c = $("#notice-count");
  if (c) { c.hidden = false; c.textContent = String(S.unseen); }
  const bell = $("#btn-notices"); if (bell) bell.setAttribute("aria-label", bellLabel());
  if (!quiet) toast(say(), kind);
}

// The bell's name says how many notices are new: its badge alone is not heard.
function bellLabel() { return S.unseen ? t("notices_new", { n: S.unseen }) : t("notices"); }

// A sentence of the string table worded when it is shown, with what fills it taken now.
function later(key, params = {}) { return () => t(key, params); }

// What was written for group gid and never reached it: the messages still in the outbox and the text
// in its composer. A group that is gone takes them with it, so they are said in a notice, which keeps
// them to copy: nothing typed goes without the user's say.
function unsentOf(gid) {
  const texts = S.outbox.filter((x) => x.gid === gid && x.text).map((x) => x.text);
  const box = $("#composer-text");
  const typed = S.current === gid && box ? box.value : typedFor(S.groups.get(gid));
  if (typed.trim()) texts.push(typed);
  return texts;
}

function dropGroup(gid) {
  const unsent = unsentOf(gid);
  if (unsent.length) {
    const group = gname(gid);   // (now: the group is forgotten below; the words when the notice is read)
    notice(() => t("n_unsent", { group, texts: unsent.map((x) => t("log_quoted", { text: x })).join(" ") }), null, "error");
  }
  // (its panel, a message's actions, its search, log or bans: for a group that is gone; not a report
  // being written: one removed from a group may still report what was said there, the removal too)
  closeDialogsOf(gid, true);
  const gone = S.groups.get(gid);
  if (gone) keepTyped(gone, "");
  S.groups.delete(gid);
  S.outbox = S.outbox.filter((x) => x.gid !== gid);
  saveOutbox();
  if (S.current === gid) { S.current = null; document.body.classList.remove("show-chat"); chatLeftHistory(); renderChat(); }
  renderGroups();
  // The chat the keyboard was in is gone (a left group's, with its panel): on to the list of groups,
  // once it is drawn (renderGroups draws at the next frame).
  requestAnimationFrame(() => {
    if (document.activeElement && document.activeElement !== document.body) return;
    const next = $(`#group-list [data-gid]:not([data-gid="${CSS.escape(gid)}"])`) || $("#btn-new-group");
    if (next) next.focus();
  });
}

// ------------------------------------------------------------------ dialogs
function openNotices() {
  S.unseen = 0;
  const c = $("#notice-count"); if (c) c.hidden = true;
  const bell = $("#btn-notices"); if (bell) bell.setAttribute("aria-label", bellLabel());
  modal(t("notices"), (done) => S.notices.length === 0 ? el("p", { class: "muted", text: t("no_notices") }) :
    el("ul", { class: "notices", id: "notice-list" }, S.notices.map((n) => el("li", {},
      el("time", { class: "muted small", text: fmtTime(n.ts) }), el("p", { text: n.say() }),
      n.action && !(n.action.done && n.action.done()) ? el("button", { type: "button", class: "primary small", text: n.action.label(), onclick: () => { done(); n.action.run(); } }) : null))));
}

async function joinGroup(gid) {
  try {
    const r = await api("join_group", { group_id: gid });
    if (r.status === "pending") { toast(t("n_join_pending")); return false; }
    await syncGroups();
    toast(t("n_joined", { group: gname(gid) }));
    openGroup(gid);
    return true;
  } catch (e) { toast(errorText(e), "error"); return false; }
}

// Whether I may create groups (`me`'s create_revoked), in the New group dialog when it is open: said
// when it opens, and again once `me` is read anew (a revocation or its lifting, whose notice may
// come just before the dialog opens and `me` answer just after).
function drawCreateRight() {
  const btn = $("#create-btn");
  if (!btn) return;
  const revoked = !!(S.me && S.me.create_revoked);
  btn.disabled = revoked;
  const note = $("#create-revoked");
  if (revoked && !note) btn.before(el("p", { class: "form-msg error", id: "create-revoked", text: t("e_create_revoked") }));
  else if (!revoked && note) note.remove();
}

function openNewGroup() {
  modal(t("new_group"), (done) => {
    // Each form says its outcome under itself (one line under both put a join's refusal by the create form).
    const joinMsg = el("p", { class: "form-msg", id: "join-msg", role: "alert" });
    const msg = el("p", { class: "form-msg", id: "create-msg", role: "alert" });
    const idIn = el("input", { id: "join-id", "aria-label": t("group_id"), inputmode: "numeric", required: true, placeholder: "1234567890" });
    const nameIn = el("input", { id: "create-name", required: true, maxlength: textRoom(64) });
    // The categories the server accepts: the last list known at once, the server's own when it answers.
    const cat = fillCategories(el("select", { id: "create-category" }), "groups", catName);
    loadCategories().then(() => fillCategories(cat, "groups", catName));
    const pol = el("select", { id: "create-policy" }, ["open", "approval", "invite"].map((p) => el("option", { value: p, text: t("policy_" + p) })));
    return [
      el("form", { class: "stack", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const r = await api("join_group", { group_id: idIn.value.trim() });
          if (r.status === "pending") { joinMsg.textContent = t("n_join_pending"); joinMsg.className = "form-msg ok"; return; }
          done(); await syncGroups(); openGroup(idIn.value.trim(), typingFocusWelcome());
        } catch (err) { joinMsg.textContent = errorText(err); joinMsg.className = "form-msg error"; }
      } }, el("h3", { text: t("join_by_id") }), el("div", { class: "row" }, idIn, el("button", { type: "submit", class: "primary", id: "join-btn", text: t("join") })), joinMsg),
      el("form", { class: "stack", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const name = nameIn.value.trim();
          const r = await api("create_group", { name, category: cat.value, join_policy: pol.value });
          done(); await syncGroups(); openGroup(r.group_id, typingFocusWelcome());   // (the focus into the new chat, not back on ＋)
          notice(later({ approval: "n_created_approval", invite: "n_created_invite" }[pol.value] || "n_created", { id: r.group_id }));
          // The name waits for the platform's review: the group shows the server's neutral name meanwhile.
          if (r.held) { notice(later("held_new_group", { name, id: r.group_id })); loadHeld(); }
        } catch (err) {
          msg.textContent = errorText(err); msg.className = "form-msg error";
          if (err.code === "verification_required") msg.append(" ", el("button", { type: "button", class: "link", text: t("verify"), onclick: () => { done(); openProfile(); } }));
        }
      } }, el("h3", { text: t("create_group") }), field(t("group_name"), nameIn), field(t("category"), cat), field(t("join_policy"), pol),
        el("button", { type: "submit", class: "primary", id: "create-btn", text: t("create") })),
      msg,
    ];
  });
  drawCreateRight();
}

function openProfile() {
  let stopHeld = null;
  modal(t("profile"), (done) => {
    const me = S.me;
    const msg = el("p", { class: "form-msg", role: "alert" });
    const ok = (s) => { msg.textContent = s; msg.className = "form-msg ok"; };
    const bad = (e) => { msg.textContent = errorText(e); msg.className = "form-msg error"; };
    const dn = el("input", { id: "profile-name", "aria-label": t("field_display_name"), value: me.display_name });
    // My display names, and the names and intros of the public accounts I own, waiting for review
    // (only I see them), with a withdraw button each.
    const heldNames = el("div", { id: "profile-held" });
    const heldAccounts = el("div", { id: "profile-held-accounts" });
    const drawHeld = () => {
      clear(heldNames); const box = heldBox("display_name"); if (box) heldNames.append(box);
      clear(heldAccounts); const mine = heldAccountsBox(); if (mine) heldAccounts.append(mine);
    };
    drawHeld();
    stopHeld = onHeldChange(drawHeld);
    const parts = [
      el("dl", { class: "facts" },
        el("dt", { text: t("username") }), el("dd", { text: me.username }),
        el("dt", { text: t("my_user_id") }), el("dd", { class: "mono", id: "my-user-id", text: me.user_id }),
        el("dt", { text: t("credit_level") }), el("dd", { id: "my-credit", text: String(me.credit_level) }),
        el("dt", { text: t("verify") }), el("dd", { id: "id-state", text: me.id_verified ? t("id_verified") : t("id_not_verified") })),
      el("form", { class: "row", onsubmit: async (e) => {
        e.preventDefault();
        const wanted = dn.value.trim();
        const long = nameTooLong(wanted);
        if (long) { msg.textContent = long; msg.className = "form-msg error"; return; }
        try {
          const r = await api("set_profile", { display_name: wanted });
          await loadMe(); showMyName();
          // A held name is not shown as the user's: the field goes back to the name others see.
          if (r.held) { dn.value = S.me.display_name; ok(t("held_display_name", { name: wanted })); loadHeld(); } else ok(t("saved"));
        } catch (err) { bad(err); }
      } }, el("label", { class: "field grow" }, el("span", { class: "label", text: t("field_display_name") }), dn),
        el("button", { type: "submit", class: "primary", text: t("save") })),
      nameNote(dn),
      heldNames,
      heldAccounts,
    ];
    if (!me.id_verified) {
      const ln = el("input", { id: "verify-name", required: true, autocomplete: "off" });
      const idn = el("input", { id: "verify-id", required: true, autocomplete: "off", maxlength: 18 });
      parts.push(el("form", { class: "stack", id: "verify-form", onsubmit: async (e) => {
        e.preventDefault();
        // Verified: the form goes (a second press would only be refused: the account is verified).
        try { await api("verify_identity", { legal_name: ln.value.trim(), id_number: idn.value.trim() }); await loadMe(); ok(t("verify_done")); e.target.remove(); $("#id-state").textContent = t("id_verified"); renderPane(); }
        catch (err) { bad(err); }
      } }, el("h3", { text: t("verify") }), el("small", { class: "muted", text: t("verify_hint") }),
        field(t("legal_name"), ln), field(t("id_number"), idn), el("button", { type: "submit", class: "primary", id: "verify-btn", text: t("verify") })));
    }
    const pw = el("input", { id: "delete-password", "aria-label": t("password"), type: "password", autocomplete: "current-password" });
    const oldPw = el("input", { id: "old-password", type: "password", autocomplete: "current-password", required: true });
    const newPw = el("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true, minlength: 8 });
    parts.push(
      // [ext] change_password: every other login ends (this one and its tabs go on)
      el("details", { id: "password-section" }, el("summary", { text: t("change_password") }),
        el("form", { class: "stack", onsubmit: async (e) => {
          e.preventDefault();
          try {
            await api("change_password", { password: oldPw.value, new_password: newPw.value });
            oldPw.value = newPw.value = "";
            ok(t("password_changed"));
          } catch (err) { if (err.code === "unauthenticated") bad({ code: "wrong_password" }); else bad(err); }
        } }, field(t("current_password"), oldPw), field(t("new_password"), newPw),
          el("small", { class: "muted", text: t("change_password_hint") }),
          el("button", { type: "submit", class: "primary", id: "change-password-btn", text: t("change_password") }))),
      loginsSection(ok, bad),
      el("div", { class: "row" },
        el("button", { type: "button", class: "ghost", id: "btn-logout-everywhere", text: t("logout_everywhere"), onclick: async () => {
          if (!await confirmBox(t("logout_everywhere_confirm"), t("logout_everywhere"), t("cancel"))) return;
          browserStore.remove("qg.token");   // (first: this browser's other tabs, closed too, keep nothing)
          try { await api("logout", { everywhere: true }); } catch (err) { browserStore.set("qg.token", S.token); bad(err); return; }
          done(); localLogout(t("logged_out_everywhere"));
        } })),
    );
    parts.push(
      el("div", { class: "row wrap" },   // (at phone width the four buttons take two lines)
        el("button", { type: "button", class: "ghost", text: t("agreement"), onclick: async () => {
          try { const r = await api("agreement"); if (r.version) showAgreementView(r); else toast(t("no_agreement")); } catch (err) { bad(err); }
        } }),
        el("button", { type: "button", class: "ghost", id: "btn-my-reports", text: t("my_reports"), onclick: () => { done(); openMyReports(); } }),
        el("button", { type: "button", class: "ghost", id: "btn-appeal", text: t("appeal"), onclick: () => { done(); appealDialog(); } }),
        el("button", { type: "button", class: "ghost", id: "btn-logout", text: t("logout"), onclick: async () => {
          browserStore.remove("qg.token");   // (first: this browser's other tabs, closed too, keep nothing)
          try { await api("logout"); } catch { /* logout is v2; older servers just forget the token here */ }
          done(); localLogout();
        } })),
      el("details", { id: "delete-section" }, el("summary", { text: t("delete_account") }),
        el("p", { class: "muted small", text: t("delete_account_hint") }),
        el("div", { class: "row" }, pw, el("button", { type: "button", class: "danger", text: t("delete_account"), onclick: async () => {
          try { await api("delete_account", { password: pw.value }); done(); localLogout(t("account_deleted")); }
          catch (err) { if (err.code === "unauthenticated") bad({ code: "wrong_password" }); else bad(err); }
        } }))),
      msg);
    return parts;
  }).then(() => { if (stopHeld) stopHeld(); });
}

// [ext] my_logins: the account's logins (this one marked), each but this one with a button that ends it.
// Loaded when the section is opened, and again after each ending.
function loginsSection(ok, bad) {
  const list = el("ul", { class: "logins", id: "logins-list" });
  const draw = async () => {
    let r;
    try { r = await api("my_logins"); } catch (err) { bad(err); return; }
    clear(list);
    for (const x of r.logins) {
      const state = x.current ? t("this_device") : x.online ? t("online_now") : "";
      const device = x.device || t("unknown_device");
      const end = x.current ? null : el("button", { type: "button", class: "ghost small", "data-login": x.login_id,
        "aria-label": t("end_login_of", { device }), text: t("end_login"), onclick: async () => {
          if (!await confirmBox(t("end_login_confirm", { device }), t("end_login"), t("cancel"))) return;
          try { await api("logout", { login_id: x.login_id }); ok(t("login_ended")); }
          catch (err) { if (err.code !== "not_found") { bad(err); return; } }   // (ended meanwhile: as wished)
          await draw();
          (list.querySelector("button") || section.querySelector("summary")).focus();   // (focus stays in the section)
        } });
      list.append(el("li", { class: "login-row" },
        el("span", { class: "grow" }, el("strong", { text: device }),
          el("small", { class: "muted", text: " " + t("logged_in_at", { when: fmtTime(x.created_at) }) + (state ? " · " + state : "") })),
        end || el("span")));
    }
  };
  const section = el("details", { id: "logins-section" }, el("summary", { text: t("my_logins") }),
    el("small", { class: "muted", text: t("my_logins_hint") }), list);
  section.addEventListener("toggle", () => { if (section.open) draw(); });
  return section;
}

function showAgreementView(r) {
  modal(t("agreement"), () => [el("p", { class: "muted", text: t("agreement_version", { v: r.version }) }),
    el("h3", { text: t("rules_heading") }), el("pre", { class: "doc", tabindex: 0, text: r.rules }),
    el("h3", { text: t("agreement_heading") }), el("pre", { class: "doc", tabindex: 0, text: r.agreement })], { wide: true });
}

boot();
