// Public accounts (公众号): the sidebar's lists (the accounts one runs, with their owner's name or
// intro still waiting for review, and the ones one follows, with badges for posts and comments
// announced live, which a post or comment that goes leaves again), finding an account by id, an
// account's page (information, follow, report, its posts) and, for its owner: opening one, editing
// it, editors and closing it. Posts, comments and publishing are drawn by posts.js. The server
// decides every rule; refusal() puts a refused request in plain language.
import { el, clear, $, toast, modal, confirmBox, morphKids, keepingFocus, focusIfIdle, announce, userIdInput, userIdOf } from "./dom.js";
import { t, errorText, fmtDate, fmtTime, acatName } from "./i18n.js";
import { A, S, api, managerRole, loadCategories, fillCategories, textRoom, serverNow } from "./state.js";
import { reportDialog } from "./manage.js";
import { refusal } from "./account_errors.js";
import { loadPosts, postsSection, postView, publishDialog, addLiveComment, refreshPosts, refreshComments, refreshOpenPost, postGone, commentGone, contentNotice, older, setPostHooks, postCommentsChanged, accountEntry, accountInHistory, closePostView } from "./posts.js";
import { heldFor, heldBox, loadHeld, onHeldChange } from "./held.js";

let hooks = { openProfile: () => {} };
// openProfile (the verification form): provided by app.js.
export function setAccountHooks(h) { hooks = { ...hooks, ...h }; }

// The owner's names and intros waiting for review show in the list of the accounts one runs.
onHeldChange(() => drawAccounts());

function accountName(aid) {
  const x = A.mine.get(aid) || A.subs.get(aid);
  if (x) return x.name;
  return A.view && A.view.aid === aid && A.view.info ? A.view.info.name : aid;
}

// ------------------------------------------------------------------ lists
// `comments`: the open post's comments are read again too (after a connect, when events may have
// been missed, and when the user's role on an account changed: what they may see of them changed).
export async function syncAccounts({ comments = false } = {}) {
  try {
    const [subs, mine] = await Promise.all([api("my_subscriptions"), api("my_accounts")]);
    A.subs = new Map(subs.accounts.map((x) => [x.account_id, x]));
    A.mine = new Map(mine.accounts.map((x) => [x.account_id, x]));
  } catch (e) { if (e.code !== "disconnected") toast(errorText(e), "error"); return; }
  drawAccounts();
  const posts = await recheckNewPosts();
  if (await recheckNewComments() || posts) drawAccounts();
  if (A.view) await reloadView(A.view, comments);
}

// The posts a badge counts that are gone (deleted or removed while this page was not connected, so
// their `post_deleted` never came): asked again after every connect, they stop counting. A post
// older than the newest 100 still listed is kept: nothing says it went.
async function recheckNewPosts() {
  let changed = false;
  for (const [aid, ids] of [...A.newPosts]) {
    const drop = () => { if (A.newPosts.get(aid) === ids) { A.newPosts.delete(aid); changed = true; } };
    if (!A.subs.has(aid)) { drop(); continue; }
    const asked = [...ids];   // a post announced while the answer is on its way is not judged by it
    let r;
    try { r = await api("posts", { account_id: aid, limit: 100 }); } catch (e) {
      if (e.code === "forbidden" || e.code === "not_found") drop();   // closed, or gone: nothing to read
      continue;
    }
    const listed = new Set(r.posts.map((p) => p.post_id));
    const oldest = r.posts.length === 100 ? r.posts[99].post_id : null;
    for (const pid of asked) {
      if (!listed.has(pid) && (oldest === null || !older(pid, oldest))) { ids.delete(pid); changed = true; }
    }
    if (!ids.size) drop();
  }
  return changed;
}

// The new comments the owner's and editors' counts hold that are gone (deleted, removed, rejected,
// or their post gone while this page was not connected, so their `comment_deleted` or `post_deleted`
// never came): asked again after every connect, as the posts are, they stop counting. A comment
// hidden meanwhile still counts (its managers still see it, as when it is hidden live); one older
// than the newest 200 still listed on its post is kept: nothing says it went. An account the user
// no longer runs (or that is closed) counts none.
async function recheckNewComments() {
  let changed = false;
  for (const [aid, ids] of [...A.newComments]) {
    const drop = () => { if (A.newComments.get(aid) === ids) { A.newComments.delete(aid); changed = true; } };
    if (!managerRole(aid)) { drop(); continue; }
    const asked = [...ids];   // [comment_id, post_id]; one announced while the answers come is not judged by them
    for (const pid of new Set(asked.map(([, p]) => p))) {
      let listed, oldest = null;
      try {
        const r = await api("comments", { post_id: pid, limit: 200 });
        listed = new Set(r.comments.map((c) => c.comment_id));
        if (r.comments.length === 200) oldest = r.comments[199].comment_id;
      } catch (e) {
        if (e.code !== "not_found" && e.code !== "forbidden") continue;   // disconnected again: judged next time
        listed = new Set();   // the post is gone (or the account closed): none of its comments is there
      }
      for (const [cid, p] of asked) {
        if (p !== pid || listed.has(cid) || (oldest !== null && older(cid, oldest))) continue;
        if (ids.delete(cid)) changed = true;
      }
    }
    if (!ids.size) drop();
  }
  return changed;
}

function countOf(m, aid) { const x = m.get(aid); return x ? x.size : 0; }

export function accountsSide() {
  return el("div", { id: "account-side", class: "side-pane", role: "tabpanel", "aria-labelledby": "tab-accounts" },
    el("div", { class: "side-title" }, el("span", { text: t("accounts") }),
      el("span", { class: "row tight" },
        el("button", { type: "button", class: "icon", id: "btn-find-account", title: t("find_account"), "aria-label": t("find_account"), onclick: findDialog },
          el("img", { src: "/search.svg", alt: "", class: "ico" })),
        el("button", { type: "button", class: "icon", id: "btn-new-account", title: t("new_account"), "aria-label": t("new_account"), onclick: createDialog },
          el("img", { src: "/plus.svg", alt: "", class: "ico" })))),
    el("div", { id: "account-lists", class: "side-list" }));
}

export function drawAccounts() {
  let total = 0;
  for (const x of [...A.newPosts.values(), ...A.newComments.values()]) total += x.size;
  const badge = $("#accounts-badge");
  if (badge) { badge.hidden = total === 0; badge.textContent = total > 99 ? "99+" : String(total); }
  const box = $("#account-lists");
  if (!box) return;
  // Drawn in place (morph), each account's item kept: the lists are drawn again on every post or
  // comment announced live, and a click on an item pressed before such a draw and released after
  // it was lost (the item pressed was gone), as was the keyboard focus on an item.
  const fresh = [];
  if (A.mine.size) {
    fresh.push(el("h4", { class: "side-sub", text: t("my_accounts") }),
      el("ul", { class: "account-items", id: "my-accounts" }, [...A.mine.values()].map((x) => accountItem(x, x.role, countOf(A.newComments, x.account_id)))));
  }
  fresh.push(el("h4", { class: "side-sub", text: t("following") }),
    A.subs.size === 0 ? el("p", { class: "empty muted", id: "no-subscriptions", text: t("no_subscriptions") })
      : el("ul", { class: "account-items", id: "subscriptions" }, [...A.subs.values()].map((x) => accountItem(x, null, countOf(A.newPosts, x.account_id)))));
  morphKids(box, fresh);
}

function accountItem(x, role, count) {
  const active = A.view && A.view.aid === x.account_id;
  return el("li", { class: "account-item" + (active ? " active" : ""), "data-aid": x.account_id, tabindex: 0, role: "button",
    onclick: () => openAccount(x.account_id), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openAccount(x.account_id); } } },
  el("div", { class: "avatar acct", text: [...(x.name || "?")][0] }),
  el("div", { class: "grow clip" },
    el("div", { class: "row" }, el("span", { class: "gname clip", text: x.name }), role ? el("span", { class: "tag tag-" + role, text: t("arole_" + role) }) : null),
    el("div", { class: "preview clip muted", text: statusText(x.status) }),
    role ? heldNotes(x.account_id) : null),
  count ? el("span", { class: "badge new-count", text: count > 99 ? "99+" : String(count) }) : null);
}

// An account's new name or intro that waits for the platform's review (its owner's own, from
// my_held_texts): said under the account in the list; the account shows what it showed meanwhile.
function heldNotes(aid) {
  const name = heldFor("account_name", aid)[0];
  const intro = heldFor("account_intro", aid)[0];
  if (!name && !intro) return null;
  return [
    name ? el("div", { class: "preview clip held-account", "data-kind": "account_name", text: t("held_account_name", { name: name.text }) }) : null,
    intro ? el("div", { class: "preview clip held-account", "data-kind": "account_intro", text: t("held_account_intro") }) : null,
  ];
}

export function statusText(status) { return t("astatus_" + (status || "active")); }

// ------------------------------------------------------------------ an account's page
// Whether account aid's page is in front of the user: it is the one open and the sidebar shows the
// public accounts. At desktop width a page left open while the groups tab is shown is out of sight:
// what it would show at once is counted on the badge meanwhile, as for an account not open.
function inView(aid) {
  return S.tab === "accounts" && !!A.view && A.view.aid === aid;
}

// The accounts tab is shown again (app.js): the open account's page is in view, with what was
// counted while it was not (its list was kept up to date), so that stops counting, as when it opens.
export function accountsShown() {
  const v = A.view;
  if (!v) return;
  const posts = A.newPosts.delete(v.aid);
  if (A.newComments.delete(v.aid) || posts) drawAccounts();
}

export async function openAccount(aid) {
  // Another account's page (or a post) has entries: gone back over first, so that the new page's
  // entry takes their place instead of going on top of them (Back would land on a dead entry).
  const e = accountEntry();
  if (e && e.qunguanAccount !== aid) await historyGo(e.qunguanPost ? -2 : -1);
  else if (e && e.qunguanPost) await historyGo(-1);
  A.newPosts.delete(aid);
  A.newComments.delete(aid);
  const v = { aid, info: null, posts: [], noMore: false, post: null };
  A.view = v;
  accountInHistory(aid);
  document.body.classList.add("show-account");
  drawAccounts();
  renderPane();
  await reloadView(v);
}

// history.go(n), resolved once the browser has moved (its popstate: the page it leaves is closed by
// accountFromHistory), or after a second if it does not (a browser that refuses).
function historyGo(n) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); window.removeEventListener("popstate", done); resolve(); };
    const timer = setTimeout(done, 1000);
    window.addEventListener("popstate", done);
    try { history.go(n); } catch { done(); }
  });
}

// The page closed by other means than Back (‹ without an entry, the groups tab, the account closed, a
// logout): its entries go, so that Back from the list leaves the page at once, as with a chat.
export function closeAccount() {
  try {
    const e = accountEntry();
    if (e) history.go(e.qunguanPost ? -2 : -1);
  } catch { /* as in accountInHistory */ }
  closeAccountView();
}
// ‹ on the account's page: Back, whose popstate closes it, when the page is an entry; else closed here.
function accountBack() {
  const e = accountEntry();
  if (e && !e.qunguanPost && A.view && e.qunguanAccount === A.view.aid) history.back();
  else closeAccount();
}
// Back or Forward moved onto an entry (app.js hands on every popstate): the open post closes when the
// entry is its account's, the page when the entry is not this account's (the list's, another's).
export function accountFromHistory() {
  const v = A.view;
  if (!v) return;
  const e = accountEntry();
  if (!e || e.qunguanAccount !== v.aid) closeAccountView();
  else if (!e.qunguanPost && v.post) closePostView(v, renderPane);
}
function closeAccountView() {
  const left = A.view ? A.view.aid : null;
  A.view = null;
  document.body.classList.remove("show-account");
  drawAccounts();
  renderPane();
  if (left) focusIn(`#account-lists .account-item[data-aid="${CSS.escape(left)}"]`);   // (where the keyboard came from)
}

// The account's information and its first page of posts (again: after a reconnect, a follow, a notice),
// and with `comments` the open post's comments (those that went while the page was not connected go).
async function reloadView(v, comments = false) {
  try {
    v.info = await api("account_info", { account_id: v.aid });
  } catch (e) {
    if (e.code === "disconnected") return;
    toast(refusal(e, "account_info"), "error");
    if (A.view === v) closeAccount();
    return;
  }
  for (const list of [A.mine, A.subs]) {
    const x = list.get(v.aid);
    if (x) { x.name = v.info.name; x.status = v.info.status; }
  }
  wakeAtSuspensionEnd(v);
  if (v.info.status !== "closed") await loadPosts(v, true).catch((e) => toast(refusal(e, "posts", {}, v.info), "error"));
  if (A.view === v) { drawAccounts(); renderPane(); }
  if (comments && A.view === v && v.post) await refreshComments(v, renderPane);
}

// A suspension ends by itself ([ext] account_info.suspended_until): the open page reads the account
// again then, so its publish button and settings come back without a reload. (One timer per view;
// a deadline past what a timer can wait, about 24 days, is left to the next reload.)
const TIMER_MAX_MS = 2 ** 31 - 1;
function wakeAtSuspensionEnd(v) {
  clearTimeout(v.suspensionTimer);
  const until = v.info.status === "suspended" ? v.info.suspended_until : null;
  const wait = typeof until === "number" ? until - serverNow() + 500 : -1;
  if (wait > 0 && wait < TIMER_MAX_MS) v.suspensionTimer = setTimeout(() => { if (A.view === v) reloadView(v); }, wait);
}

// The pane drawn again; the keyboard's place kept (the same control of the same post or comment, or
// of its item) when the draw took the focused node away.
export function renderPane() {
  const pane = $("#account-pane");
  if (!pane) return;
  keepingFocus(pane, () => drawPane(pane));
}

// Focus `sel` once the pane shows it (a step that changed what the pane shows: a post opened or
// left, an account left, a follow): the keyboard goes on from there, not from the page's start.
export function focusIn(sel) {
  focusIfIdle(document.querySelector(sel), $("#account-pane"));
}

function drawPane(pane) {
  const v = A.view;
  const kept = [...pane.querySelectorAll("[data-keep]")].map((n) => [n.id, n.value]);
  // Drawn in place (morph): the post list and the comments are drawn again on every post, comment
  // or deletion announced live, and a click on a post or a comment's button pressed before such a
  // draw and released after it was lost (the node pressed was gone), as was the keyboard focus.
  // The comment form is put in anew (data-replace), its typed text kept (data-keep).
  if (!v) { morphKids(pane, [el("div", { class: "placeholder muted", id: "account-placeholder", text: t("pick_account") })]); return; }
  pane.dataset.aid = v.aid;
  if (!v.info) { morphKids(pane, [el("div", { class: "placeholder muted", text: t("loading") })]); return; }
  if (v.post) morphKids(pane, [postView(v, renderPane)]);
  else morphKids(pane, [accountHead(v), el("div", { class: "account-scroll", id: "account-scroll" }, infoCard(v), actionsRow(v), postsSection(v, renderPane))]);
  for (const [id, value] of kept) { const n = id ? pane.querySelector("#" + id) : null; if (n) n.value = value; }
}

function accountHead(v) {
  const info = v.info;
  return el("header", { id: "account-head", class: "pane-head" },
    el("button", { type: "button", class: "icon back", id: "btn-account-back", "aria-label": t("back"), text: "‹", onclick: accountBack }),
    el("div", { class: "avatar acct", text: [...(info.name || "?")][0] }),
    el("div", { class: "grow clip" }, el("h2", { class: "clip", id: "account-name", text: info.name }),
      el("div", { class: "muted small" }, el("span", { text: t("account_id") + " " }), el("span", { class: "mono", id: "account-id", text: info.account_id }))),
    info.status !== "active" ? el("span", { class: "tag tag-muted", id: "account-status", text: statusText(info.status) }) : null);
}

function infoCard(v) {
  const info = v.info;
  const labels = (info.labels || []).map((l) => t("label_" + l)).join(t("list_sep"));
  return el("section", { class: "card account-card" },
    info.intro ? el("p", { class: "account-intro", id: "account-intro", text: info.intro }) : null,
    el("dl", { class: "facts", id: "account-facts" },
      el("dt", { text: t("category") }), el("dd", { id: "account-category", text: acatName(info.category) }),
      el("dt", { text: t("subject") }), el("dd", { id: "account-subject",
        text: info.subject_type === "organization" ? t("subject_org", { name: info.org_name || "" }) : t("subject_individual") }),
      labels ? [el("dt", { text: t("labels") }), el("dd", { id: "account-labels", text: labels })] : null,
      el("dt", { text: t("credit_level") }), el("dd", { id: "account-credit", text: String(info.credit_level) }),
      el("dt", { text: t("subscribers") }), el("dd", { id: "account-subscribers", text: String(info.subscriber_count) }),
      el("dt", { text: t("status") }), el("dd", { id: "account-status-text", text: statusText(info.status) }),
      info.created_at ? [el("dt", { text: t("created") }), el("dd", { text: fmtDate(info.created_at) })] : null));
}

function actionsRow(v) {
  const info = v.info;
  const role = managerRole(v.aid);
  const following = A.subs.has(v.aid);
  const closed = info.status === "closed";
  return el("div", { class: "row wrap account-actions" },
    following ? el("button", { type: "button", class: "ghost", id: "btn-unfollow", text: t("unfollow"), onclick: () => follow(v, false) })
      : closed ? null : el("button", { type: "button", class: "primary", id: "btn-follow", text: t("follow"), onclick: () => follow(v, true) }),
    role ? publishButton(v) : null,
    role === "owner" ? el("button", { type: "button", class: "ghost", id: "btn-account-manage", text: t("account_manage"), onclick: () => manageDialog(v) }) : null,
    // (not on one's own account, closed ones included: there is nobody else to report it to us about)
    A.mine.has(v.aid) ? null : el("button", { type: "button", class: "ghost", id: "btn-report-account", text: t("report_account"),
      onclick: () => reportDialog({ target_type: "account", account_id: v.aid }) }));
}

// Publishing is refused while the platform suspends the account, and to anyone without a verified
// identity (editors too): the button says so instead of opening a form that would be refused.
function publishButton(v) {
  if (v.info.status === "suspended") {
    return el("button", { type: "button", class: "primary", id: "btn-publish", text: t("publish"), disabled: true, title: t("publish_suspended") });
  }
  if (S.me && !S.me.id_verified) {
    return el("button", { type: "button", class: "ghost", id: "btn-publish-verify", text: t("verify_to_publish"), onclick: () => hooks.openProfile() });
  }
  return el("button", { type: "button", class: "primary", id: "btn-publish", text: t("publish"), onclick: () => publishDialog(v, renderPane) });
}

async function follow(v, on) {
  try {
    await api(on ? "subscribe" : "unsubscribe", { account_id: v.aid });
  } catch (e) { toast(refusal(e, "subscribe", {}, v.info), "error"); return; }
  if (on) A.subs.set(v.aid, { account_id: v.aid, name: v.info.name, status: v.info.status });
  else { A.subs.delete(v.aid); A.newPosts.delete(v.aid); }
  toast(t(on ? "followed" : "unfollowed", { name: v.info.name }));
  drawAccounts();
  if (A.view === v) { renderPane(); focusIn(on ? "#btn-unfollow" : "#btn-follow"); }   // (the button that undoes it)
  try { v.info = await api("account_info", { account_id: v.aid }); } catch { /* the count shown stays as it was */ }
  if (A.view === v) renderPane();
}

// ------------------------------------------------------------------ finding and opening accounts
function findDialog() {
  modal(t("find_account"), (done) => {
    const msg = el("p", { class: "form-msg", role: "alert" });
    const id = el("input", { id: "find-account-id", inputmode: "numeric", required: true, placeholder: "123456789", autocomplete: "off",
      "aria-label": t("account_id") });
    return el("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      const aid = id.value.trim();
      try { await api("account_info", { account_id: aid }); } catch (err) { msg.textContent = refusal(err, "account_info"); msg.className = "form-msg error"; return; }
      done(); openAccount(aid);
    } }, el("small", { class: "muted", text: t("find_account_hint") }),
    el("div", { class: "row" }, id, el("button", { type: "submit", class: "primary", id: "find-account-submit", text: t("open") })), msg);
  });
}

function field(label, input, hint) {
  return el("label", { class: "field" }, el("span", { class: "label", text: label }), input, hint ? el("small", { class: "muted", text: hint }) : null);
}

function createDialog() {
  modal(t("new_account"), (done) => {
    const msg = el("p", { class: "form-msg", id: "account-create-msg", role: "alert" });
    const name = el("input", { id: "account-create-name", required: true, maxlength: textRoom(30) });
    const cat = fillCategories(el("select", { id: "account-create-category" }), "accounts", acatName, { preferred: "culture" });
    loadCategories().then(() => fillCategories(cat, "accounts", acatName, { preferred: "culture" }));
    const intro = el("textarea", { id: "account-create-intro", rows: 3, maxlength: textRoom(500) });
    const subject = el("select", { id: "account-create-subject", onchange: () => { orgBox.hidden = subject.value !== "organization"; } },
      el("option", { value: "individual", text: t("subject_individual") }), el("option", { value: "organization", text: t("subject_organization") }));
    const orgName = el("input", { id: "account-create-org-name", maxlength: textRoom(100) });
    const orgCode = el("input", { id: "account-create-org-code", maxlength: 18, autocomplete: "off", class: "mono", placeholder: "91110108MA01234567" });
    const orgBox = el("div", { class: "stack tight", hidden: true }, field(t("org_name"), orgName), field(t("org_code"), orgCode, t("org_code_hint")));
    return el("form", { class: "stack", id: "account-create-form", onsubmit: async (e) => {
      e.preventDefault();
      const args = { name: name.value.trim(), category: cat.value, intro: intro.value.trim(), subject_type: subject.value };
      if (subject.value === "organization") { args.org_name = orgName.value.trim(); args.org_code = orgCode.value.trim().toUpperCase(); }
      msg.textContent = ""; msg.className = "form-msg";
      try {
        const r = await api("create_account", args);
        done();
        await syncAccounts();
        openAccount(r.account_id);
        toast(t("account_created", { id: r.account_id }));
        const carried = r.carried || [];   // what it starts with from its subject's other accounts, and why
        if (carried.includes("credit")) toast(t("account_carried_credit", { level: r.credit_level }));
        if (carried.includes("comments_restricted")) toast(t("account_carried_comments"));
        if (carried.includes("suspended")) toast(t("account_carried_suspended"));
        if (r.held) { toast(t("account_text_held")); loadHeld(); }   // a name or intro held for review: not shown yet
      } catch (err) {
        msg.textContent = refusal(err, "create_account", args); msg.className = "form-msg error";
        if (err.reply && err.reply.account_id) syncAccounts();   // refused after it was stored: it exists, list it
        if (err.code === "verification_required") msg.append(" ", el("button", { type: "button", class: "link", id: "account-create-verify", text: t("verify"), onclick: () => { done(); hooks.openProfile(); } }));
      }
    } }, el("small", { class: "muted", text: t("new_account_hint") }),
    field(t("account_name"), name, t("account_name_hint")), field(t("category"), cat), field(t("intro"), intro),
    field(t("subject"), subject), orgBox,
    el("button", { type: "submit", class: "primary", id: "account-create-submit", text: t("create") }), msg);
  });
}

// ------------------------------------------------------------------ the owner's settings
// The open settings dialog's: its fields the owner left as they were follow a new name or intro.
let followShown = null;
function manageDialog(v) {
  const info = v.info;
  // What the account shows now (the view's account_info, read again after each change and notice).
  const shown = () => (A.view && A.view.aid === v.aid && A.view.info) || v.info;
  let stopHeld = null;
  modal(t("account_manage"), (done, dlg) => {
    dlg.dataset.aid = v.aid;   // (closed when the account is: accountNotice)
    const msg = el("p", { class: "form-msg", role: "alert" });
    const say = (text, ok) => { msg.textContent = text; msg.className = "form-msg " + (ok ? "ok" : "error"); };
    // A suspension covers what the account shows as well as its posts: no new name or introduction.
    const suspended = info.status === "suspended";
    const name = el("input", { id: "account-edit-name", value: info.name, maxlength: textRoom(30), disabled: suspended });
    const intro = el("textarea", { id: "account-edit-intro", rows: 3, maxlength: textRoom(500), value: info.intro || "", disabled: suspended });
    // The new name and intro waiting for review (only the owner sees them), each with a withdraw button.
    const heldName = el("div", { id: "account-held-name" });
    const heldIntro = el("div", { id: "account-held-intro" });
    const drawHeld = () => {
      for (const [box, kind] of [[heldName, "account_name"], [heldIntro, "account_intro"]]) {
        clear(box);
        const items = heldBox(kind, v.aid);
        if (items) box.append(items);
      }
    };
    drawHeld();
    stopHeld = onHeldChange(drawHeld);
    const uid = userIdInput({ id: "editor-user-id", "aria-label": t("editor_user_id") });
    const editors = el("ul", { class: "members", id: "editor-list" });
    const drawEditors = () => {
      clear(editors);
      for (const [id, on] of A.editors.get(v.aid) || []) {
        editors.append(el("li", { class: "member editor", "data-uid": id }, el("div", { class: "row" },
          el("span", { class: "mono grow", text: id }), el("span", { class: "tag " + (on ? "tag-editor" : "tag-muted"), text: t(on ? "editor_on" : "editor_off") }))));
      }
    };
    const setEditor = async (on) => {
      const args = { account_id: v.aid, user_id: userIdOf(uid), on };
      if (!args.user_id) return;
      try { await api("set_editor", args); } catch (e) { say(refusal(e, "set_editor", args, shown()), false); return; }
      if (!A.editors.has(v.aid)) A.editors.set(v.aid, new Map());
      A.editors.get(v.aid).set(args.user_id, on);
      uid.value = "";
      say(t(on ? "editor_added" : "editor_removed"), true);
      drawEditors();
    };
    drawEditors();
    // What the fields were filled with (a copy: account_updated changes the page's info in place). A
    // field the owner left as it was is not sent, though the page learnt another name meanwhile (the
    // platform's remove-text or grant-name, a rename from another device): sent, it put back the name
    // the platform had removed, or gave up the one it granted.
    let filled = { name: info.name, intro: info.intro || "" };
    followShown = (aid) => {   // (onAccountUpdated) an untouched field shows what the account shows now
      if (aid !== v.aid) return;
      const now = shown();
      if (name.value.trim() === filled.name) name.value = filled.name = now.name;
      if (intro.value.trim() === filled.intro) intro.value = filled.intro = now.intro || "";
    };
    return [
      el("form", { class: "stack", id: "account-edit-form", onsubmit: async (e) => {
        e.preventDefault();
        const args = { account_id: v.aid };
        const now = shown();
        const typed = { name: name.value.trim(), intro: intro.value.trim() };
        if (typed.name !== filled.name && typed.name !== now.name) args.name = typed.name;
        if (typed.intro !== filled.intro && typed.intro !== (now.intro || "")) args.intro = typed.intro;
        if (Object.keys(args).length === 1) return;
        let r;
        try { r = await api("update_account", args); } catch (err) { say(refusal(err, "update_account", args, shown()), false); return; }
        say(t(r && r.held ? "account_text_held" : "saved"), true);   // held: the account shows what it showed
        if (r && r.held) loadHeld();
        await syncAccounts();
        // The fields show what the account shows now: a held text waits under its field, with its
        // withdraw button, and is not sent again (after a withdrawal too) with the next save.
        const after = shown();
        name.value = after.name;
        intro.value = after.intro || "";
        filled = { name: name.value, intro: intro.value };
      } }, el("h3", { text: t("account_profile") }),
      suspended ? el("p", { class: "form-msg error", id: "account-edit-suspended", text: t("ae_suspended_edit") }) : null,
      field(t("account_name"), name), heldName, field(t("intro"), intro), heldIntro,
      el("button", { type: "submit", class: "primary", id: "account-edit-save", text: t("save"), disabled: suspended })),
      el("section", { class: "stack" }, el("h3", { text: t("editors") }), el("small", { class: "muted", text: t("editors_hint") }),
        el("div", { class: "row wrap", id: "editor-row" }, uid,
          el("button", { type: "button", class: "primary", id: "editor-add", text: t("editor_add"), onclick: () => setEditor(true) }),
          el("button", { type: "button", class: "ghost", id: "editor-remove", text: t("editor_remove"), onclick: () => setEditor(false) })),
        editors),
      msg,
      el("section", {}, el("button", { type: "button", class: "danger", id: "account-close", text: t("account_close"), onclick: async () => {
        if (!await confirmBox(t("confirm_account_close", { name: info.name }), t("account_close"), t("cancel"))) return;
        try { await api("close_account", { account_id: v.aid }); } catch (err) { say(refusal(err, "close_account", {}, info), false); return; }
        done();
        toast(t("account_closed_done", { name: info.name }));
        await syncAccounts();
      } }), el("small", { class: "muted block", text: t("account_close_hint") })),
    ];
  }, { id: "account-manage-dialog" }).then(() => { if (stopHeld) stopHeld(); followShown = null; });
}

setPostHooks({ seen: () => drawAccounts() });

// ------------------------------------------------------------------ events and notices
// `post`: a followed account published. Shown at once when its page is open, and counted on its badge
// unless that page is in view (an open page out of sight behind the groups tab counts it too).
export function onPostEvent(ev) {
  const v = A.view;
  if (v && v.aid === ev.account_id) {
    refreshPosts(v, renderPane);
    // (a post the platform released while it was open, held: read again, its pictures now served)
    if (v.post && v.post.post.post_id === ev.post_id) refreshOpenPost(v, renderPane);
  }
  // An account one manages and does not follow: its open list is refreshed (a post of a co-editor,
  // one released by the platform), but nothing is counted or announced as news for a follower.
  if (inView(ev.account_id) || !A.subs.has(ev.account_id)) return;
  if (!A.newPosts.has(ev.account_id)) A.newPosts.set(ev.account_id, new Set());
  A.newPosts.get(ev.account_id).add(ev.post_id);
  drawAccounts();
  toast(t("new_post", { name: accountName(ev.account_id), title: ev.title }));
}

// `post_deleted` [ext]: a post is gone: out of the open account's list (closed if it is open), and
// no longer counted on the account's badge, nor are the new comments on it.
export function onPostDeleted(ev) {
  const v = A.view;
  if (v && v.aid === ev.account_id) postGone(v, ev.post_id, renderPane);
  const posts = A.newPosts.get(ev.account_id);
  let changed = !!(posts && posts.delete(ev.post_id));
  if (posts && !posts.size) A.newPosts.delete(ev.account_id);
  const comments = A.newComments.get(ev.account_id);
  for (const [cid, pid] of comments ? [...comments] : []) if (pid === ev.post_id) { comments.delete(cid); changed = true; }
  if (comments && !comments.size) A.newComments.delete(ev.account_id);
  if (changed) drawAccounts();
}

// `post_comments` [ext]: a post's comment mode changed: the open account's list and post follow.
export function onPostComments(ev) {
  const v = A.view;
  if (v && v.aid === ev.account_id) postCommentsChanged(v, ev, renderPane);
}

// `comment_deleted` [ext]: a comment this user saw is gone for them (deleted or hidden by the
// account, removed by the platform): out of the open post, and no longer counted on the badge.
export function onCommentDeleted(ev) {
  const v = A.view;
  if (v && v.aid === ev.account_id) commentGone(v, ev.post_id, ev.comment_id, renderPane);
  const comments = A.newComments.get(ev.account_id);
  if (comments && comments.delete(ev.comment_id)) {
    if (!comments.size) A.newComments.delete(ev.account_id);
    drawAccounts();
  }
}

// `comment`: a new comment (owners and editors) shows at once under its post when that post is open,
// and is counted unless that page is in view. [ext] `moderated`: a comment whose status changed
// (approved, released, hidden: to the managers, and its author when it is shown): shown as it is now
// under its open post, never counted as new; its author, not looking at it, is told it is public.
export function onCommentEvent(ev) {
  const v = A.view;
  const open = !!(v && v.aid === ev.account_id && v.post && v.post.post.post_id === ev.post_id);
  if (open) addLiveComment(v, ev, renderPane);
  if (ev.moderated) {
    const mine = S.me && ev.user.user_id === S.me.user_id;
    if (mine && !ev.hidden && !ev.held && !managerRole(ev.account_id) && !(open && inView(ev.account_id))) {
      toast(t("own_comment_shown", { name: accountName(ev.account_id) }));
    }
    return;
  }
  if (open && inView(ev.account_id)) {
    // (seen arriving under the post; heard too)
    if (!S.me || ev.user.user_id !== S.me.user_id) announce(t("new_comment_here", { who: ev.user.display_name, text: ev.text }));
    return;
  }
  // The account's post list in view: its comment counts move (the first page read again).
  if (v && v.aid === ev.account_id && !v.post && inView(ev.account_id)) refreshPosts(v, renderPane);
  if (!A.newComments.has(ev.account_id)) A.newComments.set(ev.account_id, new Map());
  A.newComments.get(ev.account_id).set(ev.comment_id, ev.post_id);
  drawAccounts();
  toast(t(ev.held ? "new_comment_held" : "new_comment", { name: accountName(ev.account_id), who: ev.user.display_name, text: ev.text }));
}

// `user_renamed` (app.js hands it on): the open post's comments by that user, and the reply being
// written to one of them, show the new name at once, as the chat's senders do. Only a rename this
// page is told of: the server sends it to the user's own connections and to the members of the groups
// they are in, not to every reader of a post they commented on (those read it at the next load).
export function commenterRenamed(uid, name) {
  const vp = A.view && A.view.post;
  if (!vp) return;
  let changed = false;
  for (const c of [...vp.comments, vp.replyTo]) {
    if (c && c.user && c.user.user_id === uid && c.user.display_name !== name) { c.user = { ...c.user, display_name: name }; changed = true; }
  }
  if (changed) renderPane();
}

// `editor_changed` [ext]: set_editor named this user: made an editor of the account (我运营的 lists it
// at once) or no longer one (it leaves the list with its counts); an open post of the account lists
// its comments again as the user may see them now. Returns the line for the notices. On the owner's
// other pages, about another user: the editors the settings dialog lists (set in this page's life).
export function onEditorChanged(ev) {
  if (!S.me || ev.user_id !== S.me.user_id) {
    if (managerRole(ev.account_id) === "owner") {
      if (!A.editors.has(ev.account_id)) A.editors.set(ev.account_id, new Map());
      A.editors.get(ev.account_id).set(ev.user_id, ev.on);
    }
    return null;
  }
  if (!ev.on && A.newComments.delete(ev.account_id)) drawAccounts();
  syncAccounts({ comments: true });   // the open page too, and its open post's comments
  return t(ev.on ? "n_editor_on" : "n_editor_off", { name: ev.name });
}

// `account_updated` [ext]: an account this user follows or runs, or has open, shows a new name, intro
// or organisation name (its owner's change, or the platform's: a name granted, a held one released,
// one removed): its items in the lists, its open page and its open post say so at once. Only the
// fields the event carries changed; the owner's settings dialog, open, keeps what is typed in it and
// shows the new name or intro in a field left as it was (its save sends only what the owner changed:
// manageDialog).
export function onAccountUpdated(ev) {
  const named = typeof ev.name === "string";
  if (named) {
    for (const list of [A.mine, A.subs]) {
      const x = list.get(ev.account_id);
      if (x) x.name = ev.name;
    }
  }
  const v = A.view;
  if (v && v.aid === ev.account_id && v.info) {
    if (named) v.info.name = ev.name;
    if (typeof ev.intro === "string") v.info.intro = ev.intro;
    if (typeof ev.org_name === "string") v.info.org_name = ev.org_name;
    renderPane();
    if (followShown) followShown(ev.account_id);
  }
  if (named) drawAccounts();
}

// `account_credit`: the operator changed the account's score, or gave back what an overturned
// sanction took. Built from the notice's fields (`credit_score`, `credit_level`, `delta`, and
// `sanction_id` or `reason`), never from its English text; a server that sends no fields: its text.
function accountCreditText(name, ev, text) {
  const score = ev.credit_score, level = ev.credit_level, delta = ev.delta;
  if (typeof score !== "number" || typeof level !== "number" || typeof delta !== "number") {
    return t("an_account_credit", { name, text });
  }
  if (ev.sanction_id) {
    return delta > 0 ? t("an_credit_back", { name, points: delta, sid: ev.sanction_id, score, level })
      : t("an_credit_sanction", { name, points: -delta, sid: ev.sanction_id, score, level });
  }
  const signed = delta > 0 ? "+" + delta : String(delta);
  if (typeof ev.reason === "string" && ev.reason) return t("an_credit_changed", { name, delta: signed, score, level, reason: ev.reason });
  return t("an_credit_plain", { name, delta: signed, score, level });
}

// The operator's own words from a field when the server sends it; else `text` (an older server).
export function said(field, text) { return typeof field === "string" ? field : text; }

// A platform notice about an account (P12, P13): its text in plain language, as a function that words
// it in the language of the moment (the notices list says it again after a switch); the lists, the
// open page and (for a removed post) the open post follow.
export function accountNotice(ev) {
  const name = accountName(ev.account_id);
  const text = ev.text || "";
  const say = () => accountNoticeText(ev, name, text);
  const v = A.view;
  if (v && v.aid === ev.account_id) contentNotice(v, ev, renderPane);   // posts.js: what it changes on the page
  if (ev.kind === "account_closed") {   // (its settings, open, would only be refused now)
    const d = document.getElementById("account-manage-dialog");
    if (d && d.dataset.aid === ev.account_id) d.close();
  }
  syncAccounts();
  return say;
}

function accountNoticeText(ev, name, text) {
  let s;
  switch (ev.kind) {
    case "account_warning":
      s = t("an_warning", { name, text }) + (ev.deadline ? " " + t("n_warning_deadline", { deadline: fmtTime(ev.deadline) }) : "");
      break;
    case "account_suspended": {
      // an_suspended says what a suspension stops in the reader's language; `reason` is the operator's
      // reason alone (`text`, in English, says both). A server without `reason` leaves it out.
      s = t("an_suspended", { name, until: ev.deadline ? fmtTime(ev.deadline) : "", text: ev.reason || "" });
      break;
    }
    case "account_credit": s = accountCreditText(name, ev, text); break;
    case "account_closed":
      s = ev.by ? t("an_account_closed", { name, text: said(ev.reason, text) }) : t("an_account_closed_by_owner", { name });  // no `by`: its owner
      break;
    // **[ext]** `reason`: the operator's words alone (`text` wraps them in English); from an older
    // server, `text` as it is.
    case "account_restricted": case "account_unrestricted":
      s = t("an_" + ev.kind, { name, text: said(ev.reason, text) });
      break;
    case "sanction_lifted": {
      // **[ext]** `measure` says which sanction went (a warning, the comments' restriction, the
      // suspension), `reason` why; an older server's `text` as it is.
      const key = { warning: "an_lifted_warning", restrict_comments: "an_lifted_restrict_comments",
        suspend_account: "an_lifted_suspend_account" }[ev.measure];
      s = key && typeof ev.reason === "string" ? t(key, { name, sid: ev.sanction_id || "", reason: ev.reason })
        : t("an_sanction_lifted", { name, text: said(ev.reason, text) });
      break;
    }
    case "account_licensed": {
      const label = ["news", "government", "verified"].includes(ev.label) ? t("lic_" + ev.label) : null;
      s = label && typeof ev.reason === "string" && (ev.measure === "grant" || ev.measure === "revoke")
        ? t("an_licensed_" + ev.measure, { name, label, reason: ev.reason }) : t("an_account_licensed", { name, text });
      break;
    }
    case "account_name_granted":
      s = typeof ev.reason === "string" ? t("an_account_name_granted", { name, reason: ev.reason }) : text;
      break;
    case "post_removed":
      s = typeof ev.title === "string" && typeof ev.reason === "string"
        ? t("an_post_removed_title", { name, title: ev.title, reason: ev.reason }) : t("an_post_removed", { name, text });
      break;
    case "content_removed": {   // one's own post or comment: `content`, `outcome`, `title`, `reason`
      const what = (ev.content === "post" || ev.content === "comment") && typeof ev.title === "string"
        ? t("cr_" + ev.content, { name, title: ev.title })
        : ev.content === "account_name" || ev.content === "account_intro" ? t("cr_" + ev.content, { name }) : null;
      s = what && typeof ev.reason === "string"
        ? t(ev.outcome === "rejected" ? "cr_rejected" : "cr_removed", { what, reason: ev.reason }) : text;
      break;
    }
    default: s = text;
  }
  return s;
}
