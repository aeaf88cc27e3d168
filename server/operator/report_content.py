"""``show-report REPORT_ID``: a complaint with what it is about, for the operator who judges it (Art. 12).

``reports`` lists ids only, and ``review-queue`` holds what the filter caught, not what users
complained of: a reviewer, who has no database access, could not read the message a complaint was
about. This prints the report as ``reports`` lists it, then the thing it names as the store holds it
now, deleted or held included: a message with every earlier text of it and the text in force when the
report was made (its sender may have edited it since), a post or a comment with its status, a user,
a group or a public account by what an operator acts on. Never a phone, legal name or ID number.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from governance.tiers import credit_level
from server.handlers.common import known_group
from server.operator.channel import OperatorError, Result, command
from server.operator.common import is_id, username_of, with_usernames
from server.operator.export import iso
from server.operator.groups_people import REPORT_PEOPLE

if TYPE_CHECKING:
    from server.context import Context


@command("show-report")
async def show_report(app: Context, args: dict[str, Any]) -> Result:
    report_id = args.get("report_id")
    row = await app.store.report(report_id) if is_id(report_id) else None
    if row is None:
        raise OperatorError(f"unknown report {report_id}")
    report = {**with_usernames(app, row, REPORT_PEOPLE), "report_id": str(row["report_id"]),
              "created_at_iso": iso(row["created_at"])}
    content = await _content(app, row)
    return Result([json.dumps({"report": report}, ensure_ascii=False),
                   json.dumps({"content": content}, ensure_ascii=False)])


async def _content(app: Context, row: dict[str, Any]) -> dict[str, Any] | None:
    """What the report names, as the store and memory hold it now (None: nothing of it is left)."""
    kind = row["target_type"]
    if kind == "message" and row["group_id"] and is_id(row.get("seq")):
        return await _message(app, str(row["group_id"]), int(row["seq"]), row["created_at"])
    if kind == "post" and is_id(row.get("post_id")):
        post = await app.store.post(int(row["post_id"]))
        return None if post is None else {
            "type": "post", "post_id": str(post.post_id), "account_id": post.account_id, "author_id": post.author_id,
            "author_username": username_of(app, post.author_id), "title": post.title, "body": post.body,
            "ts": post.ts, "ts_iso": iso(post.ts), "held": post.held, "gone": post.gone,
            "attachments": json.loads(post.attachments or "[]")}
    if kind == "comment" and is_id(row.get("comment_id")):
        comment = await app.store.comment(int(row["comment_id"]))
        return None if comment is None else {
            "type": "comment", "comment_id": str(comment.comment_id), "post_id": str(comment.post_id),
            "user_id": comment.user_id, "username": username_of(app, comment.user_id), "text": comment.text,
            "ts": comment.ts, "ts_iso": iso(comment.ts), "status": comment.status}
    if kind == "account" and row.get("account_id"):
        a = app.state.accounts.get(str(row["account_id"]))
        return None if a is None else {
            "type": "account", "account_id": a.account_id, "name": a.name, "intro": a.intro,
            "owner_id": a.owner_id, "owner_username": username_of(app, a.owner_id), "status": a.status(app.now_ms())}
    if kind == "group" and row["group_id"]:
        return await _group(app, str(row["group_id"]))
    if kind == "user" and row["user_id"]:
        user = app.state.users.get(row["user_id"])
        return None if user is None else {
            "type": "user", "user_id": user.user_id, "username": user.username, "display_name": user.display_name,
            "credit_score": user.credit_score, "credit_level": credit_level(user.credit_score, app.cfg.credit.levels),
            "blacklisted": user.blacklisted, "deleted": user.deleted,
            # (the group the reporter named, where the conduct happened)
            "group": await _group(app, str(row["group_id"])) if row["group_id"] else None}
    return None


async def _group(app: Context, gid: str) -> dict[str, Any] | None:
    g = await known_group(app, gid)
    return None if g is None else {
        "type": "group", "group_id": gid, "name": g.name, "owner_id": g.owner_id,
        "owner_username": username_of(app, g.owner_id), "members": len(g.members),
        "dissolved": g.dissolved_at is not None, "closed": g.closed_at is not None,
        "suspended_until": g.suspended_until or None}


async def _message(app: Context, gid: str, seq: int, reported_at: int) -> dict[str, Any] | None:
    m = await app.store.message_row(gid, seq)
    if m is None:
        return None  # (purged)
    earlier = (await app.store.message_versions([(gid, seq)])).get((gid, seq), [])
    # Each earlier text was shown from its ts until the next one's; the text now since edited_at.
    shown = [(v["ts"], v["text"]) for v in earlier]
    shown.append((m["edited_at"] if m["edited_at"] is not None else m["ts"], m["text"]))
    at_report = next((text for ts, text in reversed(shown) if ts <= reported_at), shown[0][1])
    return {"type": "message", "group_id": gid, "seq": seq, "sender_id": m["sender_id"],
            "sender_username": username_of(app, m["sender_id"]), "ts": m["ts"], "ts_iso": iso(m["ts"]),
            "text": m["text"], "text_when_reported": at_report, "edited_at": m["edited_at"],
            "versions": [{**v, "ts_iso": iso(v["ts"])} for v in earlier],
            "deleted": m["deleted_at"] is not None, "deleted_by": m["deleted_by"], "held": m["held"],
            "reply_to": m["reply_to"], "attachments": json.loads(m["attachments"]) if m["attachments"] else []}
