// Files in messages. Upload: upload_begin, then the bytes in chunks of the server's chunk_bytes over
// the WebSocket (base64 text on the JSON subprotocol), then upload_end with the SHA-256; the media_id
// it returns goes into send's attachments. Showing: images inline, audio and video with the
// browser's players, anything else as a download link. Their URLs are signed and expire: a failed
// load (403 after the expiry) or an old link asks media_url for a fresh one.
import { el, modal, dialogFor } from "./dom.js";
import { t } from "./i18n.js";
import { S, api, whenAuthed, serverNow } from "./state.js";
import { RequestError } from "./conn.js";
import { sha256hex } from "./sha256.js";

const MARGIN_MS = 60 * 1000;         // a link whose signature ends sooner than this is refreshed before it is followed

// Whether a signed /media URL is still good for a while: its own expiry (e=, seconds), whatever
// the server's media.url_ttl_seconds is.
function fresh(url) {
  const e = Number(new URL(url, location.href).searchParams.get("e"));
  return Number.isFinite(e) && e * 1000 - serverNow() > MARGIN_MS;
}
const RETRY_MS = 10 * 1000;         // at most one refresh per element in this time (no loops on a 404)

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// Upload one File; onProgress(fraction) after each chunk. Resolves with the attachment object.
// An unfinished upload is the user's on the server, not the connection's: it lives through a
// dropped connection until it sits idle for 10 minutes or the server restarts. So one the
// connection dropped under waits for the next auth (onPause(true), then onPause(false)) and goes
// on from where the server has it: the chunk whose answer the drop lost may have arrived (the
// server then refuses its offset, and the next one is sent), and one the server no longer knows
// (a restart, another node of a cluster) starts again with a fresh upload_begin. A drop during
// upload_end finds the upload gone if it finished: it too starts again (the first copy, carried by
// nothing, is removed by the server after a day). An answer `internal` to a step is taken the same
// way: the server does not know whether the step happened (a cluster's home node died or changed
// under it, its store did not answer), so after a wait (INTERNAL_MS, with jitter; onPause(true,
// "server") meanwhile) the upload goes on from what the server then confirms, or begins again when
// it answers `not_found` (a new home node never had it). Given up (rejected, for the caller to
// show) after MAX_DROPS dropped connections or such answers, at a logout, or when stopped() says
// the user took the file away.
const MAX_DROPS = 5;
const INTERNAL_MS = [1000, 2000, 4000, 4000, 4000];
// The server keeps at most 4 unfinished uploads a user (a fifth upload_begin is refused,
// rate_limited with retry_after_ms): picked together, nine photos went out as nine uploads at once,
// and five failed. At most UPLOADS_AT_ONCE are sent at once, the others wait their turn in the order
// picked; and an upload_begin refused for a short while (one still unfinished, from a cancel or a
// reload, holds a place for minutes on the server) waits that while and asks again, up to
// MAX_BUSY_MS in all.
const UPLOADS_AT_ONCE = 3;
const SHORT_WAIT_MS = 10 * 1000;
const MAX_BUSY_MS = 60 * 1000;
let uploading = 0;
const waitingTurn = [];

async function uploadTurn() {
  if (uploading < UPLOADS_AT_ONCE) { uploading++; return; }
  await new Promise((resolve) => waitingTurn.push(resolve));   // (handed the place of one that ends)
}

function uploadDone() {
  const next = waitingTurn.shift();
  if (next) next(); else uploading--;
}

export async function upload(file, onProgress, opts = {}) {
  await uploadTurn();
  try { return await sendFile(file, onProgress, opts); } finally { uploadDone(); }
}

async function sendFile(file, onProgress, { stopped = () => false, onPause = null }) {
  const begin = { mime: file.type || "application/octet-stream", size: file.size };
  // (by characters, not UTF-16 units: half of an emoji cut off would make the frame invalid text)
  if (file.name) begin.name = Array.from(file.name).slice(0, 200).join("");
  const bytes = new Uint8Array(await file.arrayBuffer());
  let id = null;        // the server's upload_id, once begun
  let step = 65536;     // its chunk size
  let at = 0;           // the bytes the server has confirmed
  let inFlight = 0;     // the bytes of the chunk sent and not yet answered
  let resumed = false;  // the next answer is the first on a new connection
  let drops = 0;
  let busy = 0;         // milliseconds waited for a place on the server (upload_begin refused for a while)
  let sha = null;
  for (;;) {
    if (stopped()) throw new RequestError("cancelled", "upload cancelled");
    try {
      if (id === null) {
        const b = await api("upload_begin", begin);
        id = b.upload_id; at = 0;
        step = Math.max(1024, Number(b.chunk_bytes) || 65536);
      }
      while (at < bytes.length) {
        const data = bytes.subarray(at, at + step);
        inFlight = data.length;
        const r = await api("upload_chunk", { upload_id: id, offset: at, data: toBase64(data) });
        resumed = false; inFlight = 0;
        at = Number.isInteger(r.received) ? r.received : at + data.length;
        if (onProgress) onProgress(Math.min(1, at / Math.max(1, bytes.length)));
        if (stopped()) throw new RequestError("cancelled", "upload cancelled");
      }
      if (!sha) sha = await sha256hex(bytes);
      const done = await api("upload_end", { upload_id: id, sha256: sha });
      return { media_id: done.media_id, kind: done.kind, mime: done.mime, size: done.size, name: file.name || "" };
    } catch (e) {
      if (resumed) {
        resumed = false;
        // The chunk in flight at the drop had arrived: the server wants the bytes after it.
        if (e.code === "bad_request" && e.op === "upload_chunk" && inFlight) { at += inFlight; inFlight = 0; continue; }
        // The server no longer has the upload (restarted, another node; or upload_end had finished it).
        if (e.code === "not_found" || (e.code === "bad_request" && e.op === "upload_end")) { id = null; inFlight = 0; continue; }
      }
      const wait = Number(e.reply && e.reply.retry_after_ms);
      if (e.code === "rate_limited" && e.op === "upload_begin" && wait > 0 && wait <= SHORT_WAIT_MS
          && busy + wait <= MAX_BUSY_MS) {
        busy += wait;
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;   // (stopped() is asked at the top)
      }
      if ((e.code !== "disconnected" && e.code !== "internal") || drops >= MAX_DROPS) throw e;
      if (e.code === "internal") {
        if (onPause) onPause(true, "server");
        await new Promise((resolve) => setTimeout(resolve, INTERNAL_MS[drops] * (0.75 + Math.random() * 0.5)));
        if (stopped()) throw new RequestError("cancelled", "upload cancelled");
      }
      drops++;
      if (onPause && (e.code === "disconnected" || !S.authed)) onPause(true);
      if (!(await whenAuthed())) throw e;   // logged out meanwhile
      if (onPause) onPause(false);
      resumed = id !== null;
    }
  }
}

export function fmtSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

// What a deleted message shows, by who hid it (deleted_by, [ext]; an older server sends none):
// "Bob recalled a message", "You recalled a message", deleted by a manager, removed by the platform.
export function deletedText(m) {
  switch (m.deleted_by) {
    case "sender": {
      const mine = S.me && m.sender && m.sender.user_id === S.me.user_id;
      return mine ? t("recalled_by_me") : t("recalled_by", { name: (m.sender && m.sender.display_name) || t("unknown_user") });
    }
    case "manager": return t("deleted_by_manager");
    case "platform": return t("deleted_by_platform");
    default: return t("deleted_message");
  }
}

export function previewText(m) {
  if (m.deleted) return deletedText(m);
  const kinds = (m.attachments || []).map((a) => "[" + t("kind_" + a.kind) + "]");
  return [kinds.join(""), m.text || ""].filter(Boolean).join(" ");
}

// A fresh signed URL for attachment a, from fetchUrl() (media_url for a message, the post again for a
// post), put into node[attr].
async function refresh(fetchUrl, a, node, attr, asked = false) {
  const last = Number(node.dataset.refreshedAt || 0);
  if (!asked && Date.now() - last < RETRY_MS) return null;   // (a click asks anew: no loop to stop)
  node.dataset.refreshedAt = String(Date.now());
  try {
    const url = await fetchUrl();
    if (!url) return null;
    a.url = url;
    node[attr] = url;
    return url;
  } catch { return null; }
}

export function attachmentsNode(g, m) {
  if (!m.attachments || m.attachments.length === 0) return null;
  return el("div", { class: "attachments" }, m.attachments.map((a) => {
    const fetchUrl = async () => (await api("media_url", { group_id: g.group_id, seq: m.seq, media_id: a.media_id })).url;
    // Without a URL and a seq, the message is our own, acknowledged before its event came.
    return mediaNode(a, fetchUrl, !!m.seq, { gid: g.group_id, seq: m.seq });
  }));
}

// One attachment: a picture inline (click for full size), audio or video in the browser's player,
// anything else as a download link. fetchUrl() gives a fresh signed URL when the one held expired;
// live: whether the URL may be used (or fetched) now; of: the message it is in ({gid, seq}), whose
// full-size view closes with the group or when the message is recalled, or the post ({pid}), whose
// full-size view closes when the post goes.
export function mediaNode(a, fetchUrl, live = true, of = null) {
  const label = a.name || t("kind_" + a.kind);
  if (!live) {
    // Not served yet (a held post's files, until the platform releases it): named, not a broken image.
    return el("span", { class: "media-file media-pending", "data-media": a.media_id },
      el("img", { class: "file-ico", src: "/file.svg", alt: "" }),
      el("span", { class: "file-name clip", text: label }), el("small", { class: "muted", text: t("media_after_review") }));
  }
  let node;
  if (a.kind === "image") {
    const view = async () => viewImage(fresh(node.src) ? node.src : (await refresh(fetchUrl, a, node, "src", true)) || node.src, label, of);
    // (a control for the keyboard too: the full-size view and its download are reached from here)
    node = el("img", { class: "media-img", alt: label, title: label, "data-media": a.media_id, tabindex: 0, role: "button",
      onclick: view, onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); view(); } } });
    if (a.width && a.height) { node.width = Math.min(a.width, 240); node.height = Math.round(node.width * a.height / a.width); }
  } else if (a.kind === "audio" || a.kind === "video") {
    node = el(a.kind, { class: "media-" + a.kind, controls: true, preload: "metadata", "data-media": a.media_id });
  } else {
    // download: true, not the name: the server's Content-Disposition names the file, with the ending
    // of the type it checked the bytes against (a PDF uploaded as report.html saves as report.html.pdf).
    node = el("a", { class: "media-file", "data-media": a.media_id, download: true, rel: "noopener" },
      el("img", { class: "file-ico", src: "/file.svg", alt: "" }),
      el("span", { class: "file-name clip", text: label }), el("small", { class: "muted", text: fmtSize(a.size || 0) }));
    node.addEventListener("click", async (e) => {
      if (a.url && fresh(a.url)) return;   // fresh enough: let the browser follow it
      e.preventDefault();
      node.dataset.refreshedAt = "0";
      if (await refresh(fetchUrl, a, node, "href")) node.click();
    });
  }
  const attr = node.tagName === "A" ? "href" : "src";
  if (attr === "src") node.addEventListener("error", () => refresh(fetchUrl, a, node, attr));
  if (a.url) node[attr] = a.url;
  else refresh(fetchUrl, a, node, attr);
  return node;
}

function viewImage(src, label, of) {
  if (of) dialogFor(of.gid);
  modal(label, (done, dlg) => {
    if (of && of.seq) dlg.dataset.seq = String(of.seq);
    if (of && of.pid) dlg.dataset.pid = String(of.pid);
    return el("div", { class: "stack center" },
    el("img", { class: "media-full", src, alt: label }),
    el("a", { class: "link", href: src, download: true, text: t("download") }));
  }, { wide: true, id: "image-viewer" });
}
