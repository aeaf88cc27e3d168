// Refused public-account requests in plain language. The contract's code decides; what the user
// asked for, and the refusal's fields, tell apart the cases that share a code (a reserved name and a
// person's government account are both `forbidden`; a frozen category's and a suspension's carry
// `until`; a malformed argument is named by `field`), never the reason's wording.
import { t, errorText } from "./i18n.js";

const LICENSED = ["news", "government"];   // these publish only with the platform's label of the same name

// A wait in words, rounded up to what matters: seconds, minutes, or hours.
function fmtWait(ms) {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 60) return t("n_seconds", { n: s });
  if (s < 7200) return t("n_minutes", { n: Math.ceil(s / 60) });
  return t("n_hours", { n: Math.ceil(s / 3600) });
}

// op: the refused op; args: what was asked (plus `mode`, a post's comment mode, for `comment`);
// info: the account's account_info, when known.
export function refusal(e, op, args = {}, info = null) {
  const c = e && e.code;
  // (the rules are offered by api() itself, as for every refusal for them: state.js)
  if (c === "forbidden" && e.reply && e.reply.agreement_version) return t("agreement_needed");
  if (op === "create_account" || op === "update_account") {
    if (c === "verification_required") return t("ae_verify");
    if (c === "create_cap_reached") return t("ae_cap");
    if (c === "conflict") return t("ae_name_taken");
    if (c === "blacklisted") return t("ae_barred");
    if (c === "forbidden" && op === "create_account" && args.category === "government" && args.subject_type !== "organization") return t("ae_gov_org_only");
    const until = e.reply && e.reply.until;
    if (c === "forbidden" && op === "create_account" && until) return t("ae_category_frozen");
    if (c === "forbidden" && op === "update_account" && ((info && info.status === "suspended") || until)) return t("ae_suspended_edit");
    if (c === "forbidden" && args.name !== undefined) return t("ae_reserved");
    const field = e.reply && e.reply.field;
    if (c === "bad_request" && field === "org_code") return t("ae_org_code");
    if (c === "bad_request" && field === "org_name") return t("ae_org_name");
    if (c === "too_large" && !(e.reply && typeof e.reply.max_chars === "number")) return t("ae_too_long");
  }
  if (op === "publish") {
    if (c === "rate_limited") return t("ae_publish_wait", { d: fmtWait(e.reply.retry_after_ms || 1000) });
    if (c === "verification_required") return t("ae_publish_verify");
    if (c === "forbidden" && info) {
      if (info.status === "suspended") return t("ae_suspended");
      if (info.status === "closed") return t("ae_closed");
      if (LICENSED.includes(info.category) && !(info.labels || []).includes(info.category)) return t("ae_license_" + info.category);
    }
  }
  if (op === "comment" && c === "forbidden") {
    // `cause` says why from the server's view, which may be newer than this page's
    const cause = e.reply && e.reply.cause;
    if (cause === "account_closed") return t("ae_closed");
    if (cause === "post") return t("ae_comments_closed");
    if (cause === "platform") return t("ae_comments_restricted");
    if (cause === "credit") return t("comments_level_note");
    if (args.mode === "closed") return t("ae_comments_closed");
    if (info && info.status === "restricted") return t("ae_comments_restricted");
    if (info && info.status === "closed") return t("ae_closed");
  }
  if (op === "moderate_comment" && c === "forbidden" && args.action === "approve") return t("ae_platform_review");
  if (op === "set_editor") {
    if (c === "not_found") return t("ae_no_user");
    if (c === "verification_required") return t("ae_editor_unverified");
    if (c === "bad_request") return t("ae_editor_owner");
    if (c === "conflict") return t("ae_editors_full");
  }
  if (op === "account_info") {
    if (c === "not_found") return t("ae_no_account");
    if (c === "bad_request") return t("ae_bad_id");
  }
  if (c === "forbidden" && info && info.status === "closed") return t("ae_closed");
  if (c === "not_found" && (op === "read_post" || op === "comments" || op === "delete_post" || op === "set_post_comments")) return t("ae_post_gone");
  return errorText(e);
}
