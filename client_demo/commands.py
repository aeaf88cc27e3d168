"""Slash commands of the terminal client: pure parsing and validation, no I/O.

:func:`parse_command` turns one input line into a :class:`Command`: either a
request to send (``op`` and ``params``) or a local action (``action``). What needs
the client's state is described, not done, so it stays testable without a server:

* ``group`` says whether the current group's id goes into ``params["group_id"]``
  (``"current"``: required, ``"optional"``: added when there is one);
  :func:`bind` does it and checks ``/dissolve GID`` against the current group.
* ``user_param`` names the parameter holding a user reference; a value starting
  with ``@`` is a display name the client resolves (via ``user_source``: the
  ``members`` or ``join_requests`` of the current group).

Plain text (a line not starting with ``/``) sends to the current group; ``//text``
sends ``/text``.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JOIN_POLICIES = ("open", "approval", "invite")
REPORT_TARGETS = ("message", "user", "group", "account", "post", "comment")
REPORT_IDS = {"account": "account_id", "post": "post_id", "comment": "comment_id"}  # public accounts
MAX_DURATION_SECONDS = 2**31 - 1  # ~68 years; longer is surely a typo
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+)([smhd])")
MIN_INVITE_CODE = 16  # invite codes are URL-safe and at least this long; group ids are shorter digits
INVITE_CODE = re.compile(rf"[A-Za-z0-9_-]{{{MIN_INVITE_CODE},256}}")
LINK_ID = re.compile(r"[0-9a-f]{10}")  # an invite link's link_id (invite_links, revoke_invite_link)


class CommandError(ValueError):
    """A line that cannot be sent: ``code`` is shown like a server error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Command:
    name: str                                 # the slash command without "/", "say" for plain text
    args: list[str] = field(default_factory=list)   # the words after the command
    op: str | None = None                     # the request to send; None for a local action
    params: dict[str, Any] = field(default_factory=dict)
    action: str | None = None                 # local action: help, quit, use, retry, ...
    group: str = "none"                       # none | current | optional (see module doc)
    user_param: str | None = None             # params key holding a user id or "@display name"
    user_source: str = "members"              # op listing the users an @name is looked up in
    confirm_group: str | None = None          # /dissolve GID: must equal the current group
    confirm: bool = False                     # the client asks "yes?" before sending it
    user_rest: tuple[str, ...] = ()           # where the words after an @name go (see split_user)


# -- durations -------------------------------------------------------------------

def parse_duration(text: str) -> int:
    """``"30s"``, ``"10m"``, ``"2h"``, ``"1d"``, ``"1h30m"``, plain seconds, ``"0"``/``"off"`` -> seconds."""
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration: use e.g. 30s, 10m, 2h, 1d, or 0/off to unmute")
    if s in ("off", "0"):
        return 0
    if _digits_only(s):
        seconds = int(s)
    else:
        pos, seconds, seen = 0, 0, set()
        for m in _DURATION_PART.finditer(s):
            if m.start() != pos or m.group(2) in seen:
                break
            seen.add(m.group(2))
            seconds += int(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(s) or not seen:
            raise ValueError(
                f"bad duration {text.strip()!r}: use e.g. 30s, 10m, 2h, 1d, 1h30m, or 0/off to unmute"
            )
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {text.strip()!r} is too long")
    return seconds


def format_duration(seconds: int) -> str:
    """The inverse of :func:`parse_duration` for display: 5400 -> ``"1h30m"``."""
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


# -- the command table -------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    usage: str
    help: str
    parse: Callable[[list[str]], Command]
    section: str


COMMANDS: dict[str, Spec] = {}
ALIASES = {"exit": "quit", "q": "quit", "h": "help", "?": "help"}


Parser = Callable[[list[str]], "Command"]


def _command(usage: str, help: str, section: str) -> Callable[[Parser], Parser]:
    name = usage.split()[0].lstrip("/")

    def register(fn: Callable[[list[str]], Command]) -> Callable[[list[str]], Command]:
        COMMANDS[name] = Spec(usage, help, fn, section)
        return fn

    return register


def _usage(name: str, why: str = "") -> CommandError:
    spec = COMMANDS[name]
    return CommandError("usage", (f"{why}; " if why else "") + f"{spec.usage} - {spec.help}")


class Words(list[str]):
    """A command line's words after the command's name, each remembering where it stood in the line:
    :func:`text_of` gives a run of them as typed (a full-width space or several spaces inside
    kept), not re-joined with one space. Slices are ``Words`` too."""

    def __init__(self, words: list[str], line: str = "", spans: list[tuple[int, int]] | None = None) -> None:
        super().__init__(words)
        self.line = line
        self.spans = spans if spans is not None else []

    @classmethod
    def of(cls, line: str) -> Words:
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", line)]
        return cls([line[a:b] for a, b in spans], line, spans)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return Words(list.__getitem__(self, i), self.line, self.spans[i] if self.spans else None)
        return list.__getitem__(self, i)


def text_of(words: list[str]) -> str:
    """The words as typed, from the first to the last (a plain list: joined with single spaces)."""
    if isinstance(words, Words) and words.spans and len(words.spans) == len(words):
        return words.line[words.spans[0][0]:words.spans[-1][1]]
    return " ".join(words)


def _digits_only(s: str) -> bool:
    """ASCII digits (an input method's full-width ``１２３`` or ``²`` are not an id nor a number here)."""
    return s.isascii() and s.isdigit()


def _arity(name: str, args: list[str], lo: int, hi: int | None = None) -> None:
    if len(args) < lo or (hi is not None and len(args) > hi):
        raise _usage(name)


def _gid(name: str, s: str) -> str:
    if not _digits_only(s):
        raise _usage(name, f"{s!r} is not a group id (digits)")
    return s


def _join_target(name: str, s: str) -> dict[str, str]:
    """``/join`` takes a group id (digits) or an invite link's code (URL-safe, 16 or more characters)."""
    if _digits_only(s) and len(s) < MIN_INVITE_CODE:
        return {"group_id": s}
    if INVITE_CODE.fullmatch(s):
        return {"invite_code": s}
    raise _usage(name, f"{s!r} is neither a group id (digits) nor an invite code")


MAX_NUMBER = 2**53 - 1  # the largest whole number a command sends (any id or count the server has is below)


def _int(name: str, s: str, what: str, lo: int = 0) -> int:
    if _digits_only(s) and (len(s) > 16 or int(s) > MAX_NUMBER):
        raise _usage(name, f"{what} {s[:20]}{'...' * (len(s) > 20)} is too large")
    if not _digits_only(s) or int(s) < lo:
        raise _usage(name, f"{what} must be a whole number{f' >= {lo}' if lo else ''}, not {s!r}")
    return int(s)


def _user(name: str, args: list[str]) -> str:
    """A user reference: one user id, or ``@display name`` (may contain spaces)."""
    if not args:
        raise _usage(name)
    if args[0].startswith("@"):
        ref = text_of(args)
        if len(ref) < 2:
            raise _usage(name, "'@' needs a display name")
        return ref
    if len(args) != 1:
        raise _usage(name, "a user id is one word (use @display name for names)")
    return args[0]


def _policy(name: str, s: str) -> str:
    s = s.lower()
    if s not in JOIN_POLICIES:
        raise _usage(name, f"join policy must be one of {', '.join(JOIN_POLICIES)}, not {s!r}")
    return s


def _req(name: str, args: list[str], op: str, params: dict[str, Any] | None = None, **kw: Any) -> Command:
    return Command(name, args, op=op, params=params or {}, **kw)


# Accounts ------------------------------------------------------------------------

@_command("/code PHONE", "send an SMS verification code to PHONE", "Account")
def _code(a: list[str]) -> Command:
    _arity("code", a, 1, 1)
    return _req("code", a, "request_code", {"phone": a[0]})


@_command("/register USERNAME PASSWORD PHONE CODE [DISPLAY NAME...]",
          "create an account (CODE from /code)", "Account")
def _register(a: list[str]) -> Command:
    _arity("register", a, 4)
    params = {"username": a[0], "password": a[1], "phone": a[2], "code": a[3]}
    if len(a) > 4:
        params["display_name"] = text_of(a[4:])
    return _req("register", a, "register", params)


@_command("/login USERNAME PASSWORD", "log in; saves the token for /auth (printing where, never the token)", "Account")
def _login(a: list[str]) -> Command:
    _arity("login", a, 2, 2)
    return _req("login", a, "login", {"username": a[0], "password": a[1], "device": DEVICE})


# What this client calls its logins in the account's list (/logins): the program and the system it runs on.
DEVICE = f"qunguan-chat · {platform.system() or 'terminal'}"[:64]


@_command("/logout [all|LOGIN]",
          "log out: the token is revoked and the saved one removed; all: on every device; LOGIN: that one of /logins",
          "Account")
def _logout(a: list[str]) -> Command:
    _arity("logout", a, 0, 1)
    if not a:
        return _req("logout", a, "logout", {})
    if a[0] == "all":
        return _req("logout", a, "logout", {"everywhere": True})
    if not re.fullmatch(r"[0-9a-f]{16}", a[0]):
        raise _usage("logout", "it takes all, or the LOGIN id /logins shows (16 hex digits)")
    return _req("logout", a, "logout", {"login_id": a[0]})


def _no_args(name: str, op: str, **kw: Any) -> Callable[[list[str]], Command]:
    """A command that takes no argument and sends ``op`` (``kw``: ``group="current"`` for the current group's)."""
    def build(a: list[str]) -> Command:
        _arity(name, a, 0, 0)
        return _req(name, a, op, **kw)
    return build


_command("/logins", "the devices this account is logged in on, with the LOGIN ids /logout takes", "Account")(
    _no_args("logins", "my_logins"))


@_command("/password CURRENT NEW", "change your password; every other login of the account ends", "Account")
def _password(a: list[str]) -> Command:
    _arity("password", a, 2, 2)
    return _req("password", a, "change_password", {"password": a[0], "new_password": a[1]})


@_command("/deleteaccount PASSWORD", "cancel your account for good (P9); asks first", "Account")
def _deleteaccount(a: list[str]) -> Command:
    _arity("deleteaccount", a, 1, 1)
    return _req("deleteaccount", a, "delete_account", {"password": a[0]}, confirm=True)


@_command("/auth [TOKEN]", "log in with a token (the saved one when omitted)", "Account")
def _auth(a: list[str]) -> Command:
    _arity("auth", a, 0, 1)
    return _req("auth", a, "auth", {"token": a[0]} if a else {})


@_command("/verify LEGAL_NAME ID_NUMBER", "verify your real identity (never shown to others)", "Account")
def _verify(a: list[str]) -> Command:
    _arity("verify", a, 2)
    return _req("verify", a, "verify_identity", {"legal_name": text_of(a[:-1]), "id_number": a[-1]})


@_command("/nick DISPLAY NAME", "set your display name", "Account")
def _nick(a: list[str]) -> Command:
    _arity("nick", a, 1)
    return _req("nick", a, "set_profile", {"display_name": text_of(a)})


_command("/me", "show your account", "Account")(_no_args("me", "me"))


_command("/agreement", "read the platform's rules and service agreement, and whether you accepted them",
         "Account")(_no_args("agreement", "agreement"))


_command("/notices", "the platform's notices of the last 30 days that were sent to you, also while you were "
         "not connected", "Account")(_no_args("notices", "platform_notices"))


@_command("/accept [VERSION]",
          "accept the rules and agreement (default: the version /agreement showed); needed before sending",
          "Account")
def _accept(a: list[str]) -> Command:
    """Without VERSION the client fills in the version ``/agreement`` last showed (see the TUI): what
    is accepted is always a version the user could read."""
    _arity("accept", a, 0, 1)
    return _req("accept", a, "accept_agreement", {"version": a[0]} if a else {})


# Groups --------------------------------------------------------------------------

@_command("/create NAME CATEGORY [open|approval|invite]",
          "create a group (default open), make it current", "Groups")
def _create(a: list[str]) -> Command:
    policy = "open"
    if a and a[-1].lower() in JOIN_POLICIES:
        policy, a_ = a[-1].lower(), a[:-1]
    else:
        a_ = a
    if len(a_) < 2:
        raise _usage("create")
    return _req("create", a, "create_group",
                {"name": text_of(a_[:-1]), "category": a_[-1], "join_policy": policy})


@_command("/join GID|CODE", "join (or ask to) by group id or invite code; make it current", "Groups")
def _join(a: list[str]) -> Command:
    _arity("join", a, 1, 1)
    return _req("join", a, "join_group", _join_target("join", a[0]))


@_command("/joinlink CODE", "join with an invite link's code (same as /join CODE)", "Groups")
def _joinlink(a: list[str]) -> Command:
    _arity("joinlink", a, 1, 1)
    if not INVITE_CODE.fullmatch(a[0]):
        raise _usage("joinlink", f"{a[0]!r} is not an invite code")
    return _req("joinlink", a, "join_group", {"invite_code": a[0]})


@_command("/leave [GID]", "leave a group (default: the current one)", "Groups")
def _leave(a: list[str]) -> Command:
    _arity("leave", a, 0, 1)
    if a:
        return _req("leave", a, "leave_group", {"group_id": _gid("leave", a[0])})
    return _req("leave", a, "leave_group", group="current")


_command("/groups", "list your groups", "Groups")(_no_args("groups", "my_groups"))
_command("/categories", "the group and public-account categories the server accepts", "Groups")(
    _no_args("categories", "categories"))


@_command("/use GID", "set the current group", "Groups")
def _use(a: list[str]) -> Command:
    _arity("use", a, 1, 1)
    return Command("use", a, action="use", params={"group_id": _gid("use", a[0])})


@_command("/info [GID]", "show a group (default: the current one)", "Groups")
def _info(a: list[str]) -> Command:
    _arity("info", a, 0, 1)
    if a:
        return _req("info", a, "group_info", {"group_id": _gid("info", a[0])})
    return _req("info", a, "group_info", group="current")


@_command("/members [GID]", "list a group's members (default: the current one)", "Groups")
def _members(a: list[str]) -> Command:
    _arity("members", a, 0, 1)
    if a:
        return _req("members", a, "members", {"group_id": _gid("members", a[0])})
    return _req("members", a, "members", group="current")


@_command("/history [N] [before SEQ] [after SEQ]",
          "latest N messages, or N older than SEQ: /history 20 before 105",
          "Groups")
def _history(a: list[str]) -> Command:
    params: dict[str, Any] = {}
    rest = list(a)
    if rest and _digits_only(rest[0]):
        params["limit"] = _int("history", rest.pop(0), "N", 1)
    while rest:
        word = rest.pop(0).lower()
        key = {"before": "before_seq", "after": "after_seq"}.get(word)
        if key is None or key in params or not rest:
            raise _usage("history")
        params[key] = _int("history", rest.pop(0), "SEQ")
    return _req("history", a, "history", params, group="current")


@_command("/report WHAT REASON [DETAIL...]",
          "report to the platform; WHAT: message SEQ, user USER, group (the current ones), "
          "account AID, post POST_ID, comment COMMENT_ID", "Groups")
def _report(a: list[str]) -> Command:
    if not a or a[0].lower() not in REPORT_TARGETS:
        raise _usage("report")
    target, rest = a[0].lower(), a[1:]
    params: dict[str, Any] = {"target_type": target}
    kw: dict[str, Any] = {"group": "current"}
    if target in REPORT_IDS:
        if len(rest) < 2:
            raise _usage("report")
        if not _digits_only(rest[0]):
            raise _usage("report", f"{rest[0]!r} is not a{'n' * (target == 'account')} {target} id (digits)")
        params[REPORT_IDS[target]] = rest[0]
        kw = {}
        rest = rest[1:]
    elif target == "message":
        if len(rest) < 2:
            raise _usage("report")
        params["seq"] = _int("report", rest[0], "SEQ")
        rest = rest[1:]
    elif target == "user":
        if len(rest) < 2:
            raise _usage("report")
        kw = {"group": "optional", "user_param": "user_id"}
        if rest[0].startswith("@"):
            # "@display name" may have spaces: where it ends is found among the members' names
            # (the longest that fits), and the words after it are REASON [DETAIL...]
            params["user_id"] = _user("report", rest)
            return _req("report", a, "report", params, user_rest=("reason", "detail"), **kw)
        params["user_id"] = rest[0]
        rest = rest[1:]
    if not rest:
        raise _usage("report")
    params["reason"] = rest[0]
    if len(rest) > 1:
        params["detail"] = text_of(rest[1:])
    return _req("report", a, "report", params, **kw)


def _mine(name: str, a: list[str], op: str) -> Command:
    """``/reports``, ``/appeals`` and ``/held``: ``[N] [before ID]``."""
    params: dict[str, Any] = {}
    rest = list(a)
    if rest and _digits_only(rest[0]):
        params["limit"] = _int(name, rest.pop(0), "N", 1)
    if rest:
        if len(rest) != 2 or rest[0].lower() != "before":
            raise _usage(name)
        params["before"] = str(_int(name, rest[1], "ID", 1))
    return _req(name, a, op, params)


@_command("/reports [N] [before ID]",
          "your reports and how the platform handled each (outcome, its note), newest first", "Groups")
def _reports(a: list[str]) -> Command:
    return _mine("reports", a, "my_reports")


@_command("/appeal SANCTION_ID REASON...",
          "contest a sanction against you or a group you own (the id comes with its notice)", "Groups")
def _appeal(a: list[str]) -> Command:
    _arity("appeal", a, 2)
    if not _digits_only(a[0]):
        raise _usage("appeal", f"{a[0]!r} is not a sanction id (digits)")
    return _req("appeal", a, "appeal", {"sanction_id": a[0], "text": text_of(a[1:])})


@_command("/appeals [N] [before ID]",
          "your appeals against sanctions and how each was decided, newest first", "Groups")
def _appeals(a: list[str]) -> Command:
    return _mine("appeals", a, "my_appeals")


@_command("/sanctions", "the platform's measures standing against you and the groups you own, with the id "
          "/appeal takes", "Groups")
def _sanctions(a: list[str]) -> Command:
    _arity("sanctions", a, 0, 0)
    return _req("sanctions", a, "my_sanctions", {})


@_command("/held [N] [before ID]",
          "your group names, announcements and display names waiting for the platform's review (only you "
          "see them)", "Groups")
def _held(a: list[str]) -> Command:
    return _mine("held", a, "my_held_texts")


@_command("/withdraw HELD_ID", "take back one of your texts waiting for review (the id from /held)", "Groups")
def _withdraw(a: list[str]) -> Command:
    _arity("withdraw", a, 1, 1)
    if not _digits_only(a[0]):
        raise _usage("withdraw", f"{a[0]!r} is not a held id (digits)")
    return _req("withdraw", a, "withdraw_held_text", {"held_id": a[0]})


# Messages (current group) ------------------------------------------------------------

@_command("/reply SEQ TEXT", "answer message #SEQ (@name mentions a member, @all everyone)", "Messages")
def _reply(a: list[str]) -> Command:
    _arity("reply", a, 2)
    seq = _int("reply", a[0], "SEQ")
    return _req("reply", a, "send", {"text": text_of(a[1:]), "reply_to": seq}, group="current")


@_command("/edit SEQ TEXT", "change the text of your message #SEQ", "Messages")
def _edit(a: list[str]) -> Command:
    _arity("edit", a, 2)
    return _req("edit", a, "edit_message", {"seq": _int("edit", a[0], "SEQ"), "text": text_of(a[1:])},
                group="current")


def _reaction(name: str, on: bool) -> Callable[[list[str]], Command]:
    def parse(a: list[str]) -> Command:
        _arity(name, a, 2, 2)
        return _req(name, a, "react", {"seq": _int(name, a[0], "SEQ"), "emoji": a[1], "on": on},
                    group="current")
    return parse


_command("/react SEQ EMOJI", "react to message #SEQ, e.g. /react 42 👍", "Messages")(_reaction("react", True))
_command("/unreact SEQ EMOJI", "take your reaction back", "Messages")(_reaction("unreact", False))


@_command("/search QUERY", "messages containing QUERY, newest first", "Messages")
def _search(a: list[str]) -> Command:
    _arity("search", a, 1)
    return _req("search", a, "search", {"query": text_of(a)}, group="current")


@_command("/read [SEQ]", "mark read up to SEQ (default: the last message shown)",
          "Messages")
def _read(a: list[str]) -> Command:
    _arity("read", a, 0, 1)
    params = {"seq": _int("read", a[0], "SEQ")} if a else {}
    return _req("read", a, "mark_read", params, group="current")


@_command("/upload PATH [TEXT...]", "send a file (image, audio, video, PDF) to the current group", "Messages")
def _upload(a: list[str]) -> Command:
    _arity("upload", a, 1)
    raw = text_of(a)
    if raw[:1] in ("'", '"') and (end := raw.find(raw[0], 1)) > 1:  # a quoted path: spaces kept
        params = {"path": raw[1:end], "text": raw[end + 1:].strip()}
    else:
        params = {"path": a[0], "text": text_of(a[1:])}
    return Command("upload", a, action="upload", params=params, group="current")


@_command("/retry", "send again the messages that got no answer (timeout, lost connection); "
                    "none is posted twice", "Messages")
def _retry(a: list[str]) -> Command:
    _arity("retry", a, 0, 0)
    return Command("retry", a, action="retry")


# Management (current group) --------------------------------------------------------

def _user_op(name: str, op: str, source: str = "members", **extra: Any) -> Callable[[list[str]], Command]:
    def parse(a: list[str]) -> Command:
        return _req(name, a, op, {"user_id": _user(name, a), **extra}, group="current",
                    user_param="user_id", user_source=source)
    return parse


_command("/kick USER", "remove a member", "Manage")(_user_op("kick", "kick"))


@_command("/mute USER DURATION", "mute a member: 30s, 10m, 2h, 1d, 1h30m; 0 or off unmutes", "Manage")
def _mute(a: list[str]) -> Command:
    if len(a) < 2:
        raise _usage("mute")
    try:
        seconds = parse_duration(a[-1])
    except ValueError as exc:
        raise _usage("mute", str(exc)) from None
    return _req("mute", a, "mute", {"user_id": _user("mute", a[:-1]), "seconds": seconds},
                group="current", user_param="user_id")


_command("/unmute USER", "unmute a member (same as /mute USER off)", "Manage")(
    _user_op("unmute", "mute", seconds=0))


@_command("/muteall on|off", "mute or unmute everyone but the owner and admins", "Manage")
def _muteall(a: list[str]) -> Command:
    if len(a) != 1 or a[0].lower() not in ("on", "off"):
        raise _usage("muteall")
    return _req("muteall", a, "mute_all", {"on": a[0].lower() == "on"}, group="current")


@_command("/admin add|remove USER", "make a member an admin, or an admin a member (owner)", "Manage")
def _admin(a: list[str]) -> Command:
    if len(a) < 2 or a[0].lower() not in ("add", "remove"):
        raise _usage("admin")
    role = "admin" if a[0].lower() == "add" else "member"
    return _req("admin", a, "set_role", {"user_id": _user("admin", a[1:]), "role": role},
                group="current", user_param="user_id")


_command("/transfer USER", "make USER the owner (owner)", "Manage")(_user_op("transfer", "transfer_owner"))


@_command("/announce TEXT", "set the group announcement", "Manage")
def _announce(a: list[str]) -> Command:
    _arity("announce", a, 1)
    return _req("announce", a, "set_announcement", {"text": text_of(a)}, group="current")


_command("/invite USER", "invite a user to the current group (@name: someone this client has seen, "
                        "in any group)", "Manage")(_user_op("invite", "invite", source="seen"))


_command("/requests", "list pending join requests", "Manage")(_no_args("requests", "join_requests", group="current"))


_command("/approve USER", "approve a join request (@name: looked up in /requests)", "Manage")(
    _user_op("approve", "approve_join", source="join_requests"))
_command("/reject USER", "reject a join request (@name: looked up in /requests)", "Manage")(
    _user_op("reject", "reject_join", source="join_requests"))


@_command("/rename NAME", "rename the group (owner)", "Manage")
def _rename(a: list[str]) -> Command:
    _arity("rename", a, 1)
    return _req("rename", a, "update_group", {"name": text_of(a)}, group="current")


@_command("/category CATEGORY", "change the group's category (owner)", "Manage")
def _category(a: list[str]) -> Command:
    _arity("category", a, 1, 1)
    return _req("category", a, "update_group", {"category": a[0]}, group="current")


@_command("/policy open|approval|invite", "change who may join (owner)", "Manage")
def _policy_cmd(a: list[str]) -> Command:
    _arity("policy", a, 1, 1)
    return _req("policy", a, "update_group", {"join_policy": _policy("policy", a[0])}, group="current")


@_command("/delete SEQ", "delete a message (your own; any as owner/admin)", "Manage")
def _delete(a: list[str]) -> Command:
    _arity("delete", a, 1, 1)
    return _req("delete", a, "delete_message", {"seq": _int("delete", a[0], "SEQ")}, group="current")


@_command("/pin SEQ", "pin message #SEQ (owner, admins)", "Manage")
def _pin(a: list[str]) -> Command:
    _arity("pin", a, 1, 1)
    return _req("pin", a, "pin_message", {"seq": _int("pin", a[0], "SEQ"), "on": True}, group="current")


@_command("/unpin SEQ", "unpin message #SEQ", "Manage")
def _unpin(a: list[str]) -> Command:
    _arity("unpin", a, 1, 1)
    return _req("unpin", a, "pin_message", {"seq": _int("unpin", a[0], "SEQ"), "on": False}, group="current")


@_command("/ban USER [DURATION] [REASON...]",
          "remove USER, keep them out for DURATION (10m, 1d; none or 0: until /unban)", "Manage")
def _ban(a: list[str]) -> Command:
    if not a:
        raise _usage("ban")
    if a[0].startswith("@"):
        # "@display name" may have spaces: it ends before the first word that is a duration
        cut = next((i for i in range(1, len(a)) if _ban_duration(a[i]) is not None), len(a))
        user, rest = _user("ban", a[:cut]), a[cut:]
    else:
        user, rest = a[0], a[1:]
    params: dict[str, Any] = {"user_id": user}
    if rest:
        seconds = _ban_duration(rest[0])
        if seconds is not None:
            if seconds:
                params["seconds"] = seconds
            rest = rest[1:]
    if rest:
        params["reason"] = text_of(rest)
    # (@name: a member, else someone this client has seen: a ban may come after a kick, or first)
    return _req("ban", a, "ban", params, group="current", user_param="user_id", user_source="members+seen")


def _ban_duration(word: str) -> int | None:
    """Seconds of a ban (0: until unbanned), or ``None`` when ``word`` is not a duration."""
    w = word.lower()
    if w in ("0", "forever", "permanent"):
        return 0
    if w == "off":
        return None
    try:
        return parse_duration(w)
    except ValueError:
        return None


_command("/unban USER", "lift a ban (@name: a banned user whose name this client has seen)", "Manage")(
    _user_op("unban", "unban", source="bans"))


_command("/bans", "list the bans in force", "Manage")(_no_args("bans", "bans", group="current"))
_command("/clean USER", "delete USER's messages in the group, the newest 500 at a time (yours; anyone's as "
                        "owner/admin, also after /ban)", "Manage")(
    _user_op("clean", "delete_user_messages", source="members+seen"))


@_command("/slow DURATION", "slow mode: a member may send once per DURATION (0 or off: no limit)",
          "Manage")
def _slow(a: list[str]) -> Command:
    _arity("slow", a, 1, 1)
    try:
        seconds = parse_duration(a[0])
    except ValueError as exc:
        raise _usage("slow", str(exc).replace("to unmute", "to turn it off")) from None
    return _req("slow", a, "set_slow_mode", {"seconds": seconds}, group="current")


@_command("/link [MAX_USES] [EXPIRES] [note TEXT...]",
          "make an invite code: MAX_USES joins at most (0: any), valid EXPIRES (1d, 2h; 0: for ever), "
          "with a note for the managers (shown in /links)", "Manage")
def _link(a: list[str]) -> Command:
    """A plain number first is MAX_USES; the word after it (or a first word with a unit) is EXPIRES;
    from the word ``note`` on, the rest of the line is the link's note."""
    params: dict[str, Any] = {}
    rest = list(a)
    cut = next((i for i, w in enumerate(rest) if w.lower() == "note"), None)
    if cut is not None:
        if not rest[cut + 1:]:
            raise _usage("link", "give the note's text after 'note'")
        params["note"] = text_of(rest[cut + 1:])
        rest = rest[:cut]
    _arity("link", rest, 0, 2)
    if rest and _digits_only(rest[0]):
        uses = _int("link", rest.pop(0), "USES")
        if uses:
            params["max_uses"] = uses
    if len(rest) > 1:
        raise _usage("link")
    if rest:
        word = rest[0].lower()
        try:
            seconds = parse_duration("0" if word in ("never", "none") else word)
        except ValueError:
            raise _usage("link", f"EXPIRES must be a duration like 1d or 2h, not {rest[0]!r}") from None
        if seconds:
            params["expires_in_seconds"] = seconds
    return _req("link", a, "create_invite_link", params, group="current")


_command("/links", "list the group's invite links that still work: uses, expiry, who made them", "Manage")(
    _no_args("links", "invite_links", group="current"))


@_command("/revoke CODE|LINK_ID", "make an invite link useless: its code, or its link id from /links", "Manage")
def _revoke(a: list[str]) -> Command:
    """A link id is 10 hex digits; a code is longer (at least MIN_INVITE_CODE characters)."""
    _arity("revoke", a, 1, 1)
    key = "link_id" if LINK_ID.fullmatch(a[0]) else "code"
    return _req("revoke", a, "revoke_invite_link", {key: a[0]}, group="current")


@_command("/log [N] [before ID]", "the group's management log, newest first (owner, admins)", "Manage")
def _log(a: list[str]) -> Command:
    params: dict[str, Any] = {}
    rest = list(a)
    if rest and _digits_only(rest[0]):
        params["limit"] = _int("log", rest.pop(0), "N", 1)
    if rest:
        if len(rest) != 2 or rest[0].lower() != "before":
            raise _usage("log")
        params["before_id"] = _int("log", rest[1], "ID")
    return _req("log", a, "group_log", params, group="current")


@_command("/dissolve GID", "dissolve the group (owner); GID must repeat it", "Manage")
def _dissolve(a: list[str]) -> Command:
    if len(a) != 1:
        raise _usage("dissolve", "to confirm, repeat the current group's id")
    gid = _gid("dissolve", a[0])
    return _req("dissolve", a, "dissolve_group", group="current", confirm_group=gid)


# Public accounts: their commands live in a module of their own, registered here so that /help
# lists them before the client's own commands (the module imports what it needs from this one).
from client_demo import public_commands  # noqa: E402,F401

# Client ----------------------------------------------------------------------------

@_command("/help", "show this help", "Client")
def _help(a: list[str]) -> Command:
    return Command("help", a, action="help")


@_command("/quit", "leave the client (also /exit, or end of input)", "Client")
def _quit(a: list[str]) -> Command:
    _arity("quit", a, 0, 0)
    return Command("quit", a, action="quit")


# -- entry points ----------------------------------------------------------------------

def command_text(line: str) -> str | None:
    """The command ``line`` is, as parsed: ``None`` if it is chat text.

    Leading white space is dropped and a full-width slash (``／``, what a Chinese input method types)
    counts as ``/``: a ``/login USER PASSWORD`` typed after a space, or with ``／``, is a command, never
    a chat message that every member reads. ``//text`` is chat text (the escape for a leading slash).
    The one place that decides it, for :func:`parse_command` and the prompt's masking of secrets alike.
    """
    text = line.rstrip("\r\n").lstrip()
    if text[:1] == "\uff0f":
        text = "/" + text[1:]
    if not text.startswith("/") or text[1:2] in ("/", "\uff0f"):
        return None
    return text


def parse_command(line: str) -> Command | None:
    """One input line -> a :class:`Command`, or ``None`` for a blank line.

    Raises :class:`CommandError` (``unknown_command`` or ``usage``) for a bad line.
    """
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    command = command_text(text)
    if command is None:
        lead = text.lstrip()
        if lead[:2] in ("//", "/\uff0f", "\uff0f/", "\uff0f\uff0f"):  # the escape: one slash less
            text = text[: len(text) - len(lead)] + lead[1:]
        return Command("say", [text], op="send", params={"text": text}, group="current")
    text = command
    words = Words.of(text[1:])
    if not words or text[1].isspace():
        raise CommandError("unknown_command", "empty command (try /help)")
    name = words[0].lower()
    name = ALIASES.get(name, name)
    spec = COMMANDS.get(name)
    if spec is None:
        raise CommandError("unknown_command", f"/{words[0]} (try /help)")
    return spec.parse(words[1:])


NO_GROUP = "no current group: /use GID, /create or /join first"


def bind(cmd: Command, current_group: str | None) -> dict[str, Any]:
    """The request arguments of ``cmd`` with the current group filled in where it needs one."""
    params = dict(cmd.params)
    if cmd.group == "current" and "group_id" not in params:
        if current_group is None:
            raise CommandError("no_group", NO_GROUP)
        params["group_id"] = current_group
    elif cmd.group == "optional" and current_group is not None:
        params.setdefault("group_id", current_group)
    if cmd.confirm_group is not None and cmd.confirm_group != params.get("group_id"):
        raise CommandError(
            "bad_command",
            f"/dissolve {cmd.confirm_group} does not match the current group {current_group}; "
            "/use the group first, then /dissolve its id",
        )
    return params


def needs_resolving(cmd: Command) -> str | None:
    """The ``@display name`` (without ``@``) this command refers to, if any."""
    if cmd.user_param is None:
        return None
    ref = cmd.params.get(cmd.user_param)
    if isinstance(ref, str) and ref.startswith("@") and len(ref) > 1:
        return ref[1:]
    return None


def pick_user(users: list[dict[str, Any]], name: str, where: str) -> str:
    """The user_id of the one user in ``users`` whose display_name is exactly ``name``."""
    found = [u for u in users if u.get("display_name") == name]
    if len(found) == 1:
        return str(found[0]["user_id"])
    if not found:
        raise CommandError("not_found", f"nobody in {where} is called @{name} (use a user_id)")
    ids = ", ".join(str(u.get("user_id")) for u in found)
    raise CommandError("conflict", f"@{name} matches {len(found)} users in {where} ({ids}); use a user_id")


def split_user(users: list[dict[str, Any]], text: str, where: str) -> tuple[str, list[str]]:
    """(the user_id, the words after the name) for ``text``, a display name followed by more words
    (``Bob Li spam ads``): the longest name in ``users`` that ``text`` starts with, a whole word."""
    fits = {str(u.get("display_name")) for u in users
            if isinstance(u.get("display_name"), str) and u["display_name"]
            and (text == u["display_name"] or text.startswith(u["display_name"] + " "))}
    if not fits:
        raise CommandError("not_found", f"nobody in {where} has a name that @{text} starts with (use a user_id)")
    name = max(fits, key=len)
    return pick_user(users, name, where), text[len(name):].split()


def bind_user_rest(cmd: Command, params: dict[str, Any], user_id: str, rest: list[str]) -> None:
    """Put the user found by :func:`split_user` and the words after the name where ``cmd`` wants
    them: the first word to ``user_rest[0]``, the others (joined) to ``user_rest[1]``."""
    assert cmd.user_param is not None and cmd.user_rest
    if not rest:
        raise _usage(cmd.name, f"give the {cmd.user_rest[0].upper()} after @name")
    params[cmd.user_param] = user_id
    params[cmd.user_rest[0]] = rest[0]
    if len(rest) > 1 and len(cmd.user_rest) > 1:
        params[cmd.user_rest[1]] = text_of(rest[1:])


MENTION_ALL = ("@所有人", "@all")


@dataclass
class Mentions:
    user_ids: list[str] = field(default_factory=list)
    everyone: bool = False
    ambiguous: list[str] = field(default_factory=list)   # names several members share


def ends_word(text: str, end: int, name: str) -> bool:
    """Whether an ``@name`` ending at ``end`` is the whole name: a Latin name must not run on into
    more letters (``@Bobby`` is not ``@Bob``); a Chinese one may (``@张三你好``: no spaces in Chinese)."""
    if end >= len(text) or not name or not name[-1].isascii():
        return True
    nxt = text[end]
    return not (nxt.isascii() and (nxt.isalnum() or nxt == "_"))


def find_mentions(text: str, users: list[dict[str, Any]]) -> Mentions:
    """The members that ``@display name`` or ``@user_id`` in ``text`` refer to (longest name first,
    so ``@Bob Li`` beats ``@Bob``), and whether ``@所有人`` / ``@all`` mentions everyone."""
    found = Mentions()
    names: dict[str, list[str]] = {}
    for u in users:
        uid = str(u.get("user_id", ""))
        if uid:
            names.setdefault(uid, []).append(uid)
        name = u.get("display_name")
        if isinstance(name, str) and name and uid:
            names.setdefault(name, [])
            if uid not in names[name]:
                names[name].append(uid)
    tokens = sorted(names, key=len, reverse=True)
    i = text.find("@")
    while i != -1:
        end = i + 1
        for token in ("所有人", "all"):
            if text.startswith(token, i + 1) and ends_word(text, i + 1 + len(token), token):
                found.everyone, end = True, i + 1 + len(token)
                break
        else:
            for token in tokens:
                if text.startswith(token, i + 1) and ends_word(text, i + 1 + len(token), token):
                    ids = names[token]
                    if len(ids) > 1:
                        if token not in found.ambiguous:
                            found.ambiguous.append(token)
                    elif ids[0] not in found.user_ids:
                        found.user_ids.append(ids[0])
                    end = i + 1 + len(token)
                    break
        i = text.find("@", end)
    return found


SECTION_TITLES = {
    "Messages": "Messages in the current group (SEQ is the #number shown with each message):",
    "Manage": "Manage the current group (USER is a user_id or @display name):",
    "Public accounts": "Public accounts (AID is an account id; \\n in INTRO or BODY starts a new line):",
}


def help_text() -> str:
    lines = ["Commands (plain text sends to the current group; //text sends '/text'):"]
    section = None
    width = max(len(s.usage) for s in COMMANDS.values() if len(s.usage) <= 30)
    for spec in COMMANDS.values():
        if spec.section != section:
            section = spec.section
            lines.append(SECTION_TITLES.get(section, f"{section}:"))
        if len(spec.usage) > width:
            lines.append(f"  {spec.usage}")
            lines.append(f"  {'':<{width}}  {spec.help}")
        else:
            lines.append(f"  {spec.usage:<{width}}  {spec.help}")
    return "\n".join(lines)
