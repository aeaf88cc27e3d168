// Files in messages. Upload: upload_begin, then the bytes in chunks of the server's chunk_bytes over
// the WebSocket (base64 text on the JSON subprotocol), then upload_end with the SHA-256; the media_id
// it returns goes into send's attachments. Showing: images inline, audio and video with the
// browser's players, anything else as a download link. Their URLs are signed and expire: a failed
// load (403 after the expiry) or an old link asks media_url for a fresh one.
import { el, modal } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./state.js";
import { sha256hex } from "./sha256.js";

const STALE_MS = 30 * 60 * 1000;    // a link older than this is refreshed before it is followed
const RETRY_MS = 10 * 1000;         // at most one refresh per element in this time (no loops on a 404)

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// Upload one File; onProgress(fraction) after each chunk. Resolves with the attachment object.
export async function upload(file, onProgress) {
  const begin = { mime: file.type || "application/octet-stream", size: file.size };
  if (file.name) begin.name = file.name.slice(0, 200);
  const b = await api("upload_begin", begin);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const step = Math.max(1024, Number(b.chunk_bytes) || 65536);
  for (let off = 0; off < bytes.length; off += step) {
    const r = await api("upload_chunk", { upload_id: b.upload_id, offset: off, data: toBase64(bytes.subarray(off, off + step)) });
    if (onProgress) onProgress(Math.min(1, (r.received ?? off + step) / Math.max(1, bytes.length)));
  }
  const done = await api("upload_end", { upload_id: b.upload_id, sha256: await sha256hex(bytes) });
  return { media_id: done.media_id, kind: done.kind, mime: done.mime, size: done.size, name: file.name || "" };
}

export function fmtSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

// When each attachment's URL was received: it is as fresh as the message that carried it.
export function stamp(m) {
  for (const a of m.attachments || []) if (a.url && !a.at) a.at = Date.now();
}

export function previewText(m) {
  if (m.deleted) return t("deleted_message");
  const kinds = (m.attachments || []).map((a) => "[" + t("kind_" + a.kind) + "]");
  return [kinds.join(""), m.text || ""].filter(Boolean).join(" ");
}

// A fresh signed URL for attachment a, from fetchUrl() (media_url for a message, the post again for a
// post), put into node[attr].
async function refresh(fetchUrl, a, node, attr) {
  const last = Number(node.dataset.refreshedAt || 0);
  if (Date.now() - last < RETRY_MS) return null;
  node.dataset.refreshedAt = String(Date.now());
  try {
    const url = await fetchUrl();
    if (!url) return null;
    a.url = url; a.at = Date.now();
    node[attr] = url;
    return url;
  } catch { return null; }
}

export function attachmentsNode(g, m) {
  if (!m.attachments || m.attachments.length === 0) return null;
  return el("div", { class: "attachments" }, m.attachments.map((a) => {
    const fetchUrl = async () => (await api("media_url", { group_id: g.group_id, seq: m.seq, media_id: a.media_id })).url;
    // Without a URL and a seq, the message is our own, acknowledged before its event came.
    return mediaNode(a, fetchUrl, !!m.seq);
  }));
}

// One attachment: a picture inline (click for full size), audio or video in the browser's player,
// anything else as a download link. fetchUrl() gives a fresh signed URL when the one held expired;
// live: whether the URL may be used (or fetched) now.
export function mediaNode(a, fetchUrl, live = true) {
  const label = a.name || t("kind_" + a.kind);
  let node;
  if (a.kind === "image") {
    node = el("img", { class: "media-img", alt: label, title: label, "data-media": a.media_id,
      onclick: () => viewImage(node.src, label) });
    if (a.width && a.height) { node.width = Math.min(a.width, 240); node.height = Math.round(node.width * a.height / a.width); }
  } else if (a.kind === "audio" || a.kind === "video") {
    node = el(a.kind, { class: "media-" + a.kind, controls: true, preload: "metadata", "data-media": a.media_id });
  } else {
    node = el("a", { class: "media-file", "data-media": a.media_id, download: a.name || "file", rel: "noopener" },
      el("img", { class: "file-ico", src: "/file.svg", alt: "" }),
      el("span", { class: "file-name clip", text: label }), el("small", { class: "muted", text: fmtSize(a.size || 0) }));
    node.addEventListener("click", async (e) => {
      if (a.url && Date.now() - (a.at || 0) < STALE_MS) return;   // fresh enough: let the browser follow it
      e.preventDefault();
      node.dataset.refreshedAt = "0";
      if (await refresh(fetchUrl, a, node, "href")) node.click();
    });
  }
  const attr = node.tagName === "A" ? "href" : "src";
  if (attr === "src") node.addEventListener("error", () => refresh(fetchUrl, a, node, attr));
  if (a.url && live) node[attr] = a.url;
  else if (live) refresh(fetchUrl, a, node, attr);
  return node;
}

function viewImage(src, label) {
  modal(label, () => el("div", { class: "stack center" },
    el("img", { class: "media-full", src, alt: label }),
    el("a", { class: "link", href: src, download: label, text: t("download") })), { wide: true, id: "image-viewer" });
}
