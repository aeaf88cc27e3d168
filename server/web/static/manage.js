// Owner and admin powers in one panel (Art. 9): members with role tags, kick, timed mute,
// mute-all, admins, ownership transfer, join requests, invitations, announcement,
// settings, dissolution; bans, slow mode, invite links and the moderation log (moderation.js);
// and the actions on one message: react, reply, edit, pin, report (Art. 12), delete.
import { el, toast, modal, confirmBox, morphKids, dialogFor, keepingFocus, userIdInput, userIdOf, copyText } from "./dom.js";
import { t, errorText, fmtTime, fmtDate, catName } from "./i18n.js";
import { S, api, remember, loadCategories, fillCategories, textRoom, serverNow } from "./state.js";
import { banDialog, bansSection, loadBans, slowModeControl, inviteLinksSection, loadInviteLinks, openGroupLog } from "./moderation.js";
import { emojiRow, editDialog, setPinned } from "./rich.js";
import { setReply } from "./composer.js";
import { previewText } from "./media.js";
import { heldBox, loadHeld, onHeldChange } from "./held.js";

const MUTES = [["mute_10m", 600], ["mute_1h", 3600], ["mute_1d", 86400], ["mute_7d", 604800], ["mute_30d", 2592000]];
const RANK = { owner: 0, admin: 1, member: 2 };
let hooks = { dropGroup: () => {}, reload: async () => {} };
let open = null;   // { g, box, requests, bans, links, edits }
const EDIT_WINDOW_MS = 172800 * 1000;   // the default limits.edit_window_seconds, until `me` says the server's

export function setHooks(h) { hooks = h; }

async function act(op, args, okText) {
  let r;
  try { r = await api(op, args); } catch (e) { toast(errorText(e), "error"); learnRefusal(op, args, e); return false; }
  if (r && r.held) { heldForReview(op, args); return true; }
  if (okText) toast(okText);
  return true;
}

// `held: true`: the word lists sent a new announcement or group name to the platform's review. The
// group keeps what it showed (no `group_updated` comes), so the user is told, and the panel is read
// again so that its form shows what the group shows, not the text that waits.
function heldForReview(op, args) {
  toast(op === "set_announcement" ? t("held_announcement") : t("held_group_name", { name: args.name || "" }));
  const g = S.groups.get(args.group_id);
  if (g && open && open.g === g) load(g);
  loadHeld();   // the panel shows what waits, with a button to withdraw it
}

// My held name or announcement of the open group came or went: the panel shows it where it applies.
onHeldChange(() => { if (open) draw(open.g); });

// The platform's suspension of a group, learnt from a `group_suspended` event or refusal, or from
// my_groups after every connect (group_info does not show it). Its `cause` says what it holds:
// `sanction` (the group itself is suspended) stops renaming, dissolving and handing on,
// `category_freeze` (its whole category is frozen) renaming only, so only a sanction makes the
// dissolve and transfer buttons wait for its end. A server that does not say (no `cause`) is taken
// at its word: a refusal of dissolving or handing on is a sanction.
export function learnSuspension(g, until, cause) {
  g.suspendedUntil = until;
  if (cause === "sanction") g.heldUntil = until;
  else if (cause === "category_freeze") g.heldUntil = 0;
  if (cause) g.suspensionCause = cause;
}

// Nothing suspends the group any more (lifted, or ended while the page was away).
export function forgetSuspension(g) {
  g.suspendedUntil = 0; g.heldUntil = 0; g.suspensionCause = undefined;
}

// The platform suspended my management powers (`me`'s **[ext]** powers_suspended_until, or a refusal's
// `cause` powers_suspended with its `until`): 0 when they are mine. While it lasts the panel offers no
// management, which the server would refuse anyway.
export function powersSuspendedUntil() {
  const until = S.me ? S.me.powers_suspended_until || 0 : 0;
  return until > serverNow() ? until : 0;
}
function learnPowers(e) {
  if (!(e && e.code === "forbidden" && e.reply && e.reply.cause === "powers_suspended" && S.me)) return false;
  S.me.powers_suspended_until = e.reply.until || 0;
  if (open) draw(open.g);
  return true;
}

function learnRefusal(op, args, e) {
  if (learnPowers(e)) return;
  const until = e.code === "group_suspended" && e.reply ? e.reply.until : 0;
  const g = until && args.group_id ? S.groups.get(args.group_id) : null;
  if (!g) return;
  const cause = e.reply.cause || (op === "dissolve_group" || op === "transfer_owner" ? "sanction" : undefined);
  learnSuspension(g, Math.max(g.suspendedUntil || 0, until), cause);
  if (hooks.suspended) hooks.suspended(g);
  if (open && open.g === g) draw(g);
}

function suspendedUntil(g) { return g.suspendedUntil > serverNow() ? g.suspendedUntil : 0; }
function heldUntil(g) { return g.heldUntil > serverNow() ? g.heldUntil : 0; }

export function openManage(g) {
  const box = el("div", { id: "manage" });
  // `edits`: what the user typed or chose in the settings and has not saved (field id -> value).
  open = { g, box, requests: [], bans: [], links: null, categories: false, edits: new Map() };
  dialogFor(g.group_id);
  modal(panelTitle(g), () => box, { wide: true, id: "manage-dialog" }).then(() => { open = null; });
  load(g);
}

// 成员 for a member, 群管理 for the owner and admins: said again at each redraw, so a promotion or a
// demotion while the panel is open (or a language switch) renames it.
function panelTitle(g) { return g.role === "member" ? t("members") : t("manage"); }

// A member event asks the open panel's lists again, once for a burst: in a group of 2,000 each load
// reads every member (some 140 KB) and draws the panel anew, and twenty joins and leaves asked twenty
// times (a manager's panel five lists each), freezing the page for seconds at each.
const REFRESH_MS = 400;
export function refreshManage(g) {
  const mine = open;
  if (!mine || mine.g !== g || mine.refreshing) return;
  mine.refreshing = setTimeout(() => { mine.refreshing = null; if (open === mine) load(g); }, REFRESH_MS);
}

// **[ext]** Another manager (or this user elsewhere) banned or unbanned someone, decided a join
// request, made or revoked an invite link: the open panel of `g` takes it into its lists as the
// event gives it (no list asked again) and is drawn in place. True when that panel took it (the
// request count then follows its list); false when no panel of `g` is open.
export function managersEvent(g, ev) {
  if (!open || open.g !== g) return false;
  if (ev.ev === "join_request_decided") {
    open.requests = open.requests.filter((u) => u.user_id !== ev.user_id);
    g.requests = open.requests.length;
  } else if (ev.ev === "ban_changed" && Array.isArray(open.bans)) {
    // (`bans` lists them oldest first: a ban given again is the newest)
    open.bans = open.bans.filter((b) => b.user_id !== ev.user_id).concat(ev.ban ? [ev.ban] : []);
  } else if (ev.ev === "invite_link_changed" && Array.isArray(open.links)) {
    open.links = open.links.filter((l) => l.link_id !== ev.link_id).concat(ev.link ? [ev.link] : []);
  }
  draw(g);
  return true;
}

// What the panel opened for `g` shows. Each await may outlast the panel (closed, or opened for
// another group meanwhile): what comes back then is dropped, never written into another panel.
async function load(g) {
  const mine = open;
  const still = () => open !== null && open === mine && open.g === g;
  try {
    const mem = await api("members", { group_id: g.group_id });
    g.members = new Map(mem.members.map((u) => [u.user_id, u]));
    remember(mem.members);
    learnMutes(g, mem.members);
    g.info = await api("group_info", { group_id: g.group_id });
    // The settings offer the server's categories: asked once each time the panel opens.
    if (g.role === "owner" && still() && !open.categories) { open.categories = true; await loadCategories(); }
    if (g.role !== "member" && !powersSuspendedUntil()) {
      // Each list is the panel's as soon as it comes: an event that arrives after it changes it
      // (managersEvent), and is never undone by this load's end.
      const requests = (await api("join_requests", { group_id: g.group_id })).requests;
      remember(requests);   // (the log names an applicant rejected, no member, by this)
      g.requests = requests.length;   // the sidebar's and the chat head's counts follow the list
      if (hooks.counted) hooks.counted(g);
      if (still()) open.requests = requests;
      const bans = await loadBans(g);
      if (still()) open.bans = bans;
      const links = await loadInviteLinks(g);   // every manager's links in force, asked each time the panel opens
      if (!still()) return;
      open.links = links;
    }
  } catch (e) {
    if (still() && e.code !== "disconnected" && !learnPowers(e)) toast(errorText(e), "error");
  }
  if (still()) draw(g);
}

// `members` gives each member muted now their mute's end (**[ext]** `muted_until`, left out for
// everyone else): the tag and Unmute show after a reload too, and a mute lifted or ended while the
// page was away goes. The user's own mute is the composer's too.
function learnMutes(g, members) {
  const now = serverNow();
  const meId = S.me ? S.me.user_id : null;
  const before = meId ? g.mutes.get(meId) || 0 : 0;
  for (const u of members) {
    if (typeof u.muted_until === "number" && u.muted_until > now) g.mutes.set(u.user_id, u.muted_until);
    else if (S.mutesListed) g.mutes.delete(u.user_id);   // (an older server lists none: keep what events said)
  }
  if (meId && (g.mutes.get(meId) || 0) !== before && hooks.suspended) hooks.suspended(g);
  redrawAtMuteEnds(g);
}

// The open panel drops a member's mute tag and Unmute when the mute ends, not at its next redraw:
// one timer per group, at the earliest end of the mutes it knows (from `members` or the events).
export function redrawAtMuteEnds(g) {
  clearTimeout(g.muteTimer);
  const now = serverNow();
  const next = Math.min(Infinity, ...[...g.mutes.values()].filter((until) => until > now));
  if (next === Infinity || next - now >= 2 ** 31) return;
  g.muteTimer = setTimeout(() => {
    if (S.groups.get(g.group_id) !== g) return;
    refreshManage(g);
    redrawAtMuteEnds(g);
  }, next - now + 500);
}

const FILTER_FROM = 8;   // members past which the panel offers a filter
// Rows drawn at most (the owner and admins first), unless asked for all: a row is a dozen controls, and
// 2,000 of them (36,000 nodes) took a second to open and a second at each keystroke of the filter.
const ROWS_SHOWN = 200;

function canManage(me, target) {
  if (me === "owner") return target !== "owner";
  if (me === "admin") return target === "member";
  return false;
}

// The panel is redrawn on every change in the group (a join, a mute, another admin's edit): fields
// marked data-keep hold the user's unfinished input (not server state) and survive the redraw.
// Drawn in place (morph): the member list, the join requests, the bans, the invite links and the
// settings keep their nodes, so a button on one pressed before such a redraw and released after it
// still acts (the node pressed used to be gone), the keyboard focus stays, and a settings field
// keeps what is being typed in it (adminSection); the invitation form is put in anew (data-replace).
function draw(g) {
  const title = open.box.closest("dialog")?.querySelector(".modal-head h2");
  if (title && title.textContent !== panelTitle(g)) title.textContent = panelTitle(g);
  const kept = [...open.box.querySelectorAll("[data-keep]")].map((n) => [n.id, n.value]);
  const shown = new Map();   // the settings' fields: id -> the group's value (adminSection)
  const box = el("div");
  const info = g.info || {};
  // While the platform suspends my powers I manage nothing (a note says until when): an owner or admin
  // acts as a member, and an owner's dissolve waits (an owner never leaves).
  const powers = g.role !== "member" ? powersSuspendedUntil() : 0;
  const me = powers ? "member" : g.role;
  const now = serverNow();
  if (powers) box.append(el("p", { class: "form-msg error", id: "powers-note", role: "status", text: t("powers_note", { until: fmtTime(powers) }) }));
  box.append(el("section", {}, el("h3", { text: t("info") }),
    el("dl", { class: "facts" },
      el("dt", { text: t("group_name") }), el("dd", { text: info.name || g.name }),
      el("dt", { text: t("group_id") }), el("dd", { class: "mono", text: g.group_id }),
      el("dt", { text: t("category") }), el("dd", { id: "info-category", text: catName(info.category) }),
      el("dt", { text: t("join_policy") }), el("dd", { text: info.join_policy ? t("policy_" + info.join_policy) : "" }),
      el("dt", { text: t("members") }), el("dd", { text: t("member_count_max", { n: info.member_count, max: info.max_members }) }),
      info.created_at ? [el("dt", { text: t("created") }), el("dd", { text: fmtDate(info.created_at) })] : null)));

  if (me !== "member") box.append(requestsSection(g));

  const everyone = [...(g.members || new Map()).values()].sort((a, b) => RANK[a.role] - RANK[b.role] || a.display_name.localeCompare(b.display_name));
  // A group of hundreds is found in by name or user id (the field keeps what is typed through redraws).
  // (only while the filter is drawn: a group that fell to 8 members shows everyone, not what a gone field held)
  const wanted = everyone.length > FILTER_FROM ? ((kept.find(([id]) => id === "member-filter") || [])[1] || "").trim().toLowerCase() : "";
  const matching = wanted ? everyone.filter((u) => u.display_name.toLowerCase().includes(wanted)
    || (wanted.length >= 6 && u.user_id.includes(wanted))) : everyone;
  const members = open.allRows ? matching : matching.slice(0, ROWS_SHOWN);
  const unshown = matching.length - members.length;
  const filter = everyone.length > FILTER_FROM
    ? el("input", { id: "member-filter", type: "search", "data-keep": true, autocomplete: "off", autocapitalize: "none",
      "aria-label": t("member_filter"), placeholder: t("member_filter"), oninput: () => draw(g) })
    : null;
  box.append(el("section", { id: "members-section" }, el("h3", { text: t("members") + " (" + everyone.length + ")" }), filter,
    wanted && !members.length ? el("p", { class: "muted", id: "member-none", text: t("member_filter_none") }) : null,
    el("ul", { class: "members", id: "member-list" }, members.map((u) => {
      const self = S.me && u.user_id === S.me.user_id;
      const mutedUntil = g.mutes.get(u.user_id) || 0;
      const actions = [];
      if (!self && canManage(me, u.role)) {
        const sel = el("select", { class: "act-mute-len", "aria-label": t("mute_length") }, MUTES.map(([k, s]) => el("option", { value: s, text: t(k) })));
        actions.push(el("span", { class: "row tight" }, sel,
          el("button", { type: "button", class: "small act-mute", "data-act": "mute", text: t("mute"),   // (the length chosen in the page's select)
            onclick: (e) => act("mute", { group_id: g.group_id, user_id: u.user_id,
              seconds: Number(e.currentTarget.parentNode.querySelector(".act-mute-len").value) }, t("done_muted", { name: u.display_name })) })));
        if (mutedUntil > now) actions.push(el("button", { type: "button", class: "small act-unmute", "data-act": "unmute", text: t("unmute"),
          onclick: () => act("mute", { group_id: g.group_id, user_id: u.user_id, seconds: 0 }, t("done_unmuted", { name: u.display_name })) }));
        actions.push(el("button", { type: "button", class: "small danger act-kick", "data-act": "kick", text: t("kick"), onclick: async () => {
          if (await confirmBox(t("confirm_kick", { name: u.display_name }), t("kick"), t("cancel"))) act("kick", { group_id: g.group_id, user_id: u.user_id }, t("done_kicked", { name: u.display_name }));
        } }));
        actions.push(el("button", { type: "button", class: "small danger act-ban", "data-act": "ban", text: t("ban"), onclick: () => banDialog(g, u.user_id, u.display_name) }));
      }
      if (!self && me === "owner") {
        actions.push(u.role === "admin"
          ? el("button", { type: "button", class: "small act-role", "data-act": "remove_admin", text: t("remove_admin"), onclick: () => act("set_role", { group_id: g.group_id, user_id: u.user_id, role: "member" }, t("done_admin_removed", { name: u.display_name })) })
          : el("button", { type: "button", class: "small act-role", "data-act": "make_admin", text: t("make_admin"), onclick: () => act("set_role", { group_id: g.group_id, user_id: u.user_id, role: "admin" }, t("done_admin_made", { name: u.display_name })) }));
        const held = heldUntil(g);
        actions.push(el("button", { type: "button", class: "small act-transfer", "data-act": "transfer", text: t("transfer"), disabled: !!held,
          title: held ? t("held_disabled", { until: fmtTime(held) }) : null, onclick: async () => {
          if (await confirmBox(t("confirm_transfer", { name: u.display_name }), t("transfer"), t("cancel"))) act("transfer_owner", { group_id: g.group_id, user_id: u.user_id }, t("done_transferred", { name: u.display_name }));
        } }));
      }
      if (!self) actions.push(el("button", { type: "button", class: "small ghost act-report-user", "data-act": "report_user", text: t("report_user"),
        onclick: () => reportDialog({ target_type: "user", user_id: u.user_id, group_id: g.group_id }) }));
      return el("li", { class: "member", "data-uid": u.user_id, "data-role": u.role },
        el("div", { class: "row" }, el("span", { class: "who", text: u.display_name }), self ? el("span", { class: "muted", text: t("you") }) : null,
          el("span", { class: "tag tag-" + u.role, text: t("role_" + u.role) }),
          mutedUntil > now ? el("span", { class: "tag tag-muted", text: t("muted_tag", { until: fmtTime(mutedUntil) }) }) : null),
        actions.length ? el("div", { class: "row wrap actions", role: "group", "aria-label": u.display_name }, actions) : null);
    })),
    unshown > 0 ? el("p", { class: "muted small", id: "members-more" }, t("members_more", { n: unshown }), " ",
      el("button", { type: "button", class: "link", id: "btn-members-all", text: t("members_all"),
        onclick: () => { open.allRows = true; draw(g); } })) : null));

  if (me !== "member") {
    box.append(adminSection(g, shown), bansSection(g, open.bans, () => load(g)), inviteLinksSection(g, open.links, () => load(g)),
      el("section", {}, el("h3", { text: t("group_log") }),
        el("button", { type: "button", class: "ghost", id: "btn-group-log", text: t("group_log_open"), onclick: () => openGroupLog(g) })));
  }
  // As the server decides (governance/permissions.py): an owner or admin under any join policy, unless the
  // platform suspended their powers; a member in an open group.
  if (!powers && (me !== "member" || info.join_policy === "open")) box.append(inviteSection(g));
  box.append(el("section", { class: "row wrap" },
    el("button", { type: "button", class: "ghost", id: "btn-report-group", text: t("report_group"), onclick: () => reportDialog({ target_type: "group", group_id: g.group_id }) }),
    g.role === "owner"
      ? el("button", { type: "button", class: "danger", id: "btn-dissolve", text: t("dissolve"), disabled: !!(heldUntil(g) || powers),
        title: powers ? t("e_powers_suspended", { until: fmtTime(powers) }) : heldUntil(g) ? t("held_disabled", { until: fmtTime(heldUntil(g)) }) : null, onclick: async () => {
        if (await confirmBox(t("confirm_dissolve", { name: g.name }), t("dissolve"), t("cancel"))
            && await act("dissolve_group", { group_id: g.group_id })) { closeDialog(); hooks.dropGroup(g.group_id); }
      } })
      : el("button", { type: "button", class: "danger", id: "btn-leave", text: t("leave"), onclick: async () => {
        if (await confirmBox(t("confirm_leave", { name: g.name }), t("leave"), t("cancel"))
            && await act("leave_group", { group_id: g.group_id })) { closeDialog(); hooks.dropGroup(g.group_id); }
      } })));
  // The keyboard's place: an action (a mute, a kick, a role), another manager's or the platform's
  // may take the focused control away; it goes to the same control of the same row, else that row's
  // first, else the first of the member list (a row that left).
  if (!keepingFocus(open.box, () => morphKids(open.box, [...box.childNodes]))) {
    const next = open.box.querySelector("#member-list button:not([disabled]), #member-list select") || open.box.querySelector("h3");
    if (next) { if (next.tagName === "H3") next.tabIndex = -1; next.focus(); }
  }
  for (const [id, value] of kept) { const n = open.box.querySelector("#" + id); if (n) n.value = value; }
  // A settings field kept by morph keeps what it showed: one the user has not touched shows the
  // group's value now (another admin's announcement, mute-all switched elsewhere); one being
  // edited keeps the user's text, focus, caret and IME composition (its node never changes).
  for (const [id, value] of shown) {
    const n = open.box.querySelector("#" + id);
    if (!n || open.edits.has(id)) continue;
    if (n.type === "checkbox") { if (n.checked !== value) n.checked = value; }
    else if (n.value !== value) n.value = value;
  }
}

// The system line of a `group_updated` that changed the group's settings: what changed, to what
// (the event carries exactly the fields the owner gave: a name, a category, a join policy).
export function settingsChangeText(ev) {
  const parts = [];
  if ("name" in ev) parts.push(t("sys_renamed", { name: ev.name }));
  if ("category" in ev) parts.push(t("sys_category", { category: catName(ev.category) }));
  if ("join_policy" in ev) parts.push(t("sys_policy", { policy: t("policy_" + ev.join_policy) }));
  return parts.length ? parts.join(t("sys_sep")) : t("sys_updated");
}

function closeDialog() { const d = document.getElementById("manage-dialog"); if (d) d.close(); }

// A raid's accounts ask to join by the hundred: all the pending requests declined at once, one after
// the other (each told to its asker; none of them may ask again for the server's cooldown).
const rejecting = new Set();  // the groups whose 全部拒绝 is running (a second press waits for it)
async function rejectAll(g) {
  const reqs = open.requests.slice();
  if (!reqs.length || rejecting.has(g.group_id)) return;
  if (!(await confirmBox(t("confirm_reject_all", { n: reqs.length }), t("reject_all"), t("cancel")))) return;
  if (rejecting.has(g.group_id)) return;
  rejecting.add(g.group_id);
  let done = 0, gone = 0;
  try {
    for (const u of reqs) {
      try { await api("reject_join", { group_id: g.group_id, user_id: u.user_id }); done++; } catch (e) {
        if (e && e.code === "not_found") { gone++; continue; }  // (decided meanwhile, by another manager)
        toast(errorText(e), "error");
        break;
      }
    }
  } finally { rejecting.delete(g.group_id); }
  toast(gone ? t("done_rejected_all_some", { n: done, m: gone }) : t("done_rejected_all", { n: done }));
  load(g);
}

function requestsSection(g) {
  const reqs = open.requests;
  return el("section", { id: "requests-section" }, el("h3", { text: t("join_requests") + (reqs.length ? " (" + reqs.length + ")" : "") }),
    reqs.length > 1 ? el("div", { class: "row end" }, el("button", { type: "button", class: "small danger", id: "reject-all",
      text: t("reject_all"), onclick: () => rejectAll(g) })) : null,
    reqs.length === 0 ? el("p", { class: "muted", text: t("no_requests") }) :
      el("ul", { class: "requests", id: "request-list" }, reqs.map((u) => el("li", { class: "request", "data-uid": u.user_id },
        el("span", { class: "who grow", text: u.display_name }),
        u.requested_at ? el("small", { class: "muted", text: t("requested_at", { time: fmtTime(u.requested_at) }) }) : null,
        el("button", { type: "button", class: "small primary act-approve", "data-act": "approve", text: t("approve"),
          onclick: async () => { await act("approve_join", { group_id: g.group_id, user_id: u.user_id }, t("done_approved", { name: u.display_name })); load(g); } }),
        el("button", { type: "button", class: "small act-reject", "data-act": "reject", text: t("reject"),
          onclick: async () => { await act("reject_join", { group_id: g.group_id, user_id: u.user_id }, t("done_rejected", { name: u.display_name })); load(g); } })))));
}

// The settings are drawn in place (morph) like the rest: a redraw (a message's member joining, another
// admin's change) keeps the very fields, so what is being typed, the focus, the caret and an IME
// composition all stay. What the user typed or chose and has not saved is `open.edits` (a field
// drawn anew shows it too); the others show the group's values (`shown`, set by draw after the
// morph). The handlers read the fields from the page, never from a node built here (it may be the
// one morph did not keep).
function adminSection(g, shown) {
  const info = g.info || {};
  const edits = open.edits;
  const typed = (id, value) => { shown.set(id, value); return edits.has(id) ? edits.get(id) : value; };
  const remember = (e) => { if (open && open.edits === edits) edits.set(e.target.id, e.target.value); };
  const saved = (...ids) => { for (const id of ids) edits.delete(id); };
  shown.set("mute-all", !!info.mute_all);
  shown.set("slow-mode", String(Number(info.slow_mode_seconds || 0)));
  const ann = el("textarea", { id: "announcement-text", "aria-label": t("announcement_edit"), rows: 3, maxlength: textRoom(4000), value: typed("announcement-text", info.announcement || ""), oninput: remember });
  const parts = [el("h3", { text: t("group_settings") }),
    el("label", { class: "row switch" },
      el("input", { type: "checkbox", id: "mute-all", checked: !!info.mute_all,
        onchange: async (e) => {
          // Until the server answers, the switch shows what was chosen: a redraw meanwhile (a reload
          // of the panel whose read of the group came before the change) does not flip it back.
          const box = e.target, want = box.checked;
          edits.set("mute-all", want);
          const ok = await act("mute_all", { group_id: g.group_id, on: want }, t(want ? "done_mute_all_on" : "done_mute_all_off"));
          if (edits.get("mute-all") === want) edits.delete("mute-all");
          if (!ok) box.checked = !want;   // (refused: as it is)
        } }),
      el("span", { text: t("mute_all") })),
    slowModeControl(g, edits),
    el("form", { class: "stack", id: "announcement-form", onsubmit: async (e) => {
      e.preventDefault();
      const text = e.currentTarget.querySelector("#announcement-text").value;
      if (await act("set_announcement", { group_id: g.group_id, text }, t("announcement_saved"))) saved("announcement-text");
    } },
      el("span", { class: "label", text: t("announcement_edit") }), ann, heldBox("announcement", g.group_id),
      el("button", { type: "submit", class: "primary", id: "announcement-save", text: t("save"), "aria-label": t("save_announcement") }))];
  if (g.role === "owner") {
    // While the platform suspends posting a new name is refused (a name is shown to every member
    // like a post); the category and the join policy may still change.
    const susp = suspendedUntil(g);
    const note = heldUntil(g) ? "held_note_sanction" : g.suspensionCause === "category_freeze" ? "held_note_freeze" : "held_note";
    if (susp) parts.push(el("p", { class: "form-msg error", id: "held-note", role: "status", "data-cause": g.suspensionCause || "",
      text: t(note, { until: fmtTime(susp) }) }));
    const shownName = info.name || g.name;
    const name = el("input", { id: "settings-name", value: typed("settings-name", shownName), maxlength: textRoom(64), disabled: !!susp,
      title: susp ? t("held_disabled", { until: fmtTime(susp) }) : null, oninput: remember });
    // The categories the server accepts (or the built-in list, from a server that does not say). The
    // group's own may be one neither has (the operator took it out of the configuration): it is
    // listed too (by its key), and a field the owner did not change is never sent, so saving a new
    // name cannot move the group to another category.
    // A group its category's freeze holds may not leave that category until the freeze ends.
    const frozenIn = !!(susp && g.suspensionCause === "category_freeze");
    const cat = fillCategories(el("select", { id: "settings-category", onchange: remember, disabled: frozenIn,
      title: frozenIn ? t("e_held_moved", { until: fmtTime(susp) }) : null }),
      "groups", catName, { own: info.category || null });
    cat.value = typed("settings-category", cat.value);
    const pol = el("select", { id: "settings-policy", onchange: remember },
      ["open", "approval", "invite"].map((p) => el("option", { value: p, text: t("policy_" + p), selected: p === info.join_policy })));
    pol.value = typed("settings-policy", info.join_policy || "open");
    parts.push(el("form", { class: "stack", id: "settings-form", onsubmit: async (e) => {
      e.preventDefault();
      const field = (id) => e.currentTarget.querySelector("#" + id);
      const args = { group_id: g.group_id };
      const named = field("settings-name").value.trim();
      if (named !== shownName) args.name = named;
      if (edits.has("settings-category") && field("settings-category").value !== info.category) args.category = field("settings-category").value;
      if (edits.has("settings-policy") && field("settings-policy").value !== info.join_policy) args.join_policy = field("settings-policy").value;
      if (Object.keys(args).length > 1 && await act("update_group", args, t("saved"))) saved("settings-name", "settings-category", "settings-policy");
    } }, el("label", { class: "field" }, el("span", { class: "label", text: t("group_name") }), name),
      heldBox("group_name", g.group_id),
      el("label", { class: "field" }, el("span", { class: "label", text: t("category") }), cat),
      el("label", { class: "field" }, el("span", { class: "label", text: t("join_policy") }), pol),
      el("button", { type: "submit", class: "primary", id: "settings-save", text: t("save"), "aria-label": t("save_settings") })));
  }
  return el("section", { id: "settings-section" }, parts);
}

function inviteSection(g) {
  const uid = userIdInput({ id: "invite-user", "aria-label": t("invite_user_id"), "data-keep": true });
  return el("section", { id: "invite-section", "data-replace": true }, el("h3", { text: t("invite") }),
    el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); act("invite", { group_id: g.group_id, user_id: userIdOf(uid) }, t("invite_sent")).then((ok) => { if (ok) uid.value = ""; }); } },
      uid, el("button", { type: "submit", class: "primary", id: "invite-btn", text: t("invite") })),
    el("small", { class: "muted", text: t("invite_user_id") }));
}

// The actions on one message: react, reply, edit (one's own), pin (owner, admins), report it or
// its sender, delete it.
export function messageActions(g, m) {
  // (closed when its message is recalled or deleted meanwhile: app.js message_deleted)
  const mine = S.me && m.sender && m.sender.user_id === S.me.user_id;
  const pinned = (g.pinned || []).includes(m.seq);
  const manages = g.role !== "member" && !powersSuspendedUntil();   // pinning and deleting others' are management
  dialogFor(g.group_id);
  modal(t("message"), (done) => el("div", { class: "stack", id: "message-actions", "data-seq": m.seq },
    el("blockquote", { class: "quote", text: previewText(m) }),
    emojiRow(g, m, () => done()),
    el("div", { class: "row wrap" },
      el("button", { type: "button", class: "ghost", id: "act-reply", text: t("reply"), onclick: () => { done(); setReply(g, m); } }),
      m.text ? el("button", { type: "button", class: "ghost", id: "act-copy", text: t("copy"),
        onclick: async () => { done(); toast(t(await copyText(m.text) ? "copied" : "copy_failed")); } }) : null,
      mine && serverNow() - m.ts < (S.me && S.me.edit_window_seconds !== undefined ? S.me.edit_window_seconds * 1000 : EDIT_WINDOW_MS) ? el("button", { type: "button", class: "ghost", id: "act-edit", text: t("edit"),
        onclick: () => { done(); editDialog(g, m); } }) : null,
      manages ? el("button", { type: "button", class: "ghost", id: "act-pin", text: pinned ? t("unpin") : t("pin"),
        onclick: () => { done(); setPinned(g, m.seq, !pinned); } }) : null),
    mine ? null : el("button", { type: "button", class: "ghost", id: "act-report-message", text: t("report_message"),
      onclick: () => { done(); reportDialog({ target_type: "message", group_id: g.group_id, seq: m.seq }); } }),
    mine || !m.sender ? null : el("button", { type: "button", class: "ghost", id: "act-report-sender", text: t("report_user"),
      onclick: () => { done(); reportDialog({ target_type: "user", user_id: m.sender.user_id, group_id: g.group_id }); } }),
    mine || manages ? el("button", { type: "button", class: "danger", id: "act-delete", text: mine ? t("recall") : t("delete"),
      onclick: async () => { done(); if (await confirmDelete(m, mine)) await act("delete_message", { group_id: g.group_id, seq: m.seq }); } }) : null));
}

// Recalling one's own message, or an owner or admin deleting someone else's, is asked first (as
// leaving and dissolving are): it cannot be undone, and everyone sees it.
function confirmDelete(m, mine) {
  dialogFor(m.group_id);   // (closed with the group, like the menu it came from)
  if (mine) return confirmBox(t("confirm_recall", { name: (m.sender && m.sender.display_name) || S.me.display_name }), t("recall"), t("cancel"));
  return confirmBox(t("confirm_delete_other", { name: m.sender ? m.sender.display_name : t("unknown_user") }), t("delete"), t("cancel"));
}

// A report's `reason` is free text to the server (1–200 characters): the client sends one of these
// stable English keys, whatever the reporter's language, so the operators' list reads the same for
// every report; the reporter's own words go in `detail`. The label is the reader's language.
export const REPORT_REASONS = ["illegal", "pornography", "fraud", "harassment", "rumour", "other"];
export function reportReasonLabel(reason) {
  return REPORT_REASONS.includes(reason) ? t("rr_" + reason) : reason;   // older reports: the text as sent
}

export function reportDialog(target) {
  dialogFor(target.group_id ?? null);
  modal(t("report"), (done) => {
    const sel = el("select", { id: "report-reason" }, REPORT_REASONS.map((r) => el("option", { value: r, text: t("rr_" + r) })));
    const detail = el("textarea", { id: "report-detail", rows: 3, maxlength: textRoom(2000) });
    return el("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      const args = { ...target, reason: sel.value };
      if (detail.value.trim()) args.detail = detail.value.trim();
      const submit = e.target.querySelector("#report-submit");
      if (submit.disabled) return;   // (a second press while the first is on its way: one report, one answer)
      submit.disabled = true;
      try { const r = await api("report", args); done(); toast(r.duplicate ? t("report_dup") : t("report_sent")); }
      catch (err) { toast(errorText(err), "error"); }
      finally { submit.disabled = false; }
    } }, el("label", { class: "field" }, el("span", { class: "label", text: t("report_reason") }), sel),
      el("label", { class: "field" }, el("span", { class: "label", text: t("report_detail") }), detail),
      el("button", { type: "submit", class: "primary", id: "report-submit", text: t("report") }));
  }, { id: "report-dialog" });
}

// Contest a sanction (the `appeal` op): from a warning's notice (its sanction id filled in) or from
// 我的账号 with the id the platform gave. The server decides who may appeal what.
const APPEAL_REFUSED = { not_found: "appeal_not_found", conflict: "appeal_conflict", forbidden: "appeal_final" };
// Resolves with the new appeal's id once sent (null when closed without one).
export function appealDialog(sanctionId = "") {
  return modal(t("appeal"), (done) => {
    const sid = el("input", { id: "appeal-sanction", value: sanctionId, required: true, inputmode: "numeric", pattern: "[0-9]+",
      maxlength: 18, autocomplete: "off", readonly: sanctionId ? true : null });
    const text = el("textarea", { id: "appeal-text", rows: 4, maxlength: textRoom(2000), required: true });
    const msg = el("p", { class: "form-msg", role: "alert" });
    return el("form", { class: "stack", id: "appeal-form", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await api("appeal", { sanction_id: sid.value.trim(), text: text.value.trim() });
        done(r.appeal_id); toast(t("appeal_sent", { id: r.appeal_id }));
      } catch (err) {
        msg.textContent = APPEAL_REFUSED[err.code] ? t(APPEAL_REFUSED[err.code]) : errorText(err);
        msg.className = "form-msg error";
      }
    } }, el("label", { class: "field" }, el("span", { class: "label", text: t("appeal_sanction_id") }), sid),
      sanctionId ? null : el("small", { class: "muted", text: t("appeal_sanction_hint") }),
      el("label", { class: "field" }, el("span", { class: "label", text: t("appeal_text") }), text),
      el("small", { class: "muted", text: t("appeal_text_hint") }), msg,
      el("button", { type: "submit", class: "primary", id: "appeal-submit", text: t("appeal") }));
  }, { id: "appeal-dialog" });
}
