"""How the terminal client shows what the server sends: pure functions from maps to lines.

Every piece of server-supplied text goes through :func:`clean` before it is printed,
so a display name or message cannot carry terminal escape sequences. The only
escape sequences in the output are the client's own (the mention highlight on a
terminal, see :data:`ANSI`), added after cleaning.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from client_demo.commands import ends_word, format_duration
from client_demo.notices import appeal_hint, notice_line
from client_demo.text import clean as clean  # also for the modules that import them from here
from client_demo.text import hhmm as hhmm

# Why a post takes no new comments ([ext] comments_closed_by), in words.
CLOSED_BY = {"post": "by the account", "platform": "by the platform", "credit": "at the account's credit level"}


def comments_said(x: dict[str, Any]) -> str:
    """A post's comment mode in force, as ``set_post_comments`` answers it and ``post_comments`` tells it."""
    mode = str(x.get("comments"))
    if mode == "closed":
        why = CLOSED_BY.get(str(x.get("comments_closed_by")))
        return "closed" + (f" ({why})" if why else "")
    return {"open": "open", "review": "shown after approval"}.get(mode, clean(mode))

Highlight = Callable[[str], str]


def PLAIN(s: str) -> str:
    """Highlight for pipes and files: ``*@Bob*``."""
    return f"*{s}*"


def ANSI(s: str) -> str:
    """Highlight on a terminal: bold yellow."""
    return f"\x1b[1;33m{s}\x1b[0m"


def human_size(n: Any) -> str:
    """``532 B``, ``12.3 KB``, ``4.0 MB``."""
    if not isinstance(n, int) or isinstance(n, bool):
        return "? B"
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


class Names:
    """user_id -> display name, learnt from messages, members and events; and account_id -> name
    of the public accounts this client has seen listed (events carry only the id)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.accounts: dict[str, str] = {}
        self.me: str | None = None  # the logged-in user's id: their mentions are highlighted in edits

    def learn(self, user: Any) -> None:
        if isinstance(user, dict) and user.get("user_id") and user.get("display_name"):
            self.names[str(user["user_id"])] = str(user["display_name"])

    def learn_account(self, account: Any) -> None:
        if isinstance(account, dict) and account.get("account_id") and account.get("name"):
            self.accounts[str(account["account_id"])] = str(account["name"])

    def __call__(self, user_id: Any) -> str:
        uid = clean(user_id)
        name = self.names.get(str(user_id))
        return f"{clean(name)} ({uid})" if name else uid

    def account(self, account_id: Any) -> str:
        """``茶馆日报 (123456789)``, or the bare id when the name is not known here."""
        aid = clean(account_id)
        name = self.accounts.get(str(account_id))
        return f"{clean(name)} ({aid})" if name else aid


# -- messages ------------------------------------------------------------------------------

# An attachment's (or the reactions') own line: two spaces and a "+", which no line of a message's text can start with
# (each of its line breaks is shown as four spaces, text.INDENT), so a sender cannot fake one.
ATTACHMENT_INDENT = "  + "


def format_attachment(a: dict[str, Any], base: str = "") -> str:
    """``[image 640x480 cat.png] http://host/media/...``; ``base`` makes the server's path a URL."""
    kind = clean(a.get("kind") or "file")
    w, h = a.get("width"), a.get("height")
    what = f"{w}x{h}" if isinstance(w, int) and isinstance(h, int) else human_size(a.get("size"))
    name = clean(a.get("name") or a.get("media_id") or "?")
    url = a.get("url")
    where = ""
    if isinstance(url, str) and url:
        where = " " + clean((base if url.startswith("/") else "") + url)
    return f"[{kind} {what} {name}]{where}"


def format_emoji(emoji: Any) -> str:
    """A reaction's "emoji" as shown: the server takes any short visible text, so one holding a
    space, a comma, a digit, a quote or a bracket (``👍 99, ❤``) is quoted (``"👍 99, ❤"``), and can
    pass neither for two reactions nor for a count."""
    text = clean(emoji)
    if not text or any(ch.isspace() or ch.isdigit() or ch in ',"[]()' for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_reactions(reactions: Any) -> str:
    """``reactions: 👍 2, ❤ 1``: the most given first (see :func:`format_emoji`); printed on a
    line of its own under the message, as an attachment is, never after the sender's text."""
    if not isinstance(reactions, dict):
        return ""
    items = sorted(((str(e), c) for e, c in reactions.items() if isinstance(c, int) and c > 0),
                   key=lambda ec: (-ec[1], ec[0]))
    return "reactions: " + ", ".join(f"{format_emoji(e)} {c}" for e, c in items) if items else ""


def _mention_tokens(m: dict[str, Any], names: Names | None) -> tuple[list[str], list[str]]:
    """(tokens to look for in the text, tokens to add when absent) for the message's mentions."""
    look: list[str] = []
    add: list[str] = []
    for uid in m.get("mentions") or []:
        name = names.names.get(str(uid)) if names is not None else None
        cands = [f"@{clean(name)}"] if name else []
        cands.append(f"@{clean(uid)}")
        look += cands
        add.append(cands[0])
    if m.get("mention_all"):
        look += ["@所有人", "@all"]
        add.append("@所有人")
    return look, add


def highlight_mentions(text: str, m: dict[str, Any], names: Names | None, hl: Highlight,
                       add_missing: bool = True) -> str:
    """``text`` (already cleaned) with the message's mentions highlighted; a mention the text does
    not spell out (the name changed, or is unknown here) is added at the end (unless not
    ``add_missing``: an edit's event does not say whom the message mentions)."""
    look, add = _mention_tokens(m, names)
    if not look:
        return text
    rx = re.compile("|".join(re.escape(t) for t in sorted(set(look), key=len, reverse=True)))
    seen: set[str] = set()

    def mark(match: re.Match[str]) -> str:
        if not ends_word(text, match.end(), match.group()):  # (@Bobby is not @Bob, as when it was sent)
            return match.group()
        seen.add(match.group())
        return hl(match.group())

    out = rx.sub(mark, text)
    missing = [t for t in add if t not in seen and not (t == "@所有人" and "@all" in seen)]
    # a user found by name or by id counts as shown
    for uid in m.get("mentions") or []:
        name = names.names.get(str(uid)) if names is not None else None
        if f"@{clean(uid)}" in seen and name and f"@{clean(name)}" in missing:
            missing.remove(f"@{clean(name)}")
    if missing and add_missing:
        out = (out + " " if out else "") + " ".join(hl(t) for t in missing)
    return out


# The roles a message line names (a plain member's shows none). The tag goes inside the line's
# head, ``[GROUP #SEQ owner]``, before the sender's name: the head is made of the server's ids and
# this word only, and a display name is printed after its ``]``, so no name (whatever characters it
# holds: brackets, parentheses, look-alike letters) can put a role tag where the roles are shown.
# A tag after the name, ``Alice (owner)``, could be faked by a member called "Alice (owner)".
SHOWN_ROLES = ("owner", "admin")


def role_tag(role: Any) -> str:
    """`` owner`` / `` admin`` for the head of a message line, ``""`` for anyone else."""
    return f" {role}" if role in SHOWN_ROLES else ""


def deleted_note(by: object, sender: str = "its sender") -> str:
    """What a deleted message shows, by who hid it (the [ext] ``deleted_by``; older servers send none)."""
    if by == "sender":
        return f"recalled by {sender}"
    if by == "manager":
        return "deleted by a group manager"
    if by == "platform":
        return "removed by the platform"
    return "deleted"


def format_message(m: dict[str, Any], names: Names | None = None, *, hl: Highlight = PLAIN,
                   base: str = "") -> str:
    """``12:30 [123456789 #42 owner] Alice: ↪ #40 hi *@Bob* (edited)`` (the sender's role in the
    head, see :data:`SHOWN_ROLES`), then one indented line per attachment and one for the
    reactions (``  + reactions: 👍 2``: on the text's line, another's text could fake them); a
    deleted one ``... (recalled by Alice)`` (see :func:`deleted_note`)."""
    sender = m.get("sender") or {}
    place = f"{clean(m.get('group_id'))} #{clean(m.get('seq'))}"
    if m.get("deleted"):
        who = clean(sender.get("display_name") or sender.get("user_id") or "?")
        return f"{hhmm(m.get('ts'))} [{place}] ({deleted_note(m.get('deleted_by'), who)})"
    head = f"{hhmm(m.get('ts'))} [{place}{role_tag(sender.get('role'))}]"
    who = clean(sender.get("display_name") or sender.get("user_id") or "?")
    parts = []
    if m.get("reply_to") is not None:
        parts.append(f"↪ #{clean(m['reply_to'])}")
    text = highlight_mentions(clean(m.get("text") or ""), m, names, hl)
    if text:
        parts.append(text)
    if m.get("edited_at"):
        parts.append("(edited)")
    line = f"{head} {who}:" + (" " + " ".join(parts) if parts else "")
    for a in m.get("attachments") or []:
        if isinstance(a, dict):
            line += "\n" + ATTACHMENT_INDENT + format_attachment(a, base)
    reactions = format_reactions(m.get("reactions"))
    if reactions:
        line += "\n" + ATTACHMENT_INDENT + reactions
    return line


# -- folding long lines on a terminal ----------------------------------------------------------

_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # the client's own highlight (ANSI): no width
WRAP_INDENT = "      "  # a folded line goes on under the text after the time (``12:30 ``)


def _columns(ch: str) -> int:
    """The terminal columns ``ch`` takes: two for a wide (CJK) character, none for a combining one."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def fold(text: str, width: int, indent: str = WRAP_INDENT) -> str:
    """``text`` with each of its lines folded to ``width`` columns: a line too long breaks at its
    last space that fits (anywhere in a run without spaces, as Chinese is written) and goes on
    indented by ``indent``, so that its rest is not read as a line of its own, and a terminal does
    not break it under the time. Escape sequences take no column and are never split; a line is
    left whole when ``width`` leaves less than 20 columns after ``indent``."""
    room = width - len(indent)
    if room < 20:
        return text
    return "\n".join(_fold_line(line, width, indent) for line in text.split("\n"))


def _fold_line(line: str, width: int, indent: str) -> str:
    units: list[tuple[str, int]] = []
    at = 0
    for m in _ESCAPE.finditer(line):
        units.extend((ch, _columns(ch)) for ch in line[at:m.start()])
        units.append((m.group(), 0))
        at = m.end()
    units.extend((ch, _columns(ch)) for ch in line[at:])
    if sum(w for _, w in units) <= width:
        return line
    # the columns from each unit to the end of its word (the run without spaces it is in)
    ahead = [0] * (len(units) + 1)
    for i in range(len(units) - 1, -1, -1):
        ahead[i] = 0 if units[i][0] == " " else units[i][1] + ahead[i + 1]
    rows: list[str] = []
    row: list[tuple[str, int]] = []
    used = 0
    for n, unit in enumerate(units):
        piece, w = unit
        if used + w > width and used > 0:
            carry: list[tuple[str, int]] = []
            if piece != " " and w < 2 and row[-1][1] < 2:  # (between wide characters: anywhere)
                at = _break_at(row, ahead[n], width - len(indent))
                if at is not None:
                    row, carry = row[:at], row[at + 1:]
            rows.append("".join(p for p, _ in row))
            row = [(indent, len(indent)), *carry]
            used = sum(c for _, c in row)
            if piece == " ":
                continue  # (the space the line breaks at)
        row.append(unit)
        used += w
    rows.append("".join(p for p, _ in row))
    return "\n".join(rows)


LONG_WORD = 20  # columns: a longer run without spaces (a link, say) is broken where the line is full


def _break_at(row: list[tuple[str, int]], rest: int, room: int) -> int | None:
    """The last space of ``row`` to break it at: after its leading spaces (an indented line is not
    broken into its indent alone), with the word after it (``rest`` more columns of it follow the
    row) short enough to go to the next line whole; None: break where the line is full."""
    text = next((i for i, (p, _) in enumerate(row) if p.strip()), len(row))
    for i in range(len(row) - 1, text, -1):
        if row[i][0] == " ":
            return i if sum(c for _, c in row[i + 1:]) + rest <= min(room, LONG_WORD) else None
    return None


# -- public accounts -------------------------------------------------------------------------

def format_post_event(ev: dict[str, Any], names: Names) -> str:
    """``12:40 [123456789 post 17] new post in 茶馆日报 (123456789): Title (/post 17)`` (without
    ``in ...`` while the account's name is not known here). The first
    brackets hold ids only, as a message line's head: an account's name, which may hold brackets
    and digits, comes after them and cannot pose as a group message's head with its role tag."""
    pid = clean(ev.get("post_id"))
    return (f"{hhmm(ev.get('ts'))} [{clean(ev.get('account_id'))} post {pid}] new post"
            f"{_in_account(names, ev.get('account_id'))}: {clean(ev.get('title', ''))} (/post {pid})")


def _in_account(names: Names, account_id: Any) -> str:
    """`` in 茶馆日报 (123456789)``, or nothing while the name is not known here (the id is in the head)."""
    return f" in {names.account(account_id)}" if names.accounts.get(str(account_id)) else ""


def comment_marks(c: dict[str, Any]) -> str:
    """``(held)``, ``(hidden)`` (or both, or ``""``): a comment's state, printed right after its id,
    before its author and its text. After the text, where it stood, a commenter could write
    "(hidden)" at the end of a visible comment and have it read as one the owner already hid; after
    the author's name, a display name could carry it."""
    flags = [flag for flag in ("held", "hidden") if c.get(flag)]
    return f"({', '.join(flags)})" if flags else ""


def format_comment(c: dict[str, Any], names: Names) -> str:
    """``Bob Li (u2): ↪ comment 3 well said``: a comment, from an event or a list (its state, see
    :func:`comment_marks`, goes where the caller prints the comment's id)."""
    user = c.get("user") or {}
    names.learn(user)
    who = names(user.get("user_id")) if user.get("user_id") else "?"
    parts = [f"{who}:"]
    if c.get("reply_to") is not None:
        parts.append(f"↪ comment {clean(c['reply_to'])}")
    parts.append(clean(c.get("text", "")))
    return " ".join(parts)


def format_comment_event(ev: dict[str, Any], names: Names) -> str:
    """``12:41 [123456789 post 17] comment 5 (held) in 茶馆日报 (123456789) by Bob Li (u2): nice``;
    a comment whose status changed (``moderated``) is said to be shown now, or hidden, not new.
    Ids only in the first brackets, as for a post (see :func:`format_post_event`)."""
    head = f"{hhmm(ev.get('ts'))} [{clean(ev.get('account_id'))} post {clean(ev.get('post_id'))}]"
    what = f"comment {clean(ev.get('comment_id'))}"
    if ev.get("moderated"):  # (its state said before the comment: no marks)
        now = "is hidden now" if ev.get("hidden") else "is shown now"
        return f"{head} {what}{_in_account(names, ev.get('account_id'))} {now}: {format_comment(ev, names)}"
    marks = comment_marks(ev)
    what += (f" {marks}" if marks else "") + _in_account(names, ev.get("account_id"))
    return f"{head} {what} by {format_comment(ev, names)}"


# -- events ---------------------------------------------------------------------------------

_TIME_KEYS = frozenset({"until", "ts", "deadline", "as_of", "cutoff"})


def is_time_key(key: str) -> bool:
    """Whether a field holds a time in epoch milliseconds: ``until``, ``deadline``, ``..._until``,
    ``..._at``."""
    return key in _TIME_KEYS or key.endswith(("_until", "_at"))


def field_value(key: str, value: Any) -> str:
    """A field shown as ``key=value``: a time (see :func:`is_time_key`) as a local time, a yes/no
    as ``yes`` or ``no``, anything else cleaned."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_time_key(key) and isinstance(value, int) and value > 0:
        return hhmm(value)
    return clean(value)


def fields_text(d: dict[str, Any]) -> str:
    """``k=v, k=v`` with each value as :func:`field_value` shows it."""
    return ", ".join(f"{clean(k)}={field_value(str(k), v)}" for k, v in d.items())


def _group_change(key: str, value: Any) -> str:
    if key == "pinned":
        seqs = value if isinstance(value, list) else []
        return "pinned " + ", ".join(f"#{clean(s)}" for s in seqs) if seqs else "nothing pinned"
    if key == "slow_mode_seconds":
        secs = value if isinstance(value, int) else 0
        return f"slow mode: a member may send once per {format_duration(secs)}" if secs else "slow mode off"
    if key == "mute_all" and isinstance(value, bool):
        return "everyone but the owner and admins muted" if value else "mute-all off: everyone may speak"
    return f"{clean(key)}={field_value(key, value)}"


def format_group_updated(ev: dict[str, Any]) -> str:
    gid = clean(ev.get("group_id", "?"))
    changes = {k: v for k, v in ev.items() if k not in ("ev", "group_id")}
    if set(changes) == {"announcement"}:
        return f"* {gid} announcement: {clean(changes['announcement'])}"
    return f"* {gid} updated: " + ", ".join(_group_change(k, v) for k, v in changes.items())


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def format_group_suspended(ev: dict[str, Any]) -> str:
    """``group_suspended``: until when, what else the suspension stops, the operator's reason, and the
    sanction its owner may appeal."""
    gid = clean(ev.get("group_id", "?"))
    why = {"sanction": " (it cannot be renamed, dissolved or handed on meanwhile)",
           "category_freeze": " with its whole category (it cannot be renamed meanwhile)"}.get(str(ev.get("cause")), "")
    line = f"* group {gid} is suspended until {hhmm(ev.get('until'))}{why}"
    if isinstance(ev.get("reason"), str) and ev["reason"]:
        line += f": {clean(ev['reason'])}"
    if ev.get("sanction_id"):
        line += appeal_hint(ev["sanction_id"], owner=True)
    return line


def format_account_updated(ev: dict[str, Any], names: Names) -> str:
    """``account_updated``: a public account one follows, runs or last read shows a new name, intro or
    organisation name. Said under the name known so far, then the new name is learnt (as ``user_renamed``)."""
    aid = ev.get("account_id")
    said = []
    if isinstance(ev.get("name"), str):
        said.append(f"is now called {clean(ev['name'])}")
    if isinstance(ev.get("intro"), str):
        said.append(f"has a new introduction: {clean(ev['intro'])}" if ev["intro"] else "has no introduction now")
    if isinstance(ev.get("org_name"), str):
        said.append(f"is run by {clean(ev['org_name'])} now")
    line = f"* public account {names.account(aid)} " + (" and ".join(said) or "changed")
    if aid and isinstance(ev.get("name"), str):
        names.learn_account({"account_id": aid, "name": ev["name"]})
    return line


def _changed_elsewhere(ev: dict[str, Any]) -> str:
    """What a ``self_changed`` says one's other device did."""
    what, aid = ev.get("what"), clean(ev.get("account_id"))
    if what == "subscriptions":
        return f"{'followed' if ev.get('on') else 'unfollowed'} public account {aid}"
    if what == "accounts":
        return f"opened or changed public account {aid} (/accounts lists it)"
    if what == "held_texts":
        return "a name or announcement of yours waits for the platform's review (/held lists it)"
    if what == "identity":
        return "your identity was verified"
    if what == "agreement":
        return f"accepted the platform's rules and agreement, version {clean(ev.get('version'))}"
    return f"changed your {clean(what)}"


def format_event(ev: dict[str, Any], names: Names, *, hl: Highlight = PLAIN, base: str = "") -> str:
    """One readable line (or a few) for a server event."""
    kind = ev.get("ev")
    gid = clean(ev.get("group_id", "?"))
    if kind in ("message", "message_released"):  # released: a held message, with its original seq
        names.learn(ev.get("sender"))
        return format_message(ev, names, hl=hl, base=base)
    if kind == "message_deleted":
        return f"[{gid} #{clean(ev.get('seq'))}] ({deleted_note(ev.get('deleted_by'))})"
    if kind == "message_edited":  # the event has no mentions: the reader's own @name is marked
        mine = {"mentions": [names.me]} if names.me else {}
        text = highlight_mentions(clean(ev.get("text", "")), mine, names, hl, add_missing=False)
        return f"{hhmm(ev.get('edited_at'))} [{gid} #{clean(ev.get('seq'))}] edited: {text}"
    if kind == "reaction":
        what = "reacted" if ev.get("on") else "took back"
        prep = "to" if ev.get("on") else "on"
        return (f"* {names(ev.get('user_id'))} {what} {format_emoji(ev.get('emoji'))} {prep} "
                f"[{gid} #{clean(ev.get('seq'))}]")
    if kind == "held_text_settled":
        return format_held_settled(ev)
    if kind == "read_marker":
        return f"* read {gid} up to #{clean(ev.get('seq'))} (on another device)"
    if kind == "self_changed":
        return f"* {_changed_elsewhere(ev)} (on another device)"
    if kind == "post":
        return format_post_event(ev, names)
    if kind == "comment":
        return format_comment_event(ev, names)
    if kind == "member_joined":
        user = ev.get("user") if isinstance(ev.get("user"), dict) else {}
        names.learn(user)
        return f"* {names(user.get('user_id'))} joined {gid}"  # (with the id, as every member event: names repeat)
    if kind == "member_left":
        return f"* {names(ev.get('user_id'))} left {gid}"
    if kind == "member_removed":
        by = f" by {names(ev['by'])}" if ev.get("by") else ""
        what = "banned from" if ev.get("banned") else "removed from"
        return f"* {names(ev.get('user_id'))} was {what} {gid}{by}"
    if kind == "user_renamed":  # said under the old name, then learnt
        line = f"* {names(ev.get('user_id'))} is now called {clean(ev.get('display_name'))}"
        names.learn(ev)
        return line
    if kind == "role_changed":
        return f"* {names(ev.get('user_id'))} is now {clean(ev.get('role'))} in {gid}"
    if kind == "member_muted":
        until = ev.get("until")
        if not until:  # (the server says an unmute with 0; this machine's clock may be ahead of the server's)
            return f"* {names(ev.get('user_id'))} was unmuted in {gid}"
        return f"* {names(ev.get('user_id'))} was muted in {gid} until {hhmm(until)}"
    if kind == "group_updated":
        return format_group_updated(ev)
    if kind == "join_request":
        user = ev.get("user") or {}
        names.learn(user)
        return (f"* {clean(user.get('display_name'))} ({clean(user.get('user_id'))}) asks to join {gid}"
                f" (/approve or /reject {clean(user.get('user_id'))})")
    if kind == "notice":
        where = f" {gid}" if ev.get("group_id") else ""
        if ev.get("account_id"):
            where += f" account {names.account(ev['account_id'])}"
        return f"* notice [{clean(ev.get('kind', ''))}]{where}: {notice_line(ev)}"
    if kind == "group_dissolved":
        by_me = names.me is not None and ev.get("by") == names.me  # (from another device of mine)
        return f"* group {gid} was dissolved" + (" by you" if by_me else "")
    if kind == "group_closed":
        why = " (its owner was blacklisted)" if ev.get("cause") == "owner_blacklisted" else ""
        return f"* group {gid} was closed by the platform{why}: {clean(ev.get('reason', ''))}"
    if kind == "group_suspended":
        return format_group_suspended(ev)
    if kind == "post_deleted":
        return f"* post {clean(ev.get('post_id'))} of {names.account(ev.get('account_id'))} was deleted"
    if kind == "post_comments":
        return (f"* post {clean(ev.get('post_id'))} of {names.account(ev.get('account_id'))}: comments "
                f"{comments_said(ev)}")
    if kind == "comment_deleted":
        return (f"* comment {clean(ev.get('comment_id'))} on post {clean(ev.get('post_id'))} of "
                f"{names.account(ev.get('account_id'))} was taken away")
    if kind == "account_updated":
        return format_account_updated(ev, names)
    if kind == "editor_changed":
        role = "now an editor of" if ev.get("on") else "no longer an editor of"
        return (f"* {names(ev.get('user_id'))} is {role} {clean(ev.get('name', ''))} "
                f"({clean(ev.get('account_id'))})")
    if kind == "invited":
        inviter = ev.get("by")
        names.learn(inviter)
        who = names(inviter["user_id"]) if isinstance(inviter, dict) and inviter.get("user_id") else "someone"
        return f"* {who} invited you to {gid} ({clean(ev.get('name', ''))}): /join {gid} to join"
    if kind == "join_request_decided":  # [ext] to the managers
        who, by = names(ev.get("user_id")), names(ev.get("by"))
        status = ev.get("status")
        if status == "joined":
            return (f"* {who}'s request to join {gid} ended: they joined without one "
                    "(invited, a link, or the group is open)")
        if status == "dropped" and ev.get("by") == ev.get("user_id"):
            # (their account was cancelled, or closed by the platform: the event says not which)
            return f"* {who}'s request to join {gid} ended: their account is gone (cancelled or closed)"
        if status == "dropped":
            return f"* {who}'s request to join {gid} was dropped by {by}: the account is closed"
        return f"* {who}'s request to join {gid} was {clean(status)} by {by}"
    if kind == "ban_changed":  # [ext] to the managers
        ban = ev.get("ban")
        if not isinstance(ban, dict):
            return f"* {names(ev.get('by'))} lifted {names(ev.get('user_id'))}'s ban from {gid}"
        why = f": {clean(ban['reason'])}" if ban.get("reason") else ""
        return f"* {names(ev.get('by'))} banned {names(ev.get('user_id'))} from {gid} {ban_until(ban)}{why}"
    if kind == "invite_link_changed":  # [ext] to the managers
        link = ev.get("link")
        if not isinstance(link, dict):
            return f"* {names(ev.get('by'))} revoked invite link {clean(ev.get('link_id'))} of {gid}"
        return f"* {names(ev.get('by'))} made an invite link for {gid}: {format_invite_link(link, names).strip()}"
    if kind == "join_result":
        if ev.get("status") == "approved":
            return f"* your request to join {gid} ({clean(ev.get('name', ''))}) was approved: /use {gid}"
        ended = {"group_dissolved": "dissolved", "group_closed": "closed by the platform"}.get(str(ev.get("cause")))
        if ended is not None:  # [ext] no decision: the group ended with the request pending
            return f"* your request to join {gid} lapsed: the group was {ended}"
        return f"* your request to join {gid} was {clean(ev.get('status'))}"
    if kind is None and ev.get("ok") is False:  # an error reply to an unreadable frame
        return f"! {clean(ev.get('code'))}: {clean(ev.get('reason', ''))}"
    return f"* {clean(kind)}: {fields_text({k: v for k, v in ev.items() if k != 'ev'})}"


# -- lists in replies -------------------------------------------------------------------------

def format_user(u: dict[str, Any]) -> str:
    """``  u1  [owner]  Alice`` (one of ``/members``): the role in brackets between the user_id and
    the name, where no display name is printed, so a member called "[owner]  Bob" still shows
    ``[member]`` first; ``[?]`` when the server gave no role."""
    role = u.get("role")
    return f"  {clean(u.get('user_id'))}  [{clean(role) if role else '?'}]  {clean(u.get('display_name'))}"


def format_join_request(u: dict[str, Any]) -> str:
    """``  u3  Carol  asked 18:00`` (one of ``/requests``: no role, the requester is no member yet)."""
    line = f"  {clean(u.get('user_id'))}  {clean(u.get('display_name'))}"
    at = u.get("requested_at")
    return line + (f"  asked {hhmm(at)}" if isinstance(at, int) and not isinstance(at, bool) and at > 0 else "")


def ban_until(b: dict[str, Any]) -> str:
    """``until 18:00``, or ``until unbanned`` for a ban with no end."""
    until = b.get("until")
    return f"until {hhmm(until)}" if isinstance(until, int) and until > 0 else "until unbanned"


def format_ban(b: dict[str, Any], names: Names) -> str:
    """``  Bob (u2)  until 18:00  by Alice (u1)  reason: spam``."""
    line = f"  {names(b.get('user_id'))}  {ban_until(b)}"
    if b.get("by"):
        line += f"  by {names(b['by'])}"
    if b.get("reason"):
        line += f"  reason: {clean(b['reason'])}"
    return line


def format_invite_link(link: dict[str, Any], names: Names) -> str:
    """``  3f2a9c01de  2/10 uses  expires 18:00  by Alice (u1)  note: for the team``."""
    uses, most = clean(link.get("uses", 0)), link.get("max_uses")
    line = f"  {clean(link.get('link_id'))}  " + (f"{uses}/{clean(most)} uses" if most else f"{uses} uses")
    expires = link.get("expires_at")
    line += f"  expires {hhmm(expires)}" if isinstance(expires, int) and expires > 0 else "  no expiry"
    if link.get("created_by"):
        line += f"  by {names(link['created_by'])}"
    if link.get("note"):
        line += f"  note: {clean(link['note'])}"
    return line


def _detail(detail: Any) -> str:
    """A log entry's detail; times (``until``, ``deadline``, ``..._at``: epoch milliseconds) as local
    times, yes/no values as ``yes`` and ``no`` (:func:`field_value`)."""
    if isinstance(detail, dict):
        return fields_text(detail)
    return clean(detail)


def format_log_entry(e: dict[str, Any], names: Names) -> str:
    """``  #12 18:00 Alice (u1) ban Bob (u2): seconds=600``; the platform's measures as ``platform``."""
    actor = e.get("actor")
    who = "platform" if actor == "platform" else names(actor)
    line = f"  #{clean(e.get('id'))} {hhmm(e.get('ts'))} {who} {clean(e.get('action'))}"
    if e.get("target_user_id"):
        line += f" {names(e['target_user_id'])}"
    detail = e.get("detail")
    if isinstance(detail, dict) and e.get("action") == "ban" and detail.get("until") == 0:
        detail = {**detail, "until": "never"}  # (a ban with no end; 0 read as a time said nothing)
    if detail not in (None, "", {}):
        line += f": {_detail(detail)}"
    return line


_TARGET_WORDS = {"post": "post_id", "comment": "comment_id", "account": "account_id"}


def _report_target(r: dict[str, Any], names: Names) -> str:
    kind = r.get("target_type")
    if kind == "message":
        return f"message #{clean(r.get('seq'))} in {clean(r.get('group_id'))}"
    if kind == "user":
        return f"user {names(r.get('user_id'))}" + (f" in {clean(r['group_id'])}" if r.get("group_id") else "")
    if kind == "group":
        return f"group {clean(r.get('group_id'))}"
    if kind in _TARGET_WORDS:
        # ``account 700000001 (茶馆周报)``, ``post 12 《本周书单》 of 茶馆周报``, ``comment 5 on 《本周书单》 of
        # 茶馆周报``: the name the account shows now and the post's title while the reporter may read it
        # (none once the post is gone; the server leaves them out then).
        line = f"{kind} {clean(r.get(_TARGET_WORDS[kind]))}"
        if kind == "account":
            return line + (f" ({clean(r['account_name'])})" if r.get("account_name") else "")
        if r.get("post_title"):
            line += f"{' on' if kind == 'comment' else ''} 《{clean(r['post_title'])}》"
        return line + (f" of {clean(r['account_name'])}" if r.get("account_name") else "")
    return clean(kind)


def _outcome(x: dict[str, Any], when: str) -> str:
    if x.get("status") == "open":
        return "open"
    line = f"{clean(x.get('outcome'))} {hhmm(x.get(when))}"
    return line + (f": {clean(x['note'])}" if x.get("note") else "")


def format_my_report(r: dict[str, Any], names: Names) -> str:
    """``  #7 18:00 message #3 in 123456789: spam  -> upheld 18:05: 已删除`` (``-> open`` until handled)."""
    return (f"  #{clean(r.get('report_id'))} {hhmm(r.get('created_at'))} {_report_target(r, names)}: "
            f"{clean(r.get('reason'))}  -> {_outcome(r, 'resolved_at')}")


def format_my_appeal(a: dict[str, Any]) -> str:
    """``  #3 18:00 sanction 17  -> rejected 18:05: 证据确凿`` (upheld: the sanction was lifted, or had
    already ended when the appeal was decided: ``lifted`` false)."""
    upheld = ""
    if a.get("outcome") == "upheld":
        upheld = "; the sanction had already ended" if a.get("lifted") is False else "; the sanction was lifted"
    return f"  #{clean(a.get('appeal_id'))} {hhmm(a.get('created_at'))} sanction {clean(a.get('sanction_id'))}  -> " + (
        _outcome(a, "decided_at") + upheld)


_MEASURES = {"warning": "warning to group", "suspend_group": "posting suspended in group",
             "suspend_admin": "your owner and admin powers suspended",
             "revoke_create": "your right to create groups revoked"}
_ACCOUNT_MEASURES = {"warning": "warning to public account", "restrict_comments": "comments restricted on account",
                     "suspend_account": "publishing suspended for account"}


def format_platform_notice(x: dict[str, Any]) -> str:
    """``  18:00 系统将于 22:00 维护 (to the groups of category work)``: one of ``platform_notices``."""
    to = ""
    if x.get("category"):
        what = "public accounts" if x.get("accounts") else "groups"
        to = f" (to the {what} of category {clean(x['category'])})"
    return f"  {hhmm(x.get('at'))} {clean(x.get('text', ''))}{to}"


def format_my_sanction(x: dict[str, Any]) -> str:
    """``  #17 warning to group 123456789 (茶话) since 18:00, put right by 20:00 (overdue): 广告刷屏``."""
    measures = _ACCOUNT_MEASURES if x.get("account_id") else _MEASURES
    what = measures.get(str(x.get("measure")), clean(x.get("measure")))
    if x.get("account_id"):
        name = f" ({clean(x.get('account_name'))})" if x.get("account_name") else ""
        what += f" {clean(x.get('account_id'))}{name}"
    elif x.get("group_id"):
        what += f" {clean(x.get('group_id'))}" + (f" ({clean(x.get('group_name'))})" if x.get("group_name") else "")
    end = (f", put right by {hhmm(x.get('deadline'))}" if x.get("deadline") else "") if x.get("measure") == "warning" \
        else (f" until {hhmm(x.get('until'))}" if x.get("until") else ", no end date")
    overdue = " (overdue)" if x.get("status") == "overdue" else ""
    head = f"  #{clean(x.get('sanction_id'))} {what} since {hhmm(x.get('starts_at'))}"
    return f"{head}{end}{overdue}: {clean(x.get('reason', ''))}"


_HELD_KINDS = {"group_name": "group name", "announcement": "announcement", "display_name": "display name",
               "account_name": "account name", "account_intro": "account introduction"}


def format_held_text(h: dict[str, Any]) -> str:
    """``  #12 18:00 group name of 123456789: 刷单返利群`` (one of ``my_held_texts``)."""
    where = (f" of {clean(h.get('group_id'))}" if h.get("group_id") else
             f" of account {clean(h.get('account_id'))}" if h.get("account_id") else "")
    text = clean(h.get("text", ""))
    return (f"  #{clean(h.get('held_id'))} {hhmm(h.get('created_at'))} "
            f"{_HELD_KINDS.get(str(h.get('kind')), clean(h.get('kind')))}{where}: {text}")


def format_held_settled(ev: dict[str, Any]) -> str:
    """``held_text_settled``: one of the user's held texts no longer waits, and why."""
    what = _HELD_KINDS.get(str(ev.get("kind")), clean(ev.get("kind")))
    where = (f" for {clean(ev.get('group_id'))}" if ev.get("group_id") else
             f" for account {clean(ev.get('account_id'))}" if ev.get("account_id") else "")
    outcome = ev.get("outcome")
    if outcome == "released":
        done = "was approved" + ("" if ev.get("applied") is not False else ", but not applied: it was changed since")
    elif outcome == "rejected":
        done = "was rejected"
    elif outcome == "withdrawn":
        done = "was withdrawn"
    elif outcome == "superseded":
        done = "was replaced by a newer change"
    else:
        done = f"no longer waits ({clean(outcome)})"
    return f"* your held {what}{where} (#{clean(ev.get('held_id'))}) {done}"


def format_held(op: str, params: dict[str, Any], r: dict[str, Any]) -> str | None:
    """The line for a success with ``held: true``: the word lists sent a message, a display name, a
    group's name or an announcement to the platform's review; a held message is shown to nobody, and
    what was shown before a held name stays shown, until an operator releases it. None when the reply
    is not held (or the op holds nothing)."""
    if not r.get("held"):
        return None
    wait = "is held for the platform's review"
    if op == "send":  # a message: stored, but delivered to nobody (the sender neither) unless released
        seq = f" #{clean(r['seq'])}" if r.get("seq") is not None else ""
        text = clean(params.get("text", ""))
        return (f"* your message{seq} to {clean(params.get('group_id'))} {wait}: nobody sees it (you neither) "
                "until an operator releases it" + (f": {text}" if text else ""))
    if op in ("register", "set_profile"):
        shown = f"you are shown as {clean(params.get('username'))}" if op == "register" else "your name stays as it was"
        return f"* the display name {clean(params.get('display_name'))} {wait}; {shown} until it is approved"
    if op == "create_group":
        neutral = f"群聊 {clean(r.get('group_id'))}"
        name = clean(params.get("name"))
        return f"* the group name {name} {wait}; the group is called {neutral} until it is approved"
    if op == "update_group":
        return f"* the new name {clean(params.get('name'))} {wait}; the group keeps its name until it is approved"
    if op == "set_announcement":
        return f"* the announcement {wait}; the group keeps its announcement until it is approved"
    return None
