// The owner/admin panel's v2 sections: bans (ban with a duration and a reason, the ban list,
// unban), slow mode, invite links with their QR codes, and the group's moderation log.
// manage.js places them; each is its own function and talks to the server only through api().
import { el, toast, modal, dialogFor, confirmBox, userIdInput, userIdOf, copyText } from "./dom.js";
import { t, errorText, fmtTime, catName } from "./i18n.js";
import { S, api, remember, textRoom } from "./state.js";

export const BAN_LENGTHS = [["ban_1d", 86400], ["ban_7d", 604800], ["ban_30d", 2592000], ["ban_forever", 0]];
const SLOW = [0, 10, 30, 60, 300, 900, 3600];
const USES = [0, 1, 5, 10, 50, 100];
const EXPIRY = [["expire_1h", 3600], ["expire_1d", 86400], ["expire_7d", 604800], ["expire_never", 0]];

async function act(op, args, okText) {
  try { const r = await api(op, args); if (okText) toast(okText); return r || {}; } catch (e) { toast(errorText(e), "error"); return null; }
}

function memberName(g, uid) {
  const u = g.members ? g.members.get(uid) : null;
  return u ? u.display_name : S.names.get(uid) || null;
}

// ---------------------------------------------------------------- bans
export function banDialog(g, userId, name) {
  dialogFor(g.group_id);
  modal(t("ban"), (done) => {
    const len = el("select", { id: "ban-seconds" }, BAN_LENGTHS.map(([k, s]) => el("option", { value: s, text: t(k) })));
    const reason = el("input", { id: "ban-reason", maxlength: textRoom(200), placeholder: t("ban_reason_hint") });
    const clean = el("input", { type: "checkbox", id: "ban-clean" });
    return el("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      const args = { group_id: g.group_id, user_id: userId };
      if (Number(len.value) > 0) args.seconds = Number(len.value);
      if (reason.value.trim()) args.reason = reason.value.trim();
      if (!(await act("ban", args, t("ban_done", { name })))) return;
      done(true);
      if (clean.checked) await cleanMessages(g, userId, name);
    } }, el("p", { text: t("confirm_ban", { name }) }),
      el("label", { class: "field" }, el("span", { class: "label", text: t("ban_length") }), len),
      el("label", { class: "field" }, el("span", { class: "label", text: t("ban_reason") }), reason),
      el("label", { class: "row" }, clean, el("span", { text: t("ban_clean") })),
      el("div", { class: "row end" }, el("button", { type: "submit", class: "danger", id: "ban-submit", text: t("ban") })));
  });
}

// [ext] delete_user_messages: a person's messages in the group, a page a request until none is left.
// Asked too fast (one's own clean-up shares one's message rate): it waits as told and goes on; any
// other refusal says how many went and why the rest did not.
export async function cleanMessages(g, userId, name) {
  let total = 0;
  for (let pages = 0; pages < 1000; pages++) {
    let r;
    try { r = await api("delete_user_messages", { group_id: g.group_id, user_id: userId }); } catch (e) {
      const wait = e && e.code === "rate_limited" && e.reply ? e.reply.retry_after_ms : 0;
      if (wait && wait <= 10000) { await new Promise((ok) => setTimeout(ok, wait)); continue; }
      toast(t("clean_partial", { name, n: total, why: errorText(e) }), "error");
      return null;
    }
    total += r.deleted || 0;
    if (!r.more) break;
  }
  toast(t("clean_done", { name, n: total }));
  return total;
}

// The group's bans, or ``{ failed }`` with the refusal (a server without the op says unknown_op, which
// errorText words; any other failure is said as it is, not as a missing op).
export async function loadBans(g) {
  try { return (await api("bans", { group_id: g.group_id })).bans || []; } catch (e) { return { failed: e }; }
}

// Drawn in place (morph, as the member list): the list follows `ban_changed` and its items stay, so a
// press on Unban as another ban comes or goes still acts. The handlers read the page, never a node
// built here (it may be the one morph did not keep).
export function bansSection(g, bans, reload) {
  const uid = userIdInput({ id: "ban-user-id", "aria-label": t("ban_user_id"), "data-keep": true });
  return el("section", { id: "ban-section" }, el("h3", { text: t("bans") + (Array.isArray(bans) && bans.length ? " (" + bans.length + ")" : "") }),
    !Array.isArray(bans) ? el("p", { class: "muted", text: bans && bans.failed ? errorText(bans.failed) : t("e_unknown_op") }) :
      bans.length === 0 ? el("p", { class: "muted", id: "no-bans", text: t("no_bans") }) :
        el("ul", { class: "members", id: "ban-list" }, bans.map((b) => el("li", { class: "member ban", "data-uid": b.user_id },
          el("div", { class: "row wrap" }, el("span", { class: "who", text: memberName(g, b.user_id) || b.user_id }),
            el("span", { class: "mono muted small", text: b.user_id }),
            el("span", { class: "tag tag-muted", text: b.until ? t("banned_until", { until: fmtTime(b.until) }) : t("banned_forever") })),
          el("div", { class: "row wrap actions" },
            b.reason ? el("small", { class: "muted grow", text: t("ban_reason") + t("colon") + b.reason }) : el("span", { class: "grow" }),
            b.by ? el("small", { class: "muted", text: t("ban_by", { name: memberName(g, b.by) || b.by }) }) : null,
            el("button", { type: "button", class: "small danger act-clean", "data-act": "clean", text: t("clean"), onclick: async () => {
              const name = memberName(g, b.user_id) || b.user_id;
              if (await confirmBox(t("confirm_clean", { name }), t("clean"), t("cancel"))) await cleanMessages(g, b.user_id, name);
            } }),
            // (an admin may not lift the ban of someone who was an admin then: refused, so not offered)
            g.role === "admin" && b.of_admin ? null :
              el("button", { type: "button", class: "small act-unban", "data-act": "unban", text: t("unban"), onclick: async () => {
                if (await act("unban", { group_id: g.group_id, user_id: b.user_id }, t("unban_done"))) reload();
              } }))))),
    el("form", { class: "row", id: "ban-by-id-form", onsubmit: (e) => {
      e.preventDefault();
      const who = userIdOf(e.currentTarget.querySelector("#ban-user-id"));
      if (who) banDialog(g, who, who);
    } },
      uid, el("button", { type: "submit", class: "danger", id: "ban-by-id", text: t("ban") })),
    el("small", { class: "muted", text: t("ban_by_id_hint") }));
}

// ---------------------------------------------------------------- slow mode
// `edits`: the panel's fields chosen and not yet answered (manage.js): the choice stays shown through
// a redraw until the server answers.
export function slowModeControl(g, edits) {
  const now = Number((g.info && g.info.slow_mode_seconds) || 0);
  const values = SLOW.includes(now) ? SLOW : [...SLOW, now].sort((a, b) => a - b);
  // (the handler reads the select in the page: the panel is drawn in place, this one may not be kept)
  const sel = el("select", { id: "slow-mode", onchange: async (e) => {
    const page = e.currentTarget, want = page.value;
    edits.set("slow-mode", want);
    const r = await act("set_slow_mode", { group_id: g.group_id, seconds: Number(want) }, t("saved"));
    if (edits.get("slow-mode") === want) edits.delete("slow-mode");
    if (r === null) page.value = String(now);
  } }, values.map((s) => el("option", { value: s, selected: s === now, text: s ? t("slow_every", { d: fmtSeconds(s) }) : t("slow_off") })));
  return el("label", { class: "field" }, el("span", { class: "label", text: t("slow_mode") }), sel);
}

export function fmtSeconds(s) {
  if (s % 3600 === 0) return t("n_hours", { n: s / 3600 });
  if (s % 60 === 0) return t("n_minutes", { n: s / 60 });
  return t("n_seconds", { n: s });
}

// ---------------------------------------------------------------- invite links
export function joinUrl(code) { return location.origin + "/#join=" + encodeURIComponent(code); }

function invitesOf(g) {
  if (!S.invites) S.invites = new Map();
  if (!S.invites.has(g.group_id)) S.invites.set(g.group_id, []);
  return S.invites.get(g.group_id);
}

// A link's `max_uses` is a limit, not a count of uses left: the form offers "up to N joins", and the
// list says how many joined of how many (**[ext]** `invite_links` counts them).
function usesText(n) {
  return !n ? t("uses_any") : n === 1 ? t("uses_one") : t("uses_n", { n });
}

// The group's links that still work, from **[ext]** `invite_links` (manage.js asks each time the
// panel opens, with the bans): every manager's links, also those made on another page or device. A
// server without the op answers null, and the panel lists the links made on this page, as before.
export async function loadInviteLinks(g) {
  try { return (await api("invite_links", { group_id: g.group_id })).links || []; } catch { return null; }
}

// `listed`: loadInviteLinks' answer; `reload`: ask the server again (and redraw). Drawn in place
// (morph): the links are keyed by their link_id and follow `invite_link_changed`, a QR code already
// shown stays (see qrImage), and the form's handler reads its fields from the page.
export function inviteLinksSection(g, listed = null, reload = null) {
  const uses = el("select", { id: "invite-max-uses", "aria-label": t("field_uses"), "data-keep": true }, USES.map((n) => el("option", { value: n, text: usesText(n) })));
  const exp = el("select", { id: "invite-expiry", "aria-label": t("field_expiry"), "data-keep": true }, EXPIRY.map(([k, s]) => el("option", { value: s, text: t(k), selected: s === 604800 })));
  // `note`: for the managers (the listing and the group log show it); the server checks it like any text.
  const note = el("input", { id: "invite-note", "data-keep": true, maxlength: textRoom(200), autocomplete: "off",
    placeholder: t("invite_note_placeholder"), "aria-label": t("invite_note") });
  const list = el("ul", { class: "invites", id: "invite-links" });
  const byServer = Array.isArray(listed) && reload !== null;
  const redraw = reload || (() => {});
  if (!byServer) {
    for (const link of invitesOf(g)) list.append(linkNode(g, link, redraw));
  } else {
    // Newest first; a link made on this page (its code is known here alone) shows its URL and QR code.
    const held = new Map(invitesOf(g).filter((l) => l.link_id).map((l) => [l.link_id, l]));
    for (const l of [...listed].reverse()) list.append(listedNode(g, l, held.get(l.link_id), reload));
    if (!listed.length) list.append(el("li", { class: "muted", id: "no-invite-links", text: t("no_invite_links") }));
  }
  return el("section", { id: "invite-link-section" }, el("h3", { text: t("invite_links") + (byServer && listed.length ? " (" + listed.length + ")" : "") }),
    el("form", { class: "row wrap", id: "invite-link-form", onsubmit: async (e) => {
      e.preventDefault();
      const form = e.currentTarget;
      const field = (id) => form.querySelector("#" + id);
      const args = { group_id: g.group_id };
      if (Number(field("invite-max-uses").value) > 0) args.max_uses = Number(field("invite-max-uses").value);
      if (Number(field("invite-expiry").value) > 0) args.expires_in_seconds = Number(field("invite-expiry").value);
      if (field("invite-note").value.trim()) args.note = field("invite-note").value.trim();
      const r = await act("create_invite_link", args, t("invite_link_created"));
      if (r && r.code) {
        field("invite-note").value = "";   // made: the next link starts without one (a refused note stays, to be mended)
        invitesOf(g).unshift({ code: r.code, link_id: r.link_id, expires_at: r.expires_at, max_uses: args.max_uses || 0,
          note: args.note || "", revoked: false });
        redraw();
      }
    } }, uses, exp, note, el("button", { type: "submit", class: "primary", id: "invite-link-create", text: t("invite_link_create") })),
    el("small", { class: "muted", text: t(byServer ? "invite_links_listed_hint" : "invite_links_hint") }), list);
}

// The link is a secret that lets anyone in: it goes to the server in a request header, which a
// reverse proxy's access log does not keep (a query string it does), and the answer is never cached.
// Asked once per link and page: the picture (an object URL, kept while the page lives) is given to
// every img drawn for it after, so a redraw finds the same src on the img it keeps (morph would take
// away a src the fresh one lacked) and nothing is fetched again.
// The pictures hold the invite links, secrets: they go at logout (forgetInviteImages), and one still
// being fetched then is thrown away as it arrives (its generation is over).
const QR = new Map();   // url -> Promise of the object URL (null when the server refused)
const QR_DONE = new Map();   // url -> the object URL, or null, once known
let qrGeneration = 0;
export function forgetInviteImages() {
  for (const made of QR_DONE.values()) if (made) URL.revokeObjectURL(made);
  QR.clear(); QR_DONE.clear(); qrGeneration += 1;
}
function qrImage(url) {
  const known = QR_DONE.has(url);
  const src = QR_DONE.get(url);
  const img = el("img", { class: "qr" + (known && !src ? " qr-failed" : ""), alt: t("qr_alt"), width: 132, height: 132, src: src || null });
  if (known) return img;
  if (!QR.has(url)) {
    const generation = qrGeneration;
    QR.set(url, fetch("/qr.svg", { headers: { "Qunguan-QR-Text": encodeURIComponent(url) }, cache: "no-store" })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error("qr " + r.status))))
      .then((svg) => (generation === qrGeneration ? URL.createObjectURL(svg) : null), () => null)
      .then((made) => { if (generation === qrGeneration) QR_DONE.set(url, made); return made; }));
  }
  QR.get(url).then((made) => { if (made) img.src = made; else img.classList.add("qr-failed"); });
  return img;
}

function copyButton(url) {
  return el("button", { type: "button", class: "small act-copy-link", "data-act": "copy", text: t("copy"), onclick: async () => {
    if (await copyText(url)) toast(t("copied")); else toast(url);
  } });
}

// One link as `invite_links` gives it: joins so far (of at most how many), expiry, who made it, the
// note; revoked by its link_id, whoever made it. `mine`: the page's own record of it, with the code.
function listedNode(g, l, mine, reload) {
  const url = mine ? joinUrl(mine.code) : null;
  const facts = [l.max_uses ? t("link_uses_of", { n: l.uses, max: l.max_uses }) : t("link_uses", { n: l.uses }),
    l.expires_at ? t("expires_at", { time: fmtTime(l.expires_at) }) : t("expire_never"),
    t("link_by", { name: memberName(g, l.created_by) || l.created_by })];
  return el("li", { class: "invite-link listed", "data-link-id": l.link_id, "data-by": l.created_by },
    url ? qrImage(url) : null,
    el("div", { class: "grow stack tight" },
      url ? el("input", { class: "mono invite-url", readonly: true, value: url, "aria-label": t("invite_links"), onfocus: (e) => e.target.select() })
        : el("span", { class: "mono link-id", text: t("link_id", { id: l.link_id }) }),
      el("small", { class: "muted link-facts", text: facts.join(" · ") }),
      l.note ? el("small", { class: "muted link-note", text: t("link_note", { note: l.note }) }) : null,
      el("div", { class: "row wrap" }, url ? copyButton(url) : null,
        el("button", { type: "button", class: "small danger act-revoke-link", "data-act": "revoke", text: t("revoke"), onclick: async () => {
          // (one press killed a link, another manager's too: asked first, as a kick is)
          if (!(await confirmBox(t("confirm_revoke_link"), t("revoke"), t("cancel")))) return;
          if (await act("revoke_invite_link", { group_id: g.group_id, link_id: l.link_id }, t("revoke_done"))) {
            if (mine) mine.revoked = true;
            reload();
          }
        } }))));
}

// A link made on this page, from a server that does not list links: what create_invite_link said.
function linkNode(g, link, redraw) {
  const url = joinUrl(link.code);
  const facts = [usesText(link.max_uses),
    link.expires_at ? t("expires_at", { time: fmtTime(link.expires_at) }) : t("expire_never")];
  return el("li", { class: "invite-link" + (link.revoked ? " revoked" : ""), "data-code": link.code },
    qrImage(url),
    el("div", { class: "grow stack tight" },
      el("input", { class: "mono invite-url", readonly: true, value: url, "aria-label": t("invite_links"), onfocus: (e) => e.target.select() }),
      el("small", { class: "muted", text: link.revoked ? t("revoked") : facts.join(" · ") }),
      link.note ? el("small", { class: "muted link-note", text: t("link_note", { note: link.note }) }) : null,
      link.revoked ? null : el("div", { class: "row wrap" }, copyButton(url),
        el("button", { type: "button", class: "small danger act-revoke-link", "data-act": "revoke", text: t("revoke"), onclick: async () => {
          if (await act("revoke_invite_link", { group_id: g.group_id, code: link.code }, t("revoke_done"))) { link.revoked = true; redraw(); }
        } }))));
}

// ---------------------------------------------------------------- moderation log
const ACTIONS = new Set(["create_group", "kick", "mute", "mute_all", "set_role", "transfer_owner", "set_announcement", "update_group",
  "delete_message", "approve_join", "reject_join", "invite", "ban", "unban", "set_slow_mode", "pin_message",
  "create_invite_link", "revoke_invite_link", "dissolve_group", "warn_group", "suspend_group", "close_group",
  "lift_sanction", "suspend_admin", "remove_term", "remove_message", "decide_appeal", "review_release", "review_keep",
  "review_remove", "delete_user_messages"]);

export function actionLabel(action) { return ACTIONS.has(action) ? t("log_" + action) : action; }

export function openGroupLog(g) {
  const list = el("ul", { class: "log", id: "log-list" });
  const more = el("button", { type: "button", class: "link", id: "log-more", hidden: true, text: t("load_more") });
  const msg = el("p", { class: "form-msg", role: "status" });
  let before = null;
  const load = async () => {
    const args = { group_id: g.group_id, limit: 50 };
    if (before !== null) args.before_id = before;
    try {
      const r = await api("group_log", args);
      // ([ext] users: the names of those the page names, members who left too)
      remember(Object.entries(r.users || {}).map(([user_id, display_name]) => ({ user_id, display_name })));
      for (const e of r.entries) list.append(logNode(g, e));
      before = r.entries.length ? r.entries[r.entries.length - 1].id : before;
      more.hidden = r.entries.length < 50;
      msg.textContent = list.childElementCount ? "" : t("log_empty");
    } catch (e) { msg.textContent = errorText(e); msg.className = "form-msg error"; }
  };
  more.addEventListener("click", load);
  dialogFor(g.group_id);
  modal(t("group_log"), () => [msg, list, more], { wide: true, id: "log-dialog" });
  load();
}

function who(g, uid) {
  if (uid === "platform") return t("platform");
  return memberName(g, uid) || uid;
}

const known = (key, fallback) => { const s = t(key); return s === key ? fallback : s; };

// The entry's details in words where the key is known, "key: value" otherwise.
function detailText(detail) {
  if (detail === undefined || detail === null || detail === "") return "";
  if (typeof detail !== "object") return String(detail);
  const word = (k, v) => {
    if (k === "reason") return t("ban_reason") + t("colon") + v;
    if ((k === "until" || k === "deadline" || k === "expires_at") && typeof v === "number") return t("log_" + k) + " " + fmtTime(v);
    if ((k === "seconds" || k === "slow_mode_seconds") && typeof v === "number") return v ? fmtSeconds(v) : t("slow_off");
    if (k === "role") return t("role_" + v);
    // (`on`: a pin's, the only group entry that carries it)
    if ((k === "on" || k === "pinned") && typeof v === "boolean") return v ? t("log_pinned") : t("log_unpinned");
    if (typeof v === "boolean") return v ? t("log_on") : t("log_off");  // mute_all: the action names what
    if (k === "seq") return t("log_seq", { seq: v });
    if (k === "link") return t("log_link", { link: v });
    if (k === "max_uses" && typeof v === "number") return t(v === 1 ? "log_max_uses_one" : "log_max_uses", { n: v });
    if (k === "note") return t("log_note", { note: v });
    if (k === "sanction_id") return t("log_sanction", { id: v });
    if (k === "item_id") return t("log_item", { id: v });
    if (k === "sanctions_lifted" && Array.isArray(v)) return t("log_sanctions_lifted", { ids: v.join(", ") });
    if (k === "announcement") return t("log_quoted", { text: v });
    if (k === "name") return t("group_name") + t("colon") + v;
    if (k === "category") return t("category") + t("colon") + catName(v);  // (an operator's own: as is)
    if (k === "join_policy") return t("join_policy") + t("colon") + known("policy_" + v, v);
    if (k === "outcome" && (v === "upheld" || v === "rejected")) return t("log_outcome_" + v);
    if (k === "seqs" && Array.isArray(v)) {  // messages taken down: a raid's clean-up names hundreds, the first ten shown
      const shown = v.slice(0, 10).map((n) => "#" + n).join(", ");
      return v.length > 10 ? t("log_seqs_many", { seqs: shown, n: v.length }) : t("log_seqs", { seqs: shown });
    }
    return k + ": " + (typeof v === "object" ? JSON.stringify(v) : String(v));
  };
  return Object.entries(detail).filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => word(k, v)).join(" · ");
}

function logNode(g, e) {
  // A mute of 0 seconds is an unmute (the server records both as `mute`): said so, not as a mute
  // "until 1970".
  // A ban with no end likewise: "until lifted", not a slow mode's "off" and the year 1970.
  const d = e.detail && typeof e.detail === "object" ? e.detail : null;
  const unmute = e.action === "mute" && d && (d.seconds === 0 || d.until === 0);
  const forever = e.action === "ban" && d && (d.seconds === 0 || d.until === 0);
  const detail = unmute || forever ? Object.fromEntries(Object.entries(d).filter(([k]) => k !== "seconds" && k !== "until")) : e.detail;
  const said = [forever ? t("ban_forever") : "", detailText(detail)].filter(Boolean).join(" · ");
  return el("li", { class: "log-entry", "data-action": unmute ? "unmute" : e.action, "data-id": e.id },
    el("div", { class: "row wrap" }, el("time", { class: "muted small", text: fmtTime(e.ts) }),
      el("span", { class: "who", text: who(g, e.actor) }),
      el("span", { class: "log-action", text: unmute ? t("log_unmute") : actionLabel(e.action) }),
      e.target_user_id ? el("span", { class: "log-target", text: who(g, e.target_user_id) }) : null),
    said ? el("small", { class: "muted log-detail", text: said }) : null);
}
