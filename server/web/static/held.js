// One's own group names, announcements, display names and public accounts' names and intros that
// the platform holds for review (`my_held_texts`): only their author sees them (for an account's
// name or intro: its owner). Each is shown where it would apply ("waiting for review", with a
// button to withdraw it: `withdraw_held_text`), also after a reconnect; a `held_text_settled` event
// takes it away (released, rejected, or withdrawn on another device).
import { el, toast } from "./dom.js";
import { t, errorText } from "./i18n.js";
import { api, A } from "./state.js";

let held = [];                 // {held_id, kind, group_id?, account_id?, text, created_at}, newest first
// The ids settled since this user logged in here (held ids are never used again): a list read before
// a settlement (its event overtook the answer) does not bring that text back.
let settled = new Set();
const ACCOUNT_KINDS = new Set(["account_name", "account_intro"]);
const watchers = new Set();    // redraws of the places that show them (the manage panel, the profile)

export function onHeldChange(fn) { watchers.add(fn); return () => watchers.delete(fn); }
function changed() { for (const fn of watchers) fn(); }

// Read the list again (after login or a reconnect, and after a `held: true` reply). A server
// without the op lists nothing.
export async function loadHeld() {
  try { held = ((await api("my_held_texts", { limit: 100 })).held || []).filter((h) => !settled.has(h.held_id)); }
  catch (e) { if (e.code !== "unknown_op" && e.code !== "disconnected") toast(errorText(e), "error"); held = []; }
  changed();
}

// At a logout: they are this user's alone, and the next one to log in here must not see them.
export function forgetHeld() { held = []; settled = new Set(); changed(); }

// The held texts of one field: a display name (no place), a group's name or announcement
// (`place`: the group_id), a public account's name or intro (`place`: the account_id).
export function heldFor(kind, place = null) {
  return held.filter((h) => h.kind === kind
    && (kind === "display_name" || (ACCOUNT_KINDS.has(kind) ? h.account_id : h.group_id) === place));
}

export function onHeldSettled(ev) {
  settled.add(ev.held_id);
  held = held.filter((h) => h.held_id !== ev.held_id);
  if (ev.outcome === "released") toast(t(ev.applied === false ? "held_released_not_applied" : "held_released"));
  changed();
}

// The "waiting for review" lines of one field: the held text, when, and a withdraw button.
export function heldBox(kind, place = null) {
  const items = heldFor(kind, place);
  if (!items.length) return null;
  return el("div", { class: "held-texts", "data-kind": kind }, items.map((h) => heldLine(h, null)));
}

// 我的账号: the names and intros of the public accounts one owns that wait for review, each saying
// which account's name or intro it is (the name the account shows now, else its id).
export function heldAccountsBox() {
  const items = held.filter((h) => ACCOUNT_KINDS.has(h.kind));
  if (!items.length) return null;
  return el("div", { class: "held-texts", "data-kind": "accounts" }, items.map((h) => {
    const mine = A.mine.get(h.account_id);
    return heldLine(h, t("held_of_" + h.kind, { name: mine ? mine.name : h.account_id }));
  }));
}

// One held text: 等待审核, what it is (`what`, or nothing where the place says it), the text, 撤回.
function heldLine(h, what) {
  return el("div", { class: "held-text row wrap", "data-held-id": h.held_id, "data-kind": h.kind },
    el("span", { class: "tag tag-held", text: t("held_waiting") }),
    what ? el("span", { class: "held-what muted", text: what }) : null,
    el("span", { class: "grow held-value", text: h.text || t("held_empty") }),
    el("button", { type: "button", class: "small ghost act-withdraw-held", text: t("held_withdraw"), onclick: async (e) => {
      e.target.disabled = true;
      try {
        await api("withdraw_held_text", { held_id: h.held_id });
        settled.add(h.held_id);
        held = held.filter((x) => x.held_id !== h.held_id);
        toast(t("held_withdrawn"));
      } catch (err) { toast(errorText(err), "error"); await loadHeld(); return; }
      changed();
    } }));
}
