"""The op table of the contract, the reply shapes, and the dict-based request parser.

Each op lists its arguments with a kind and whether it is required. Arguments a
client sends that the op does not know are ignored (forward compatibility).

The server decodes frames with :func:`decode_request` (from
:mod:`protocol.messages`, re-exported here): one pass from the frame's bytes to
the op's typed struct. :func:`parse_request` validates an already decoded map
against the same table, with the same refusals; the tests hold the two to each
other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from protocol.codec import INT64_MAX, INT64_MIN
from protocol.errors import ContractError, FrameError, shown
from protocol.messages import SHORT_STR_MAX, UNAUTHENTICATED_OPS, argument_field, decode_request

__all__ = [
    "OPS",
    "SHORT_STR_MAX",
    "UNAUTHENTICATED_OPS",
    "Arg",
    "ContractError",
    "FrameError",
    "Request",
    "decode_request",
    "error_reply",
    "ok_reply",
    "parse_request",
    "read_rid",
]

_GROUP_ID = re.compile(r"[0-9]{9,12}")

# Argument kinds. "gid" is a group id string; "text" is a long string whose
# length limit is configuration (checked by the server, not here).
STR, TEXT, INT, BOOL, NUM, GID = "str", "text", "int", "bool", "num", "gid"
AID = "aid"  # a public account id: the form of a group id, a space of its own
# v2: a list of short strings (at most LIST_MAX[name] of them) and raw bytes.
STRS, BYTES = "strs", "bytes"
ENTRY = "entry"  # an enforcement-record entry id: a string of digits, or that integer
_ENTRY_ID = re.compile(r"[0-9]{1,18}")
LIST_MAX = {"mentions": 100, "attachments": 9}


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: str
    required: bool = True


def _a(spec: str) -> Arg:
    """``"name:kind"`` is required, ``"name:kind?"`` optional."""
    name, kind = spec.split(":")
    return Arg(name, kind.rstrip("?"), not kind.endswith("?"))


def _op(*specs: str) -> tuple[Arg, ...]:
    return tuple(_a(s) for s in specs)


OPS: dict[str, tuple[Arg, ...]] = {
    # Accounts (Art. 6)
    "request_code": _op("phone:str"),
    "register": _op("username:str", "password:str", "phone:str", "code:str", "display_name:str?"),
    "login": _op("username:str", "password:str", "device:str?"),  # [ext] device: shown in my_logins
    "auth": _op("token:str"),
    "verify_identity": _op("legal_name:str", "id_number:str"),
    "set_profile": _op("display_name:str"),
    "me": _op(),
    "ping": _op(),  # [ext] whether the connection is alive, answered by the node connected to (cluster: the gateway)
    "delete_account": _op("password:str"),
    "logout": _op("everywhere:bool?", "login_id:str?"),  # v2: this connection's token; [ext] every one, or one
    "my_logins": _op(),  # [ext] the account's logins: device, since when, online now
    "change_password": _op("password:str", "new_password:str"),  # [ext] the others' logins end
    "reset_password": _op("phone:str", "code:str", "new_password:str"),  # [ext] before auth: a forgotten one
    "agreement": _op(),  # extension: current platform rules and service agreement (Art. 5)
    "accept_agreement": _op("version:str"),  # extension
    "platform_notices": _op("after:int?"),  # extension: the platform's notices made while away (Art. 5)
    # Groups
    "categories": _op(),  # extension: the group and public-account categories the server accepts
    "create_group": _op("name:str", "category:str", "join_policy:str"),
    "group_info": _op("group_id:gid"),
    "join_group": _op("group_id:gid?", "invite_code:str?"),  # v2: one of them
    "invite_info": _op("invite_code:str"),  # extension: what a link would join, before using it
    "leave_group": _op("group_id:gid"),
    "members": _op("group_id:gid"),
    "my_groups": _op(),
    "send": _op(
        "group_id:gid", "text:text", "client_msg_id:str?",
        "reply_to:int?", "mentions:strs?", "mention_all:bool?", "attachments:strs?",
    ),
    "history": _op("group_id:gid", "after_seq:int?", "before_seq:int?", "limit:int?"),
    "message_changes": _op("group_id:gid", "since:int?", "limit:int?"),  # extension: edits, recalls, reactions
    "report": _op(
        "target_type:str", "group_id:gid?", "seq:int?", "user_id:str?", "reason:text", "detail:text?",
        "account_id:aid?", "post_id:str?", "comment_id:str?",  # v2: public accounts, posts, comments
    ),
    "my_reports": _op("before:str?", "limit:int?"),  # extension: one's reports and their outcomes (Art. 12)
    # Management (Art. 8, 9)
    "invite": _op("group_id:gid", "user_id:str"),
    "join_requests": _op("group_id:gid"),
    "approve_join": _op("group_id:gid", "user_id:str"),
    "reject_join": _op("group_id:gid", "user_id:str"),
    "kick": _op("group_id:gid", "user_id:str"),
    "mute": _op("group_id:gid", "user_id:str", "seconds:int"),
    "mute_all": _op("group_id:gid", "on:bool"),
    "set_role": _op("group_id:gid", "user_id:str", "role:str"),
    "transfer_owner": _op("group_id:gid", "user_id:str"),
    "set_announcement": _op("group_id:gid", "text:text"),
    "update_group": _op("group_id:gid", "name:str?", "category:str?", "join_policy:str?"),
    "my_held_texts": _op("before:str?", "limit:int?"),  # extension: one's texts held for review (G10)
    "withdraw_held_text": _op("held_id:str"),  # extension: take one of them back
    "delete_message": _op("group_id:gid", "seq:int"),
    "delete_user_messages": _op("group_id:gid", "user_id:str"),  # [ext] a manager: one person's, many at once
    "dissolve_group": _op("group_id:gid"),
    # Measures that finish (Art. 11)
    "appeal": _op("sanction_id:str", "text:text"),  # extension: appeal a sanction
    "my_appeals": _op("before:str?", "limit:int?"),  # extension: one's appeals and their outcomes (Art. 11)
    "my_sanctions": _op(),  # extension: the measures standing against oneself and one's groups (Art. 11)
    # Messages, richer (v2)
    "edit_message": _op("group_id:gid", "seq:int", "text:text"),
    "react": _op("group_id:gid", "seq:int", "emoji:str", "on:bool"),
    "pin_message": _op("group_id:gid", "seq:int", "on:bool"),
    "ban": _op("group_id:gid", "user_id:str", "seconds:int?", "reason:text?"),
    "unban": _op("group_id:gid", "user_id:str"),
    "bans": _op("group_id:gid"),
    "set_slow_mode": _op("group_id:gid", "seconds:int"),
    "create_invite_link": _op("group_id:gid", "max_uses:int?", "expires_in_seconds:int?", "note:text?"),
    "revoke_invite_link": _op("group_id:gid", "code:str?", "link_id:str?"),  # one of them (link_id: extension)
    "invite_links": _op("group_id:gid"),  # extension: the group's usable links, with their uses
    "mark_read": _op("group_id:gid", "seq:int"),
    "search": _op("group_id:gid", "query:str", "limit:int?", "before_seq:int?"),
    "group_log": _op("group_id:gid", "before_id:entry?", "limit:int?"),
    # Media (v2)
    "upload_begin": _op("mime:str", "size:int", "name:text?", "sha256:str?"),  # sha256: extension
    "upload_chunk": _op("upload_id:str", "offset:int", "data:bytes"),
    "upload_end": _op("upload_id:str", "sha256:str"),
    "delete_upload": _op("media_id:str"),  # extension: one's own upload nothing carries
    "media_url": _op("group_id:gid", "seq:int", "media_id:str"),
    # Public accounts (v2, P4-P13)
    "create_account": _op("name:str", "category:str", "intro:text", "subject_type:str", "org_name:str?",
                          "org_code:str?"),
    "account_info": _op("account_id:aid"),
    "update_account": _op("account_id:aid", "name:str?", "intro:text?"),
    "set_editor": _op("account_id:aid", "user_id:str", "on:bool"),
    "subscribe": _op("account_id:aid"),
    "unsubscribe": _op("account_id:aid"),
    "my_subscriptions": _op(),
    "my_accounts": _op(),
    "publish": _op("account_id:aid", "title:str", "body:text", "attachments:strs?", "comments:str?"),
    "posts": _op("account_id:aid", "before:str?", "limit:int?"),
    "read_post": _op("post_id:str"),
    "delete_post": _op("post_id:str"),
    "set_post_comments": _op("post_id:str", "comments:str"),  # extension
    "comment": _op("post_id:str", "text:text", "reply_to:str?"),
    "comments": _op("post_id:str", "before:str?", "limit:int?"),
    "moderate_comment": _op("post_id:str", "comment_id:str", "action:str"),
    "close_account": _op("account_id:aid"),
}

@dataclass(slots=True)
class Request:
    op: str
    rid: int
    args: dict[str, Any]


def read_rid(frame: dict[str, Any]) -> int | None:
    """The frame's ``rid`` if it is a valid 64-bit integer, else ``None``."""
    rid = frame.get("rid")
    if type(rid) is int and INT64_MIN <= rid <= INT64_MAX:
        return rid
    return None


def parse_request(frame: dict[str, Any]) -> Request:
    """Validate a decoded frame against the op table.

    Raises ``ContractError`` (``bad_request`` or ``unknown_op``); the caller
    answers with ``re`` = :func:`read_rid` of the frame.
    """
    rid = read_rid(frame)
    if rid is None:
        raise ContractError("bad_request", "a request needs an integer 'rid'")
    op = frame.get("op")
    if type(op) is not str:
        raise ContractError("bad_request", "a request needs a string 'op'")
    spec = OPS.get(op)
    if spec is None:
        raise ContractError("unknown_op", f"unknown op '{shown(op)}'")
    args: dict[str, Any] = {}
    for arg in spec:
        value = frame.get(arg.name)
        if value is None:
            if arg.required:
                raise _refused(op, arg, f"{op}: missing argument '{arg.name}'")
            continue
        args[arg.name] = _check(op, arg, value)
    return Request(op, rid, args)


def _check(op: str, arg: Arg, value: Any) -> Any:
    kind = arg.kind
    if kind in (STR, TEXT):
        if type(value) is not str:
            raise _type_error(op, arg, "a string")
        if kind == STR and len(value) > SHORT_STR_MAX:
            raise _refused(op, arg, f"{op}: '{arg.name}' is longer than {SHORT_STR_MAX}")
        return value
    if kind == INT:
        if type(value) is not int or not (INT64_MIN <= value <= INT64_MAX):
            raise _type_error(op, arg, "a 64-bit integer")
        return value
    if kind == BOOL:
        if type(value) is not bool:
            raise _type_error(op, arg, "a boolean")
        return value
    if kind == NUM:
        if type(value) not in (int, float):
            raise _type_error(op, arg, "a number")
        return value
    if kind == GID:
        if type(value) is not str or not _GROUP_ID.fullmatch(value):
            raise _type_error(op, arg, "a group id (9 to 12 digits)")
        return value
    if kind == AID:
        if type(value) is not str or not _GROUP_ID.fullmatch(value):
            raise _type_error(op, arg, "an account id (9 to 12 digits)")
        return value
    if kind == STRS:
        limit = LIST_MAX[arg.name]
        if type(value) is not list or len(value) > limit or any(type(v) is not str for v in value):
            raise _type_error(op, arg, f"a list of at most {limit} strings")
        if any(len(v) > SHORT_STR_MAX for v in value):
            raise _type_error(op, arg, f"a list of at most {limit} strings")
        return value
    if kind == ENTRY:
        if type(value) is str and _ENTRY_ID.fullmatch(value):
            return value
        if type(value) is int and INT64_MIN <= value <= INT64_MAX:
            return value
        raise _type_error(op, arg, "an entry id (a string of digits)")
    if kind == BYTES:
        if type(value) is not bytes:
            raise _type_error(op, arg, "bytes (base64 text in JSON)")
        return value
    raise AssertionError(f"unknown argument kind {kind}")  # pragma: no cover


def _type_error(op: str, arg: Arg, what: str) -> ContractError:
    return _refused(op, arg, f"{op}: '{arg.name}' must be {what}")


def _refused(op: str, arg: Arg, reason: str) -> ContractError:
    """``bad_request`` for ``arg``, with **[ext]** ``field`` where the contract promises it."""
    field = argument_field(op, arg.name)
    return ContractError("bad_request", reason) if field is None else ContractError("bad_request", reason, field=field)


def ok_reply(rid: int, results: dict[str, Any] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"re": rid, "ok": True}
    if results:
        reply.update(results)
    return reply


def error_reply(rid: int | None, err: ContractError) -> dict[str, Any]:
    reply: dict[str, Any] = {"re": rid, "ok": False, "code": err.code, "reason": err.reason}
    if err.extra:
        reply.update(err.extra)
    return reply
