"""Slash commands for public accounts (公众账号): parsing only, registered in the command table of
:mod:`client_demo.commands` (which imports this module where the section belongs in ``/help``).

Ids are checked for their form only (digits); whether they name anything is the server's to say.
Long texts (an account's intro, a post's body) follow a ``--`` word, and ``\\n`` in them starts a
new line: the client reads one line at a time.
"""

from __future__ import annotations

from typing import Any

from client_demo.commands import Command, _arity, _command, _digits_only, _int, _req, _usage, text_of
from protocol.enums import CommentAction, CommentsMode, SubjectType

SECTION = "Public accounts"
SUBJECTS = {"individual": SubjectType.INDIVIDUAL.value, "person": SubjectType.INDIVIDUAL.value,
            "organization": SubjectType.ORGANIZATION.value, "organisation": SubjectType.ORGANIZATION.value}
COMMENT_MODES = tuple(m.value for m in CommentsMode)
COMMENT_ACTIONS = tuple(a.value for a in CommentAction)
EDITABLE = ("name", "intro")
NEWLINE = "\\n"  # typed as backslash-n


def _digits(name: str, s: str, what: str) -> str:
    if not _digits_only(s):
        raise _usage(name, f"{s!r} is not {what} (digits)")
    return s


def _aid(name: str, s: str) -> str:
    return _digits(name, s, "an account id")


def _split_dashes(a: list[str]) -> tuple[list[str], list[str] | None]:
    """(the words before ``--``, the words after it; ``None`` when there is no ``--``)."""
    if "--" not in a:
        return a, None
    i = a.index("--")
    return a[:i], a[i + 1:]


def long_text(words: list[str]) -> str:
    """The words of an intro or a post body, with ``\\n`` turned into line breaks."""
    return "\n".join(part.strip(" ") for part in text_of(words).split(NEWLINE))


def _page(name: str, rest: list[str], key: str) -> dict[str, Any]:
    """``[N] [before ID]`` -> ``limit`` and ``before`` (an id: digits)."""
    params: dict[str, Any] = {}
    rest = list(rest)
    if rest and _digits_only(rest[0]):
        params["limit"] = _int(name, rest.pop(0), "N", 1)
    if rest:
        if len(rest) != 2 or rest[0].lower() != "before":
            raise _usage(name)
        params["before"] = _digits(name, rest[1], key)
    return params


@_command("/accounts", "the public accounts you run and the ones you follow", SECTION)
def _accounts(a: list[str]) -> Command:
    _arity("accounts", a, 0, 0)
    return Command("accounts", a, action="accounts")


@_command("/account AID", "a public account: name, category, who runs it, subscribers, status", SECTION)
def _account(a: list[str]) -> Command:
    _arity("account", a, 1, 1)
    return _req("account", a, "account_info", {"account_id": _aid("account", a[0])})


@_command("/newaccount NAME CATEGORY individual|organization [ORG_NAME ORG_CODE] [-- INTRO]",
          "open a public account (ID-verified users); you own it", SECTION)
def _newaccount(a: list[str]) -> Command:
    """NAME may have spaces: it ends before CATEGORY, the word before the first subject word."""
    words, intro = _split_dashes(a)
    at = next((i for i in range(2, len(words)) if words[i].lower() in SUBJECTS), None)
    if at is None:
        raise _usage("newaccount")
    subject = SUBJECTS[words[at].lower()]
    params: dict[str, Any] = {"name": text_of(words[:at - 1]), "category": words[at - 1],
                              "subject_type": subject, "intro": long_text(intro or [])}
    rest = words[at + 1:]
    if subject == SubjectType.ORGANIZATION.value:
        if len(rest) < 2:
            raise _usage("newaccount", "an organization needs ORG_NAME and ORG_CODE")
        params["org_name"], params["org_code"] = text_of(rest[:-1]), rest[-1]
    elif rest:
        raise _usage("newaccount", "ORG_NAME and ORG_CODE are for organizations only (INTRO goes after --)")
    return _req("newaccount", a, "create_account", params)


@_command("/editaccount AID name|intro TEXT", "rename your account or change its intro (owner)", SECTION)
def _editaccount(a: list[str]) -> Command:
    if len(a) < 2 or a[1].lower() not in EDITABLE:
        raise _usage("editaccount")
    field, text = a[1].lower(), a[2:]
    if field == "name" and not text:
        raise _usage("editaccount", "the new name is missing")
    value = long_text(text) if field == "intro" else text_of(text)
    return _req("editaccount", a, "update_account", {"account_id": _aid("editaccount", a[0]), field: value})


@_command("/follow AID", "subscribe: the account's new posts arrive as you read", SECTION)
def _follow(a: list[str]) -> Command:
    _arity("follow", a, 1, 1)
    return _req("follow", a, "subscribe", {"account_id": _aid("follow", a[0])})


@_command("/unfollow AID", "unsubscribe", SECTION)
def _unfollow(a: list[str]) -> Command:
    _arity("unfollow", a, 1, 1)
    return _req("unfollow", a, "unsubscribe", {"account_id": _aid("unfollow", a[0])})


@_command("/posts AID [N] [before POST_ID]", "an account's latest N posts, or N older than POST_ID", SECTION)
def _posts(a: list[str]) -> Command:
    if not a:
        raise _usage("posts")
    params = {"account_id": _aid("posts", a[0]), **_page("posts", a[1:], "a post id")}
    return _req("posts", a, "posts", params)


@_command("/post POST_ID", "read a post, with its comments", SECTION)
def _post(a: list[str]) -> Command:
    _arity("post", a, 1, 1)
    return Command("post", a, action="post", params={"post_id": _digits("post", a[0], "a post id")})


@_command("/publish AID open|review|closed TITLE -- BODY",
          "post to the followers (owner, editors); comments open, review (each approved) or closed",
          SECTION)
def _publish(a: list[str]) -> Command:
    head, body = _split_dashes(a)
    if len(head) < 3 or not body:
        raise _usage("publish", "" if body is not None or len(head) < 3 else "the BODY goes after --")
    mode = head[1].lower()
    if mode not in COMMENT_MODES:
        raise _usage("publish", f"comments must be one of {', '.join(COMMENT_MODES)}, not {head[1]!r}")
    return _req("publish", a, "publish", {"account_id": _aid("publish", head[0]), "comments": mode,
                                          "title": text_of(head[2:]), "body": long_text(body)})


@_command("/delpost POST_ID", "take a post down (owner, editors)", SECTION)
def _delpost(a: list[str]) -> Command:
    _arity("delpost", a, 1, 1)
    return _req("delpost", a, "delete_post", {"post_id": _digits("delpost", a[0], "a post id")})


@_command("/postcomments POST_ID open|review|closed",
          "change a published post's comments: open, held for approval, or closed (owner, editors)", SECTION)
def _postcomments(a: list[str]) -> Command:
    _arity("postcomments", a, 2, 2)
    mode = a[1].lower()
    if mode not in COMMENT_MODES:
        raise _usage("postcomments", f"comments must be one of {', '.join(COMMENT_MODES)}, not {a[1]!r}")
    return _req("postcomments", a, "set_post_comments",
                {"post_id": _digits("postcomments", a[0], "a post id"), "comments": mode})


@_command("/comment POST_ID TEXT", "comment on a post", SECTION)
def _comment(a: list[str]) -> Command:
    _arity("comment", a, 2)
    return _req("comment", a, "comment", {"post_id": _digits("comment", a[0], "a post id"), "text": text_of(a[1:])})


@_command("/recomment POST_ID COMMENT_ID TEXT", "answer a comment on that post", SECTION)
def _recomment(a: list[str]) -> Command:
    _arity("recomment", a, 3)
    return _req("recomment", a, "comment", {"post_id": _digits("recomment", a[0], "a post id"),
                                            "reply_to": _digits("recomment", a[1], "a comment id"),
                                            "text": text_of(a[2:])})


@_command("/comments POST_ID [N] [before COMMENT_ID]", "a post's comments, newest first", SECTION)
def _comments(a: list[str]) -> Command:
    if not a:
        raise _usage("comments")
    params = {"post_id": _digits("comments", a[0], "a post id"), **_page("comments", a[1:], "a comment id")}
    return _req("comments", a, "comments", params)


@_command("/modcomment POST_ID COMMENT_ID approve|hide|delete",
          "show a held or hidden comment, hide one, or delete it for good (owner, editors)", SECTION)
def _modcomment(a: list[str]) -> Command:
    if len(a) != 3 or a[2].lower() not in COMMENT_ACTIONS:
        raise _usage("modcomment")
    return _req("modcomment", a, "moderate_comment", {"post_id": _digits("modcomment", a[0], "a post id"),
                                                      "comment_id": _digits("modcomment", a[1], "a comment id"),
                                                      "action": a[2].lower()})


@_command("/editor AID USER_ID on|off", "make a user an editor of your account, or no longer (owner)", SECTION)
def _editor(a: list[str]) -> Command:
    if len(a) != 3 or a[2].lower() not in ("on", "off"):
        raise _usage("editor")
    return _req("editor", a, "set_editor", {"account_id": _aid("editor", a[0]), "user_id": a[1],
                                            "on": a[2].lower() == "on"})


@_command("/closeaccount AID", "close your account for good (owner); asks first", SECTION)
def _closeaccount(a: list[str]) -> Command:
    _arity("closeaccount", a, 1, 1)
    return _req("closeaccount", a, "close_account", {"account_id": _aid("closeaccount", a[0])}, confirm=True)
