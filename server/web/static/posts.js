// Posts and comments of a public account: the post list (newest first, page by page), one post
// (read_post counts one read per user), its comments (page by page; write one or reply to one; a
// held one shows "awaiting review" to its author; a post that takes no new comments still lists the
// old ones, with a line saying why), the owner's and editors' moderation (approve, hide, delete; new
// comments, and comments another manager approved or hid, arrive live through `comment` events),
// reports on posts and comments, posts and comments
// that go away (`post_deleted` and `comment_deleted` events, platform notices, `not_found`), and the publish dialog with
// optional pictures uploaded by media.js. accounts.js places all of it in the account pane; render()
// redraws the pane.
import { el, clear, toast, modal, confirmBox, focusIfIdle } from "./dom.js";
import { t, errorText, fmtTime } from "./i18n.js";
import { S, A, api, managerRole, textRoom, serverNow } from "./state.js";
import { reportDialog } from "./manage.js";
import { upload, mediaNode } from "./media.js";
import { refusal } from "./account_errors.js";

// accounts.js's: the side list drawn again once the new comments counted on a badge were seen.
let hooks = { seen: () => {} };
export function setPostHooks(h) { hooks = h; }

const POSTS_PAGE = 20;
const COMMENTS_PAGE = 50;
const MAX_IMAGES = 9;
const EXCERPT = 90;

export function older(a, b) { return BigInt(a) < BigInt(b); }   // ids are increasing decimal strings

// ------------------------------------------------------------------ the post list
export async function loadPosts(v, fresh) {
  const args = { account_id: v.aid, limit: POSTS_PAGE };
  if (!fresh && v.posts.length) args.before = v.posts[v.posts.length - 1].post_id;
  const r = await api("posts", args);
  v.posts = fresh ? r.posts : v.posts.concat(r.posts);
  v.noMore = r.posts.length < POSTS_PAGE;
}

// A new post was announced (or published here), or the reader comes back from a post: the newest
// page again, above the older pages loaded before. A short page is the whole list: nothing loaded
// before is kept then (a post deleted or removed meanwhile, older than the page's last, goes too).
export async function refreshPosts(v, render) {
  let r;
  try { r = await api("posts", { account_id: v.aid, limit: POSTS_PAGE }); } catch { return; }
  const whole = r.posts.length < POSTS_PAGE;
  const last = whole ? null : r.posts[r.posts.length - 1].post_id;
  v.posts = whole ? r.posts : r.posts.concat(v.posts.filter((p) => older(p.post_id, last)));
  if (whole) v.noMore = true;
  if (A.view === v && !v.post) render();
}

// ------------------------------------------------------------------ the browser's history
// An open account's page, and a post open on it, are entries in the browser's history, as an open
// chat is (app.js: chatInHistory): Back (a phone's button, the browser's) goes from a post to its
// account and from the account to the list, as ‹ does, rather than off the page (the web review).
// An entry is { qunguanAccount: aid } or { qunguanAccount: aid, qunguanPost: pid }.
export function accountEntry() {
  const s = history.state;
  return s && typeof s.qunguanAccount === "string" ? s : null;
}
export function accountInHistory(aid, pid = null) {
  try {
    const e = accountEntry();
    const want = pid ? { qunguanAccount: aid, qunguanPost: pid } : { qunguanAccount: aid };
    if (e && e.qunguanAccount === aid && (e.qunguanPost || null) === pid) return;
    if (pid && e && e.qunguanAccount === aid && !e.qunguanPost) history.pushState(want, "");   // a post over its page
    else if (e) history.replaceState(want, "");
    else history.pushState(want, "");
  } catch { /* a browser that refuses history changes: ‹ still closes the page */ }
}
// The open post closed by other means (deleted, removed, gone): its entry goes, so that the next Back
// leaves the account's page, not a post that is no longer open.
function postLeftHistory() {
  try { const e = accountEntry(); if (e && e.qunguanPost) history.back(); } catch { /* as above */ }
}
// The post's ‹, and Back onto its account's entry: the account's page again, at the post it showed.
export function closePostView(v, render) {
  const vp = v.post;
  if (!vp) return;
  const pid = vp.post.post_id;
  v.post = null; render();
  const item = document.querySelector(`.post-item[data-pid="${CSS.escape(pid)}"]`);
  if (item) item.focus();   // (the post the keyboard came from)
  refreshPosts(v, render);   // reads and comment counts may have moved
}

// A post is gone (a `post_deleted` event, a platform notice, `not_found` when asking for it): out of
// the list, and closed if it is open, saying so unless `quiet` (a notice about it is shown already)
// or this page is deleting it itself.
export function postGone(v, pid, render, quiet = false) {
  v.posts = v.posts.filter((p) => p.post_id !== pid);
  // (a picture of it open at full size, with its download link: gone with the post)
  for (const d of document.querySelectorAll("dialog#image-viewer")) if (d.dataset.pid === String(pid)) d.close();
  if (v.post && v.post.post.post_id === pid) {
    if (!quiet && !v.post.deleting) toast(t("ae_post_gone"));
    v.post = null;
    postLeftHistory();
  }
  if (A.view === v) render();
}

// A platform notice about the open account (accounts.js hands each on; the notice itself is what
// the user reads): a post removed (`post_removed`, to its managers) or a held one rejected
// (`content_removed` with a post_id only) goes; a comment rejected in review or removed
// (`content_removed` with its comment_id, to its author) leaves the open post; a restriction, its
// lifting or a new credit level changes whether the open post takes comments: asked again; a
// closing (`account_closed`, to its managers and its followers online) ends the page's posts.
export function contentNotice(v, ev, render) {
  if (ev.kind === "post_removed" || (ev.kind === "content_removed" && ev.post_id && !ev.comment_id)) {
    postGone(v, ev.post_id, render, true);
  } else if (ev.kind === "content_removed" && ev.comment_id) {
    commentGone(v, ev.post_id, ev.comment_id, render);
  } else if (ev.kind === "account_closed") {
    // closed for good: its posts are shown no more, the open one included (and its comment form)
    v.info = { ...v.info, status: "closed" };
    if (v.post) { v.post = null; postLeftHistory(); }
    v.posts = [];
    if (A.view === v) render();
  } else if (["account_restricted", "account_unrestricted", "account_credit", "sanction_lifted"].includes(ev.kind)) {
    refreshMode(v, render);
  }
}

// A comment left what this user sees (their `content_removed` notice, or a `comment_deleted`
// event): out of the open post, and no longer the one a reply is being written to.
export function commentGone(v, pid, cid, render) {
  const vp = v.post;
  if (!vp || vp.post.post_id !== pid) return;
  vp.comments = vp.comments.filter((c) => c.comment_id !== cid);
  if (vp.replyTo && vp.replyTo.comment_id === cid) vp.replyTo = null;
  if (A.view === v && v.post === vp) render();
}

// The open post read again (read_post: no second read is counted), `take` putting what it needs of
// the answer into the view; a post gone meanwhile closes.
async function rereadOpenPost(v, render, take) {
  const vp = v.post;
  if (!vp) return;
  let again;
  try { again = await api("read_post", { post_id: vp.post.post_id }); } catch (e) {
    if (e.code === "not_found") postGone(v, vp.post.post_id, render, true);
    return;
  }
  if (v.post !== vp) return;
  take(vp, again);
  if (A.view === v) render();
}

// Released by the platform, the open post is held no more and its pictures are served.
export function refreshOpenPost(v, render) {
  return rereadOpenPost(v, render, (vp, again) => { vp.post = again; });
}

// The open post's comment mode in force again.
function refreshMode(v, render) {
  return rereadOpenPost(v, render, (vp, again) => {
    vp.post.comments = again.comments;
    vp.post.comments_closed_by = again.comments_closed_by;
  });
}

// [ext] `post_comments`: a post's comment mode changed (its managers' `set_post_comments`): the
// list's entry and the open post take the mode in force at once (the comment box opens or closes).
export function postCommentsChanged(v, ev, render) {
  const mode = { comments: ev.comments, comments_closed_by: ev.comments_closed_by };
  v.posts = v.posts.map((p) => (p.post_id === ev.post_id ? { ...p, ...mode } : p));
  if (v.post && v.post.post.post_id === ev.post_id) v.post.post = { ...v.post.post, ...mode };
  if (A.view === v) render();
}

// A post's comment modes, as publishing and set_post_comments take them, in the reader's words.
function commentModeOptions() {
  return ["open", "review", "closed"].map((m) => el("option", { value: m, text: t("cmode_" + m) }));
}

// The post's own comment mode, as its managers choose it (`set_post_comments`). Shown as the mode in
// force: a post closed by a platform restriction or the credit level reads `closed` here too.
function commentModeControl(v, render) {
  const p = v.post.post;
  const select = el("select", { id: "post-comments-mode", "aria-label": t("post_comments") },
    commentModeOptions());
  select.value = p.comments || "open";
  select.onchange = async () => {
    const vp = v.post;
    const want = select.value;
    let r;
    try { r = await api("set_post_comments", { post_id: p.post_id, comments: want }); } catch (e) {
      select.value = vp.post.comments || "open";
      toast(refusal(e, "set_post_comments", {}, v.info), "error");
      if (e.code === "not_found") postGone(v, p.post_id, render, true);
      return;
    }
    postCommentsChanged(v, { post_id: p.post_id, comments: r.comments, comments_closed_by: r.comments_closed_by }, render);
    toast(t("post_comments_set", { mode: t("cmode_" + want) }));
  };
  return el("label", { class: "row small" }, el("span", { class: "muted", text: t("post_comments") }), select);
}

// Why a post takes no new comments, null while it takes them: the server's [ext]
// `comments_closed_by`: `platform` (restricted), `credit` (the account's level allows none) or
// `post` (its own mode), which a `closed` without it means.
function closedBy(p) {
  return p.comments === "closed" ? p.comments_closed_by || "post" : null;
}

export function postsSection(v, render) {
  if (v.info.status === "closed") return el("p", { class: "muted placeholder", id: "account-closed-note", text: t("account_is_closed") });
  return el("section", { class: "posts" }, el("h3", { text: t("posts") }),
    v.posts.length === 0 ? el("p", { class: "muted", id: "no-posts", text: t("no_posts") })
      : el("ul", { class: "post-list", id: "post-list" }, v.posts.map((p) => postItem(v, p, render))),
    v.noMore ? null : el("button", { type: "button", class: "link", id: "posts-more", text: t("load_more"), onclick: async () => {
      try { await loadPosts(v, false); } catch (e) { toast(refusal(e, "posts", {}, v.info), "error"); return; }
      if (A.view === v) render();
    } }));
}

function excerpt(body) {
  const flat = body.replace(/\s+/g, " ").trim();
  return [...flat].length > EXCERPT ? [...flat].slice(0, EXCERPT).join("") + "…" : flat;
}

function postItem(v, p, render) {
  const images = (p.attachments || []).length;
  const open = () => openPost(v, p.post_id, render);
  return el("li", { class: "post-item" + (p.held ? " held" : ""), "data-pid": p.post_id, tabindex: 0, role: "button",
    onclick: open, onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } } },
  el("div", { class: "post-item-title", text: p.title }),
  el("div", { class: "post-excerpt muted", text: excerpt(p.body) }),
  el("div", { class: "row wrap muted small post-meta" },
    el("time", { text: fmtTime(p.ts) }),
    el("span", { class: "reads", text: t("reads_n", { n: p.reads }) }),
    p.comments !== "closed" ? el("span", { class: "comment-count", text: t("comments_n", { n: p.comment_count }) }) : null,
    images ? el("span", { text: t("images_n", { n: images }) }) : null,
    p.held ? el("span", { class: "tag tag-muted", text: t("post_held") }) : null));
}

// ------------------------------------------------------------------ one post
export async function openPost(v, pid, render) {
  let post;
  try { post = await api("read_post", { post_id: pid }); } catch (e) {
    toast(refusal(e, "read_post", {}, v.info), "error");
    if (e.code === "not_found") postGone(v, pid, render, true);
    return;
  }
  const item = v.posts.find((p) => p.post_id === pid);
  if (item) item.reads = post.reads;
  // The new comments counted on the account's badge for this post are seen now that it is open.
  const counted = A.newComments.get(v.aid);
  if (counted) {
    const before = counted.size;
    for (const [cid, p] of [...counted]) if (p === pid) counted.delete(cid);
    if (!counted.size) A.newComments.delete(v.aid);
    if (counted.size !== before) hooks.seen();
  }
  const vp = { post, comments: [], noMore: true, replyTo: null };
  v.post = vp;
  accountInHistory(v.aid, pid);
  // Whatever the mode: a post closed to new comments (by its author, the platform or the credit
  // level) keeps its old ones, which the server lists.
  await loadComments(v, vp, true, render);
  if (A.view === v && v.post === vp) {
    render();
    // (the keyboard reads on from the post's title, not from the page's start; unless the user went
    // elsewhere while the post was on its way)
    focusIfIdle(document.getElementById("post-title"), document.getElementById("account-pane"));
  }
}

async function loadComments(v, vp, fresh, render) {
  const args = { post_id: vp.post.post_id, limit: COMMENTS_PAGE };
  if (!fresh && vp.comments.length) args.before = vp.comments[vp.comments.length - 1].comment_id;
  let r;
  try { r = await api("comments", args); } catch (e) {
    if (e.code === "not_found") postGone(v, vp.post.post_id, render);
    else toast(refusal(e, "comments", {}, v.info), "error");
    return;
  }
  vp.comments = fresh ? r.comments : vp.comments.concat(r.comments.filter((c) => !vp.comments.some((x) => x.comment_id === c.comment_id)));
  vp.noMore = r.comments.length < COMMENTS_PAGE;
  if (vp.replyTo && !vp.comments.some((c) => c.comment_id === vp.replyTo.comment_id)) vp.replyTo = null;
}

// A comment or moderation got `not_found`: the post, or the comment named (moderated, or replied
// to), went away meanwhile. The comments again: the post closes if it is gone, else the comment has.
async function afterNotFound(v, vp, render) {
  await loadComments(v, vp, true, render);
  if (v.post !== vp) return;
  if (A.view === v) render();
  toast(t("comment_gone"), "error");
}

export function postView(v, render) {
  const vp = v.post;
  const p = vp.post;
  const role = managerRole(v.aid);
  const atts = p.attachments || [];
  return el("article", { class: "post-view", id: "post-view", "data-pid": p.post_id },
    el("header", { class: "pane-head" },
      el("button", { type: "button", class: "icon", id: "btn-post-back", "aria-label": t("back"), text: "‹",
        onclick: () => {
          const e = accountEntry();
          if (e && e.qunguanPost) history.back();   // (its popstate closes the post: accounts.js)
          else closePostView(v, render);
        } }),
      el("div", { class: "grow clip" }, el("strong", { class: "clip", id: "post-account-name", text: v.info.name }))),
    el("div", { class: "account-scroll", id: "post-scroll" },
      el("h2", { class: "post-title", id: "post-title", tabindex: -1, text: p.title }),
      el("div", { class: "row wrap muted small" }, el("time", { text: fmtTime(p.ts) }),
        el("span", { id: "post-reads", text: t("reads_n", { n: p.reads }) }),
        p.held ? el("span", { class: "tag tag-muted", text: t("post_held") }) : null),
      p.held ? el("p", { class: "muted small", text: t("post_held_hint") }) : null,
      el("div", { class: "post-body", id: "post-body", text: p.body }),
      // A held post's files are served once the platform releases it (its URLs answer 404 until then).
      atts.length ? el("div", { class: "attachments post-images", "data-replace": true }, atts.map((a) => mediaNode(a, async () => {
        // A post's URLs come with the post: asking for it again (already read: no second read counted).
        const again = await api("read_post", { post_id: p.post_id });
        const x = (again.attachments || []).find((y) => y.media_id === a.media_id);
        return x ? x.url : null;
      }, !p.held, { pid: p.post_id }))) : null,
      el("div", { class: "row wrap post-actions" },
        role ? null : el("button", { type: "button", class: "ghost small", id: "btn-report-post", text: t("report_post"),
          onclick: () => reportDialog({ target_type: "post", post_id: p.post_id }) }),
        role ? commentModeControl(v, render) : null,
        role ? el("button", { type: "button", class: "danger small", id: "btn-delete-post", text: t("delete_post"), onclick: () => deletePost(v, render) }) : null),
      commentsSection(v, render)));
}

async function deletePost(v, render) {
  const vp = v.post;
  const p = vp.post;
  if (!(await confirmBox(t("confirm_post_delete", { title: p.title }), t("delete"), t("cancel")))) return;
  vp.deleting = true;   // its own `post_deleted` event may come first: no "gone" toast for it
  try { await api("delete_post", { post_id: p.post_id }); } catch (e) {
    vp.deleting = false;
    toast(refusal(e, "delete_post", {}, v.info), "error");
    if (e.code === "not_found") postGone(v, p.post_id, render, true);
    return;
  }
  v.posts = v.posts.filter((x) => x.post_id !== p.post_id);
  if (v.post && v.post.post === p) { v.post = null; postLeftHistory(); }
  toast(t("post_deleted"));
  if (A.view === v) {
    render();
    focusIfIdle(document.querySelector("#post-list .post-item") || document.getElementById("btn-publish"));
  }
}

// ------------------------------------------------------------------ comments
function commentsSection(v, render) {
  const vp = v.post;
  const mode = vp.post.comments;
  const role = managerRole(v.aid);
  const parts = [el("h3", { text: t("comments_title") })];
  // No new comments: the line says why, and the comments written before stay listed below it.
  const why = closedBy(vp.post);
  if (why === "platform") parts.push(el("p", { class: "muted", id: "comments-restricted", text: t("comments_restricted_note") }));
  else if (why === "credit") parts.push(el("p", { class: "muted", id: "comments-level", text: t("comments_level_note") }));
  else if (why) parts.push(el("p", { class: "muted", id: "comments-closed", text: t("comments_closed_note") }));
  else {
    if (mode === "review") parts.push(el("small", { class: "muted", id: "comments-review", text: t("comments_review_note") }));
    parts.push(commentForm(v, render));
  }
  if (vp.comments.length) parts.push(el("ul", { class: "comments", id: "comment-list" }, vp.comments.map((c) => commentNode(v, c, role, render))));
  else if (!why) parts.push(el("p", { class: "muted", id: "no-comments", text: t("no_comments") }));
  if (!vp.noMore) parts.push(el("button", { type: "button", class: "link", id: "comments-more", text: t("load_more"), onclick: async () => {
    await loadComments(v, vp, false, render);
    if (A.view === v && v.post === vp) render();
  } }));
  return el("section", { class: "comments-section", id: "comments" }, parts);
}

function commentForm(v, render) {
  const vp = v.post;
  const msg = el("p", { class: "form-msg", id: "comment-msg", role: "alert" });
  const text = el("textarea", { id: "comment-text", rows: 2, maxlength: textRoom(4000), "data-keep": true, placeholder: t("comment_placeholder"),
    "aria-label": t("comment_field") });
  const reply = vp.replyTo;
  return el("form", { class: "stack", id: "comment-form", "data-replace": true, onsubmit: async (e) => {
    e.preventDefault();
    const body = text.value.trim();
    // One comment per press: a second press (a double click) while the first is on its way is
    // not a second comment (the server would store both).
    if (!body || vp.sending) return;
    const args = { post_id: vp.post.post_id, text: body };
    if (vp.replyTo) args.reply_to = vp.replyTo.comment_id;
    const button = e.target.querySelector("#comment-submit");
    vp.sending = true;
    if (button) button.disabled = true;
    let r;
    try { r = await api("comment", args); } catch (err) {
      if (err.code === "not_found") { await afterNotFound(v, vp, render); return; }
      msg.textContent = refusal(err, "comment", { mode: vp.post.comments }, v.info); msg.className = "form-msg error";
      return;
    } finally {
      vp.sending = false;
      if (button) button.disabled = false;
    }
    // (the form may have been drawn again while the comment was on its way: clear the field shown)
    const shown = document.getElementById("comment-text");
    if (shown) shown.value = "";
    vp.replyTo = null;
    if (!vp.comments.some((c) => c.comment_id === r.comment_id)) {
      vp.comments.unshift({ comment_id: r.comment_id, user: { user_id: S.me.user_id, display_name: S.me.display_name },
        text: body, ts: serverNow(), reply_to: args.reply_to, held: r.held || undefined });
    }
    toast(t(r.held ? "comment_held" : "comment_sent"));
    if (A.view === v && v.post === vp) {
      render();
      // (the button was disabled meanwhile, so the focus left it: back to the field, unless the user
      // went on elsewhere while the comment was on its way)
      focusIfIdle(document.getElementById("comment-text"), document.getElementById("comment-form"));
    }
  } },
  reply ? el("div", { class: "row reply-bar", id: "comment-reply-bar" },
    el("span", { class: "grow clip muted small", text: t("replying_to", { name: reply.user.display_name }) + " " + reply.text }),
    el("button", { type: "button", class: "icon small", "aria-label": t("cancel_reply"), text: "✕", onclick: () => { vp.replyTo = null; render(); } })) : null,
  el("div", { class: "row" }, text, el("button", { type: "submit", class: "primary", id: "comment-submit", text: t("comment_send") })), msg);
}

function commentNode(v, c, role, render) {
  const vp = v.post;
  const mine = !!(S.me && c.user.user_id === S.me.user_id);
  const state = c.hidden ? "hidden" : c.held ? "held" : "visible";
  const parent = c.reply_to ? vp.comments.find((x) => x.comment_id === c.reply_to) : null;
  const btn = (cls, label, run) => el("button", { type: "button", class: "small " + cls, text: label, onclick: run });
  const acts = [];
  if (state === "visible" && vp.post.comments !== "closed") {
    acts.push(btn("ghost act-reply-comment", t("reply"), () => { vp.replyTo = c; render(); const box = document.getElementById("comment-text"); if (box) box.focus(); }));
  }
  if (!mine) acts.push(btn("ghost act-report-comment", t("report"), () => reportDialog({ target_type: "comment", comment_id: c.comment_id })));
  if (role) {
    // Approving lets a comment on, which the platform's restriction or the credit level keeps off for now.
    const shut = ["platform", "credit"].includes(closedBy(vp.post));
    if (state !== "visible" && !shut) acts.push(btn("primary act-approve-comment", t("approve"), () => moderate(v, c, "approve", render)));
    if (state !== "hidden") acts.push(btn("act-hide-comment", t("hide"), () => moderate(v, c, "hide", render)));
    acts.push(btn("danger act-delete-comment", t("delete"), () => moderate(v, c, "delete", render)));
  }
  const fresh = c.fresh;
  c.fresh = false;   // flashes once, not on every redraw
  return el("li", { class: "comment comment-" + state + (fresh ? " fresh" : ""), "data-cid": c.comment_id, "data-state": state },
    el("div", { class: "row wrap" }, el("span", { class: "who", text: c.user.display_name }), mine ? el("span", { class: "muted", text: t("you") }) : null,
      el("time", { class: "muted small", text: fmtTime(c.ts) }),
      state === "held" ? el("span", { class: "tag tag-held", text: t(mine && !role ? "comment_awaiting_mine" : "comment_awaiting") }) : null,
      state === "hidden" ? el("span", { class: "tag tag-muted", text: t("comment_hidden") }) : null),
    // (a parent this reader is not shown, hidden or gone: said so, not named as a user called "user")
    c.reply_to ? el("div", { class: "muted small reply-to", text: parent ? t("reply_to_name", { name: parent.user.display_name }) : t("reply_to_unseen") }) : null,
    el("p", { class: "comment-text", text: c.text }),
    acts.length ? el("div", { class: "row wrap actions" }, acts) : null);
}

async function moderate(v, c, action, render) {
  const vp = v.post;
  const args = { post_id: vp.post.post_id, comment_id: c.comment_id, action };
  if (action === "delete" && !(await confirmBox(t("confirm_comment_delete"), t("delete"), t("cancel")))) return;
  try { await api("moderate_comment", args); } catch (e) {
    if (e.code === "not_found") await afterNotFound(v, vp, render);
    else toast(refusal(e, "moderate_comment", args, v.info), "error");
    return;
  }
  const at = vp.comments.indexOf(c);
  if (action === "delete") vp.comments = vp.comments.filter((x) => x.comment_id !== c.comment_id);
  else { delete c.held; delete c.hidden; if (action === "hide") c.hidden = true; }
  toast(t("moderated_" + action));
  if (A.view === v && v.post === vp) {
    render();   // (renderPane keeps the focus on the comment's controls while it is listed)
    if (action === "delete" && (!document.activeElement || document.activeElement === document.body)) {
      const next = vp.comments[Math.min(at, vp.comments.length - 1)];
      const node = next && document.querySelector(`.comment[data-cid="${CSS.escape(next.comment_id)}"] button`);
      focusIfIdle(node || document.getElementById("comment-text") || document.getElementById("post-title"));
    }
  }
}

// A `comment` event for the open post: a new comment (owners and editors) shows at the top at once;
// [ext] one whose status changed (`moderated`: approved or released, to the managers and its author;
// hidden, to the managers) shows as it is now: marked or unmarked where it is listed, or put in its
// place when it is not (one older than every comment loaded, with more to load, comes with them).
export function addLiveComment(v, ev, render) {
  const vp = v.post;
  const state = { held: ev.held || undefined, hidden: ev.hidden || undefined };
  const known = vp.comments.find((c) => c.comment_id === ev.comment_id);
  if (known) {
    Object.assign(known, state);
    if (state.hidden && vp.replyTo === known) vp.replyTo = null;   // a reply to a hidden comment is refused
  } else {
    const at = vp.comments.findIndex((c) => older(c.comment_id, ev.comment_id));
    if (at < 0 && !vp.noMore) return;
    vp.comments.splice(at < 0 ? vp.comments.length : at, 0, { comment_id: ev.comment_id, user: ev.user, text: ev.text,
      ts: ev.ts, reply_to: ev.reply_to || undefined, ...state, fresh: true });
  }
  if (A.view === v && v.post === vp) render();
}

// The open post's comments again from the first page (this user became an editor of the account, or
// stopped being one: held and hidden comments are listed to them now, or no longer).
export async function refreshComments(v, render) {
  const vp = v.post;
  if (!vp) return;
  await loadComments(v, vp, true, render);
  if (A.view === v && v.post === vp) render();
}

// ------------------------------------------------------------------ publishing
export function publishDialog(v, render) {
  const files = [];   // { file, progress, result, preview, promise }
  modal(t("publish"), (done) => {
    const msg = el("p", { class: "form-msg", id: "publish-msg", role: "alert" });
    const title = el("input", { id: "publish-title", required: true, maxlength: textRoom(128) });
    const body = el("textarea", { id: "publish-body", rows: 8, required: true, maxlength: textRoom(20000) });
    const mode = el("select", { id: "publish-comments" }, commentModeOptions());
    const tray = el("div", { class: "row wrap", id: "publish-tray" });
    const drawTray = () => {
      clear(tray);
      for (const item of files) {
        tray.append(el("div", { class: "attach-item" + (item.result ? " done" : ""), "data-name": item.file.name },
          el("img", { class: "attach-thumb", src: item.preview, alt: "" }),
          el("small", { class: "muted", text: item.result ? "✓" : Math.round(item.progress * 100) + "%" }),
          el("button", { type: "button", class: "icon small", "aria-label": t("cancel_file", { name: item.file.name }), text: "✕", onclick: () => remove(item) })));
      }
    };
    const remove = (item) => {
      const i = files.indexOf(item);
      if (i >= 0) files.splice(i, 1);
      URL.revokeObjectURL(item.preview);
      drawTray();
    };
    const add = (file) => {
      if (!file.type.startsWith("image/")) { toast(t("images_only"), "error"); return; }
      if (files.length >= MAX_IMAGES) { toast(t("too_many_files", { n: MAX_IMAGES }), "error"); return; }
      const item = { file, progress: 0, result: null, preview: URL.createObjectURL(file) };
      item.promise = upload(file, (p) => { item.progress = p; drawTray(); })
        .then((r) => { item.result = r; drawTray(); return r; })
        .catch((e) => { toast(t("upload_failed", { name: file.name, reason: errorText(e) }), "error"); remove(item); return null; });
      files.push(item);
      drawTray();
    };
    const input = el("input", { type: "file", id: "publish-files", accept: "image/*", multiple: true, hidden: true,
      onchange: () => { for (const f of [...input.files]) add(f); input.value = ""; } });
    const submit = el("button", { type: "submit", class: "primary", id: "publish-submit", text: t("publish") });
    return el("form", { class: "stack", id: "publish-form", onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      msg.className = "form-msg";
      msg.textContent = files.some((f) => !f.result) ? t("uploading") : "";
      const results = await Promise.all(files.map((f) => f.promise));
      if (results.some((r) => !r)) {
        // A picture failed on its way (its toast named it, and it left the tray): nothing is published
        // without it unless the author presses again, seeing the tray as it is now.
        submit.disabled = false;
        msg.textContent = t("publish_upload_failed"); msg.className = "form-msg error";
        return;
      }
      const uploaded = results;
      const args = { account_id: v.aid, title: title.value.trim(), body: body.value, comments: mode.value };
      if (uploaded.length) args.attachments = uploaded.map((r) => r.media_id);
      let r;
      try { r = await api("publish", args); } catch (err) {
        submit.disabled = false;
        msg.textContent = refusal(err, "publish", args, v.info); msg.className = "form-msg error";
        return;
      }
      done();
      toast(t(r.held ? "post_held_toast" : "post_published"));
      if (r.comments !== args.comments) toast(t(r.comments_closed_by === "platform" ? "comments_forced_platform" : "comments_forced_" + r.comments));
      await refreshPosts(v, render);
    } },
    el("label", { class: "field" }, el("span", { class: "label", text: t("post_title") }), title),
    el("label", { class: "field" }, el("span", { class: "label", text: t("post_body") }), body),
    el("label", { class: "field" }, el("span", { class: "label", text: t("post_comments") }), mode),
    el("div", { class: "row wrap" }, input,
      el("button", { type: "button", class: "ghost", id: "publish-attach", onclick: () => input.click() },
        el("img", { src: "/clip.svg", alt: "", class: "ico inline" }), t("add_images")), tray),
    msg, el("div", { class: "row end" }, submit));
  }, { wide: true, id: "publish-dialog" }).then(() => { for (const f of files) URL.revokeObjectURL(f.preview); });
}
