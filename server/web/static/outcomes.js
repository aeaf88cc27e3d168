// One's own reports and appeals with how each was handled (`my_reports`, `my_appeals`), the
// platform's measures standing against oneself and one's groups (`my_sanctions`), and, after each
// login or reconnect, a notice for those handled or taken since the user last looked, and for the
// platform's notices sent since (`platform_notices`): the live `report_result`, `appeal_result`,
// `warning`, `sanction` and `platform` notices reach only pages connected then.
//
// "Last looked" is kept in this browser: the latest resolution time (the server's clock, ms) the user
// was told of, under "qg.seen.<first 16 hex digits of SHA-256 of the user id>". Unlike the rest of
// what the page keeps for a user it stays after logout (the next login would otherwise announce every
// old outcome again), and it holds no content and not the user id itself.
import { el, toast, modal, clear } from "./dom.js";
import { t, errorText, fmtTime } from "./i18n.js";
import { S, A, api } from "./state.js";
import { browserStore } from "./browser_store.js";
import { sha256hex } from "./sha256.js";
import { reportReasonLabel, appealDialog } from "./manage.js";

const PAGE = 20;
const CHECK_PAGES = 5;   // on login: the newest 500 reports and appeals (a report is rate-limited to 20 an hour)
export const SEEN_PREFIX = "qg.seen.";

// kind "": outcomes (by resolution time); "s.": the platform's measures (by their start).
async function seenKey(userId, kind = "") {
  return SEEN_PREFIX + kind + (await sha256hex(new TextEncoder().encode(userId))).slice(0, 16);
}
async function seenAt(userId, kind = "") {
  const v = Number(browserStore.get(await seenKey(userId, kind)));
  return Number.isFinite(v) && v > 0 ? v : 0;
}
async function setSeen(userId, at, kind = "") {
  if (at > await seenAt(userId, kind)) browserStore.set(await seenKey(userId, kind), String(at));
}
const MEASURES_SEEN = "s.";
const NOTICES_SEEN = "p.";   // the platform's notices (by the time they were sent)

const doneAt = (x) => x.resolved_at ?? x.decided_at ?? 0;

// Every handled report and appeal among the newest CHECK_PAGES pages of each.
async function handled() {
  const out = [];
  for (const [op, key, id] of [["my_reports", "reports", "report_id"], ["my_appeals", "appeals", "appeal_id"]]) {
    let before = null;
    for (let i = 0; i < CHECK_PAGES; i++) {
      const r = await api(op, before ? { before, limit: 100 } : { limit: 100 });
      const rows = r[key] || [];
      for (const x of rows) if (x.status !== "open") out.push({ kind: key, ...x });
      if (rows.length < 100) break;
      before = rows[rows.length - 1][id];
    }
  }
  return out;
}

// One outcome in the words of the live notice it stands for.
function outcomeText(x) {
  const text = x.note || "";
  if (x.kind === "reports") return t(x.outcome === "upheld" ? "n_report_result_upheld" : "n_report_result_rejected", { text });
  return t(appealKey(x, "n_appeal_upheld", "n_appeal_upheld_ended", "n_appeal_rejected"), { sid: x.sanction_id, text });
}

// An appeal's outcome as one of three: upheld and lifted by the decision, upheld once the sanction
// had ended already (`lifted: false`; a server without the field means lifted), or rejected.
export function appealKey(x, lifted, ended, rejected) {
  if (x.outcome !== "upheld") return rejected;
  return x.lifted === false ? ended : lifted;
}

// The measures standing against me or my groups (`my_sanctions`); [] from a server without it.
async function standing() {
  try { return (await api("my_sanctions")).sanctions || []; } catch (e) {
    if (e.code === "unknown_op") return [];
    throw e;
  }
}
// The measures taken since the user last looked in this browser: a notice (one in its words, else
// how many) with the list's button. Seen as the latest `starts_at` told, as outcomes are.
async function checkSanctions(notice, me) {
  const rows = await standing();
  const since = await seenAt(me.user_id, MEASURES_SEEN);
  const fresh = rows.filter((x) => x.starts_at > since);
  if (!fresh.length || S.me !== me) return;
  const view = { label: () => t("view_my_reports"), run: () => openMyReports() };
  const one = fresh[0];
  notice(fresh.length === 1 ? t("n_sanction_standing", { sid: one.sanction_id, what: measureText(one), reason: one.reason || "" })
    : t("n_sanctions_standing", { n: fresh.length }), view, "error");
  await setSeen(me.user_id, Math.max(...fresh.map((x) => x.starts_at)), MEASURES_SEEN);
}

// A live `warning` or `sanction` notice was shown: the measures standing now are seen.
export async function markSanctionsSeen() {
  const me = S.me;
  if (!me) return;
  try {
    await setSeen(me.user_id, Math.max(0, ...(await standing()).map((x) => x.starts_at)), MEASURES_SEEN);
  } catch { /* told again at the next login: better than never */ }
}

// The platform's notices sent since the newest one this browser showed the user, each in its words,
// listed at the time it was sent; several are summed up in one toast. A live one shown before this
// connection's check has asked (toldLive) is not shown again, nor taken for the newest seen: that hid
// every one sent while the user was away, asked for after it.
let noticesChecked = true;
const toldLive = new Set();
export function platformNoticesDue() { noticesChecked = false; }
async function checkPlatformNotices(notice, me) {
  let newest = 0;
  try {
    const since = await seenAt(me.user_id, NOTICES_SEEN);
    const { notices } = await api("platform_notices", since ? { after: since } : {});
    if (S.me !== me) return;
    const fresh = notices.filter((n) => !toldLive.has(n.at));
    for (const n of fresh) notice(() => t("n_platform", { text: n.text }), null, "info", { at: n.at, quiet: fresh.length > 1 });
    if (fresh.length > 1) toast(t("n_platform_since", { n: fresh.length }));
    newest = Math.max(0, ...notices.map((n) => n.at));
  } finally {
    noticesChecked = true;
  }
  await setSeen(me.user_id, Math.max(newest, ...toldLive), NOTICES_SEEN);   // (and those told live meanwhile)
  toldLive.clear();
}

// A live platform notice was shown: the next login does not tell it again.
export async function markPlatformNoticeSeen(at) {
  if (typeof at !== "number") return;
  if (!noticesChecked) { toldLive.add(at); return; }
  if (S.me) await setSeen(S.me.user_id, at, NOTICES_SEEN);
}

// After login or a reconnect: a notice for what was handled since the user last looked (one with its
// words when there is one, else how many), with a button that opens the list; and one for the
// platform's measures taken since.
// <body data-outcomes> says "checking", then "checked" (the tests wait for it).
export async function checkOutcomes(notice) {
  const me = S.me;
  if (!me) return;
  document.body.dataset.outcomes = "checking";
  try {
    try { await checkSanctions(notice, me); } catch { /* said at the next login */ }
    try { await checkPlatformNotices(notice, me); } catch { /* an older server without the op, or said at the next login */ }
    let rows;
    try { rows = await handled(); } catch { return; }   // an older server without my_appeals: nothing to say
    const since = await seenAt(me.user_id);
    const fresh = rows.filter((x) => doneAt(x) > since).sort((a, b) => doneAt(b) - doneAt(a));
    if (!fresh.length || S.me !== me) return;
    const view = { label: () => t("view_my_reports"), run: () => openMyReports() };
    notice(fresh.length === 1 ? outcomeText(fresh[0]) : t("n_outcomes_since", { n: fresh.length }), view);
    await setSeen(me.user_id, doneAt(fresh[0]));
  } finally {
    if (S.me === me) document.body.dataset.outcomes = "checked";
  }
}

// A live result notice was shown: what it told is seen (the next login does not repeat it).
export async function markOutcomesSeen() {
  const me = S.me;
  if (!me) return;
  try {
    const rows = await handled();
    if (rows.length) await setSeen(me.user_id, Math.max(...rows.map(doneAt)));
  } catch { /* told again at the next login: better than never */ }
}

// A reported public account by its name: as the server gives it now ([ext] account_name), else as
// this page knows it (followed, run, or open), else its number (a server without the field).
function accountName(r) {
  const known = A.subs.get(r.account_id) || A.mine.get(r.account_id)
    || (A.view && A.view.aid === r.account_id && A.view.info ? A.view.info : null);
  return r.account_name || (known && known.name) || r.account_id || "";
}

// A reported post, or the post of a reported comment, by its title while the reporter may read it
// ([ext] post_title: none for a post deleted or removed since, or one only its managers see), else
// as "a post of the account".
function postTarget(r, untitled, titled) {
  const account = accountName(r);
  return r.post_title ? t(titled, { account, title: r.post_title }) : t(untitled, { account });
}

function reportTarget(r) {
  const g = r.group_id ? S.groups.get(r.group_id) : null;
  const group = g ? g.name : r.group_id;
  switch (r.target_type) {
    case "message": return t("rt_message", { group, seq: r.seq });
    case "user": return t("rt_user", { user: S.names.get(r.user_id) || r.user_id });
    case "group": return t("rt_group", { group });
    case "account": return t("rt_account", { account: accountName(r) });
    case "post": return postTarget(r, "rt_post", "rt_post_titled");
    case "comment": return postTarget(r, "rt_comment", "rt_comment_titled");
    default: return r.target_type;
  }
}

function statusTag(x) {
  const key = x.status === "open" ? "outcome_open" : x.outcome === "upheld" ? "outcome_upheld" : "outcome_rejected";
  return el("span", { class: "tag tag-outcome-" + (x.status === "open" ? "open" : x.outcome), text: t(key) });
}

function reportItem(r) {
  return el("li", { "data-report-id": r.report_id },
    el("p", {}, statusTag(r), " ", el("span", { text: t("report_about", { target: reportTarget(r), reason: reportReasonLabel(r.reason) }) })),
    el("small", { class: "muted", text: t("sent_at", { time: fmtTime(r.created_at) }) }),
    r.status === "open" ? null : el("p", { class: "outcome-note",
      text: t("handled_note", { time: fmtTime(r.resolved_at), note: r.note || "" }) }));
}

function appealItem(a) {
  const upheld = a.outcome === "upheld";
  return el("li", { "data-appeal-id": a.appeal_id },
    el("p", {}, statusTag(a), " ", el("span", { text: t("appeal_about", { sid: a.sanction_id }) })),
    el("small", { class: "muted", text: t("sent_at", { time: fmtTime(a.created_at) }) }),
    a.status === "open" ? null : el("p", { class: "outcome-note",
      text: t(appealKey(a, "appeal_lifted", "appeal_ended", "appeal_stands")) + " " +
        t("handled_note", { time: fmtTime(a.decided_at), note: a.note || "" }) }));
}

// A measure in words: what it is and, for a group's or a public account's, which one.
const MEASURES = { warning: "measure_warning", suspend_group: "measure_suspend_group",
  suspend_admin: "measure_suspend_admin", revoke_create: "measure_revoke_create" };
const ACCOUNT_MEASURES = { warning: "measure_account_warning", restrict_comments: "measure_restrict_comments",
  suspend_account: "measure_suspend_account" };
function measureText(x) {
  if (x.account_id) {
    const key = ACCOUNT_MEASURES[x.measure];
    return key ? t(key, { account: x.account_name || x.account_id }) : String(x.measure || "");
  }
  return MEASURES[x.measure] ? t(MEASURES[x.measure], { group: x.group_name || x.group_id || "" }) : String(x.measure || "");
}

function sanctionItem(x, appealed = () => {}) {
  const end = x.measure === "warning" ? (x.deadline ? t("sanction_deadline", { time: fmtTime(x.deadline) }) : "")
    : x.until ? t("sanction_until", { time: fmtTime(x.until) }) : t("sanction_no_end");
  return el("li", { "data-sanction-id": x.sanction_id },
    el("p", {}, el("span", { class: "tag tag-outcome-" + (x.status === "overdue" ? "rejected" : "open"),
      text: t(x.status === "overdue" ? "sanction_overdue" : "sanction_in_force") }), " ", el("span", { text: measureText(x) })),
    el("small", { class: "muted", text: [t("sanction_since", { time: fmtTime(x.starts_at), sid: x.sanction_id }), end].filter(Boolean).join(" · ") }),
    x.reason ? el("p", { class: "outcome-note", text: t("sanction_reason", { reason: x.reason }) }) : null,
    el("button", { type: "button", class: "ghost small act-appeal", text: t("appeal"), onclick: () => appealDialog(x.sanction_id).then((id) => { if (id) appealed(); }) }));
}

// A list that pages back with "load more" (`before` = the oldest id shown).
function pagedList(op, key, id, item, empty, listId) {
  const list = el("ul", { class: "outcomes", id: listId });
  const more = el("button", { type: "button", class: "ghost small", text: t("load_more"), hidden: true });
  const wrap = el("div", {}, list, more);
  let before = null;
  const load = async () => {
    more.hidden = true;
    try {
      const r = await api(op, before ? { before, limit: PAGE } : { limit: PAGE });
      const rows = r[key] || [];
      if (!before && rows.length === 0) list.append(el("li", { class: "muted", text: t(empty) }));
      for (const x of rows) list.append(item(x));
      if (rows.length) before = rows[rows.length - 1][id];
      more.hidden = rows.length < PAGE;
      return rows;
    } catch (e) {
      list.append(el("li", { class: "form-msg error", text: errorText(e) }));
      return [];
    }
  };
  more.addEventListener("click", load);
  // (read again from the newest: an appeal sent from the list above goes at its top)
  const reload = () => { clear(list); before = null; return load(); };
  return { wrap, load, reload };
}

// 我的举报与申诉: each report and appeal with its status and, once handled, the outcome, the
// platform's note and when. Looking at it counts as having seen every outcome it shows.
export function openMyReports() {
  const reports = pagedList("my_reports", "reports", "report_id", reportItem, "no_my_reports", "my-report-list");
  const appeals = pagedList("my_appeals", "appeals", "appeal_id", appealItem, "no_my_appeals", "my-appeal-list");
  const sanctions = el("ul", { class: "outcomes", id: "my-sanction-list" });
  standing().then((rows) => {
    if (!rows.length) sanctions.append(el("li", { class: "muted", text: t("no_my_sanctions") }));
    for (const x of rows) sanctions.append(sanctionItem(x, () => appeals.reload()));
  }).catch((e) => sanctions.append(el("li", { class: "form-msg error", text: errorText(e) })));
  modal(t("my_reports"), () => [
    el("h3", { text: t("my_sanctions_list") }), sanctions,
    el("h3", { text: t("my_reports_list") }), reports.wrap,
    el("h3", { text: t("my_appeals_list") }), appeals.wrap,
  ], { id: "my-reports-dialog" });
  const me = S.me;
  Promise.all([reports.load(), appeals.load()]).then(([rs, as]) => {
    const times = [...rs, ...as].filter((x) => x.status !== "open").map(doneAt);
    if (me && times.length) setSeen(me.user_id, Math.max(...times));
  }).catch((e) => toast(errorText(e), "error"));
}
