// Shared client state and the one connection; app.js wires the connection's callbacks.
import { Conn } from "./conn.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";

const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";

export const S = {
  me: null,            // the `me` reply: user_id, username, display_name, id_verified, credit_level
  token: localStorage.getItem("qg.token"),  // never put in a URL
  authed: false,
  groups: new Map(),   // group_id -> group state (see newGroup)
  current: null,       // the open group's id
  notices: [],
  unseen: 0,
  outbox: [],          // sends not yet acknowledged: retried with the same client_msg_id after a reconnect
};

export const conn = new Conn(wsUrl, {});

export function api(op, args = {}) { return conn.request(op, args); }

export function newGroup(gid, name, role) {
  return {
    group_id: gid, name, role,
    info: null,                // group_info reply
    members: null,             // Map user_id -> user, once loaded
    mutes: new Map(),          // user_id -> until (ms), from member_muted events and refused sends
    msgs: new Map(),           // seq -> message
    lastSeq: 0, firstSeq: null, noMore: false, loadingOlder: false,
    resumeAfter: null,         // lastSeq when the connection dropped: the catch-up starts there
    readSeq: Number(localStorage.getItem(readKey(gid)) || 0),
    unread: 0, preview: "", requests: 0, muteAll: false, suspendedUntil: 0,
  };
}
export function readKey(gid) { return "qg.read." + (S.me ? S.me.user_id : "") + "." + gid; }

export function roleTag(role) {
  if (role !== "owner" && role !== "admin") return null;
  return el("span", { class: "tag tag-" + role, text: t("role_" + role) });
}
export function myMuteUntil(g) {
  const until = S.me ? g.mutes.get(S.me.user_id) || 0 : 0;
  return until > Date.now() ? until : 0;
}
export function newId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
