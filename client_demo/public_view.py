"""How the terminal client shows the replies of the public-account ops: pure functions from the
request's arguments and the server's reply to lines (every server text through :func:`clean`)."""

from __future__ import annotations

from typing import Any

from client_demo.render import (
    ATTACHMENT_INDENT,
    Names,
    clean,
    comment_marks,
    comments_said,
    format_attachment,
    format_comment,
    hhmm,
)
from client_demo.text import clean_lines

STATUS_NOTES = {
    "restricted": "the platform turned its comments off",
    "suspended": "the platform suspended its publishing",
    "closed": "it publishes nothing more",
}
MODE_NOTES = {"open": "comments open", "review": "comments after approval", "closed": "comments closed"}


def _plural(n: Any, word: str) -> str:
    return f"{clean(n)} {word}{'' if n == 1 else 's'}"


def format_account_row(a: dict[str, Any]) -> str:
    """``  123456789  [owner]  茶馆日报  [closed]`` for /accounts: your role in brackets before the
    account's name, which could spell out "[owner]" itself (as for /members and /groups); one you
    only follow says ``[follower]`` there, so a followed account named "[owner]  天气" still shows
    its own bracket first."""
    role = clean(a["role"]) if a.get("role") else "follower"
    line = f"  {clean(a.get('account_id'))}  [{role}]  {clean(a.get('name'))}"
    if a.get("status") and a["status"] != "active":
        line += f"  [{clean(a['status'])}]"
    return line


def format_account_info(r: dict[str, Any]) -> list[str]:
    """The lines of ``/account AID``: who runs it (never a person's name: the server sends none)."""
    head = f"* public account {clean(r.get('account_id'))}: {clean(r.get('name'))}"
    status = r.get("status")
    if status and status != "active":
        head += f" [{clean(status)}: {STATUS_NOTES.get(str(status), clean(status))}]"
    if r.get("subject_type") == "organization":
        runner = f"run by the organization {clean(r.get('org_name'))}"
    else:
        runner = "run by a verified person"
    facts = [f"category {clean(r.get('category'))}", runner, f"credit level {clean(r.get('credit_level'))}",
             _plural(r.get("subscriber_count"), "subscriber")]
    lines = [head, "  " + ", ".join(facts)]
    labels = r.get("labels") or []
    if labels:
        lines.append("  labels: " + ", ".join(clean(x) for x in labels))
    if r.get("created_at"):
        lines.append(f"  opened {hhmm(r['created_at'])}")
    if r.get("intro"):
        lines.append("  intro: " + clean(r["intro"]))  # (named: the owner's text, not a line of the platform's)
    return lines


def _post_facts(p: dict[str, Any]) -> str:
    """``3 reads, 2 comments, comments open``, then attachments and held when there are."""
    facts = [_plural(p.get("reads"), "read"), _plural(p.get("comment_count"), "comment"),
             MODE_NOTES.get(str(p.get("comments")), clean(p.get("comments")))]
    if p.get("attachments"):
        facts.append(_plural(len(p["attachments"]), "attachment"))
    if p.get("held"):
        facts.append("held for review")
    return ", ".join(facts)


def format_post_row(p: dict[str, Any]) -> str:
    """``  post 17  12:40  (3 reads, 2 comments, comments open)  Title`` for /posts: the facts the server
    counts before the title the account wrote, which could otherwise pose as them."""
    return f"  post {clean(p.get('post_id'))}  {hhmm(p.get('ts'))}  ({_post_facts(p)})  {clean(p.get('title'))}"


def format_post(p: dict[str, Any], names: Names, base: str = "") -> list[str]:
    """A whole post for /post: heading, facts, the body indented, one line per attachment."""
    head = f"* post {clean(p.get('post_id'))} of {names.account(p.get('account_id'))}, {hhmm(p.get('ts'))}"
    lines = [f"{head}: {clean(p.get('title'))}", f"  ({_post_facts(p)})"]
    lines += ["    " + line for line in clean_lines(p.get("body", ""))]
    for a in p.get("attachments") or []:
        if isinstance(a, dict):
            lines.append(ATTACHMENT_INDENT + format_attachment(a, base))
    return lines


def format_comment_row(c: dict[str, Any], names: Names) -> str:
    """``  comment 5  (hidden)  12:41  Bob Li (u2): ↪ comment 3 well said``: the state before the time,
    where no text of the commenter's can stand (see :func:`comment_marks`)."""
    marks = comment_marks(c)
    return (f"  comment {clean(c.get('comment_id'))}  {marks + '  ' if marks else ''}{hhmm(c.get('ts'))}  "
            f"{format_comment(c, names)}")


def format_comments(post_id: Any, comments: list[dict[str, Any]], names: Names, limit: int) -> list[str]:
    lines = [f"* comments on post {clean(post_id)}: {len(comments)}"]
    lines += [format_comment_row(c, names) for c in comments]
    if comments and len(comments) >= limit:
        lines.append(f"* older: /comments {clean(post_id)} {limit} before {clean(comments[-1].get('comment_id'))}")
    return lines


POSTS_PAGE = 20     # the server's default page sizes, to say when there may be more
COMMENTS_PAGE = 50


def _held_lines(params: dict[str, Any], held: dict[str, Any], name_meanwhile: str, intro_meanwhile: str) -> list[str]:
    """What ``create_account`` and ``update_account`` say of a name or intro held for review (``held_ids``)."""
    wait = "is held for the platform's review"
    out = []
    if "name" in held:
        out.append(f"* the name {clean(params.get('name'))} {wait} (#{clean(held['name'])}); "
                   f"{name_meanwhile} until it is approved")
    if "intro" in held:
        out.append(f"* the introduction {wait} (#{clean(held['intro'])}); {intro_meanwhile} until it is approved")
    return out


def _carried_lines(r: dict[str, Any]) -> list[str]:
    """Why a new account starts below the usual: what it carried over from the owner's (or the
    organisation's) other accounts, open or closed."""
    carried = r.get("carried") or []
    out = []
    if "credit" in carried:
        out.append(f"* it starts at credit level {clean(r.get('credit_level'))}, the lowest of the other accounts"
                   " of the same person or organisation")
    if "comments_restricted" in carried:
        out.append("* its comments start restricted, as on another account of the same person or organisation;"
                   " the platform can lift it")
    if "suspended" in carried:
        out.append("* publishing is suspended, as on another account of the same person or organisation, until"
                   " that suspension ends or is lifted")
    return out


def public_reply(op: str, params: dict[str, Any], r: dict[str, Any], names: Names,
                 base: str = "") -> list[str] | None:
    """The lines for the reply to a public-account op; ``None`` when ``op`` is not one."""
    aid = params.get("account_id")
    acct = names.account(aid) if aid is not None else ""
    if op == "create_account":
        new = r.get("account_id")
        held = r.get("held_ids") if r.get("held") else None
        # A held name is not the account's: it is called 公众号 ID until the platform approves it.
        names.learn_account({"account_id": new, "name": f"公众号 {new}" if held and "name" in held
                             else params.get("name")})
        return [f"* opened public account {names.account(new)}; you own it",
                *_carried_lines(r),
                *_held_lines(params, held or {}, f"the account is called 公众号 {clean(new)}",
                             "it has no introduction"),
                f"* publish with: /publish {clean(new)} open TITLE -- BODY"]
    if op == "account_info":
        names.learn_account(r)
        return format_account_info(r)
    if op == "update_account":
        held = (r.get("held_ids") or {}) if r.get("held") else {}
        if params.get("name") and "name" not in held:
            names.learn_account({"account_id": aid, "name": params["name"]})
        applied = [f for f in ("name", "intro") if f in params and f not in held]
        return ([f"* updated {names.account(aid)}"] if applied else []) + _held_lines(
            params, held, "the account keeps its name", "the account keeps its introduction")
    if op == "set_editor":
        who = names(params.get("user_id"))
        return [f"* {who} {'is now' if params.get('on') else 'is no longer'} an editor of {acct}"]
    if op == "subscribe":
        return [f"* following {acct}: its new posts show here while you are connected"]
    if op == "unsubscribe":
        return [f"* no longer following {acct}"]
    if op == "publish":
        pid = clean(r.get("post_id"))
        if r.get("held"):
            return [f"* post {pid} is held for review: only the account's owner and editors see it for now"]
        return [f"* published post {pid} in {acct} ({MODE_NOTES.get(str(r.get('comments')), 'comments ?')})"]
    if op == "posts":
        posts = r.get("posts") or []
        lines = [f"* posts of {acct}: {len(posts)}"] + [format_post_row(p) for p in posts]
        limit = params.get("limit", POSTS_PAGE)
        if posts and len(posts) >= limit:
            lines.append(f"* older: /posts {clean(aid)} {limit} before {clean(posts[-1].get('post_id'))}")
        return lines
    if op == "read_post":
        return format_post(r, names, base)
    if op == "delete_post":
        return [f"* deleted post {clean(params.get('post_id'))}"]
    if op == "set_post_comments":
        return [f"* post {clean(params.get('post_id'))}: comments {comments_said(r)}"]
    if op == "comment":
        cid, pid = clean(r.get("comment_id")), clean(params.get("post_id"))
        line = f"* comment {cid} on post {pid}"
        if r.get("held"):
            line += " is held: others see it once it is approved"
        return [line]
    if op == "comments":
        return format_comments(params.get("post_id"), r.get("comments") or [], names,
                               params.get("limit", COMMENTS_PAGE))
    if op == "moderate_comment":
        done = {"approve": "approved: everyone sees it", "hide": "hidden from public view",
                "delete": "deleted for good"}
        return [f"* comment {clean(params.get('comment_id'))} {done.get(str(params.get('action')), 'done')}"]
    if op == "close_account":
        return [f"* closed {acct}: it publishes nothing more"]
    return None


def accounts_lines(mine: list[dict[str, Any]], following: list[dict[str, Any]], names: Names) -> list[str]:
    """/accounts: the accounts one runs, then those one follows."""
    for a in (*mine, *following):
        names.learn_account(a)
    lines = [f"* accounts you run: {len(mine)}"] + [format_account_row(a) for a in mine]
    lines += [f"* accounts you follow: {len(following)}"] + [format_account_row(a) for a in following]
    return lines


def close_question(aid: Any, names: Names) -> str:
    """What /closeaccount asks before it sends anything."""
    return (f"* close public account {names.account(aid)} for good? It publishes nothing more and cannot be "
            "opened again; its name stays taken. Type yes to close it, anything else keeps it.")
