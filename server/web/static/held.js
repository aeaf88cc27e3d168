// One's own group names, announcements and display names that the platform holds for review
// (`my_held_texts`): only their author sees them. Each is shown where it would apply ("waiting for
// review", with a button to withdraw it: `withdraw_held_text`), also after a reconnect; a
// `held_text_settled` event takes it away (released, rejected, or withdrawn on another device).
import { el, toast } from "./dom.js";
import { t, errorText } from "./i18n.js";
import { api } from "./state.js";

let held = [];                 // {held_id, kind, group_id?, text, created_at}, newest first
const watchers = new Set();    // redraws of the places that show them (the manage panel, the profile)

export function onHeldChange(fn) { watchers.add(fn); return () => watchers.delete(fn); }
function changed() { for (const fn of watchers) fn(); }

// Read the list again (after login or a reconnect, and after a `held: true` reply). A server
// without the op lists nothing.
export async function loadHeld() {
  try { held = (await api("my_held_texts", { limit: 100 })).held || []; }
  catch (e) { if (e.code !== "unknown_op" && e.code !== "disconnected") toast(errorText(e), "error"); held = []; }
  changed();
}

export function heldFor(kind, groupId = null) {
  return held.filter((h) => h.kind === kind && (kind === "display_name" || h.group_id === groupId));
}

export function onHeldSettled(ev) {
  held = held.filter((h) => h.held_id !== ev.held_id);
  if (ev.outcome === "released") toast(t(ev.applied === false ? "held_released_not_applied" : "held_released"));
  changed();
}

// The "waiting for review" lines of one field: the held text, when, and a withdraw button.
export function heldBox(kind, groupId = null) {
  const items = heldFor(kind, groupId);
  if (!items.length) return null;
  return el("div", { class: "held-texts", "data-kind": kind }, items.map((h) =>
    el("div", { class: "held-text row wrap", "data-held-id": h.held_id },
      el("span", { class: "tag tag-held", text: t("held_waiting") }),
      el("span", { class: "grow held-value", text: h.text || t("held_empty") }),
      el("button", { type: "button", class: "small ghost act-withdraw-held", text: t("held_withdraw"), onclick: async (e) => {
        e.target.disabled = true;
        try {
          await api("withdraw_held_text", { held_id: h.held_id });
          held = held.filter((x) => x.held_id !== h.held_id);
          toast(t("held_withdrawn"));
        } catch (err) { toast(errorText(err), "error"); await loadHeld(); return; }
        changed();
      } }))));
}
