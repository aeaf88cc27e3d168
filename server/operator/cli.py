"""``qunguan admin --config PATH [--json] COMMAND ...``: parse, send to the running server, print, exit.

Exit 0 on success, 2 with a one-line reason on a bad argument or an unknown
target, 1 when ``verify-audit`` finds a broken chain, 3 when the command failed
inside the server (or this tool) for a reason nobody expected (the server's log
has the traceback).

Times travel as epoch milliseconds. For people, every listed object gains a
``<key>_local`` string beside each time key (``2026-11-29 13:05:00 CST
(1764392700000)``, in the operator's own time zone, ``TZ``), and such
milliseconds in a one-line outcome are spelled the same way. ``--json`` is for
scripts: every line on stdout is one JSON object (an outcome is ``{"ok": true,
"message": ...}``) and an error is ``{"ok": false, "error": ...}`` on stderr,
with the same exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import stat
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn

from governance.audit import head_problem, json_kind, parse_checkpoints
from governance.shown_text import REVIEW_ITEM_KINDS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage otherwise)
        where = self.prog.removeprefix("qunguan admin").strip()  # _fail says "qunguan admin:" already
        raise SystemExit(_fail(f"{where}: {message}" if where else message))


_json_mode = False  # set by main() from --json: errors and outcomes as JSON objects
# The runs of digits the operator typed (a term, a version, an id): an outcome that names one names what
# was typed, never a time. (A time is typed as a date, sent in milliseconds: never one of these.)
_typed: frozenset[str] = frozenset()
# 13 to 15 digits standing alone (2001-09 to the year 9999 in milliseconds, as far as the server takes a
# time); a run inside a word, such as a hex digest or an id, is part of that word and never a time.
_EPOCH_MS = re.compile(r"(?<![\w.])[1-9]\d{12,14}(?![\w.])")


def _fail(reason: str, code: int = 2) -> int:
    if _json_mode:
        print(json.dumps({"ok": False, "error": reason, "exit": code}, ensure_ascii=False), file=sys.stderr)
    else:
        print(f"qunguan admin: {reason}", file=sys.stderr)
    return code


def local_time(ms: int) -> str:
    """``2026-11-29 13:05:00 CST (1764392700000)``: the operator's local time, its zone, the milliseconds.
    A time no date can show (one stored before times were bounded) is ``out of range (MS)``, never an error."""
    try:
        when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone()
    except (ValueError, OverflowError, OSError):
        return f"out of range ({ms})"
    return f"{when:%Y-%m-%d %H:%M:%S} {when.tzname()} ({ms})"


def _is_time_key(key: str) -> bool:
    return key.endswith(("_at", "_ms")) or key in ("ts", "deadline", "until", "since")


def with_local_times(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with a ``<key>_local`` string (or null) after each time key; the existing keys unchanged."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out[key] = value
        if _is_time_key(key) and f"{key}_local" not in obj and (
                value is None or (isinstance(value, int) and not isinstance(value, bool))):
            out[f"{key}_local"] = None if value is None else local_time(value)
    return out


def _render(line: str, ok: bool) -> str:
    """One reply line as printed: JSON objects gain local times; a text outcome is spelled for people or,
    with --json, wrapped as ``{"ok": ..., "message": ...}``."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        return json.dumps(with_local_times(obj), ensure_ascii=False)
    if _json_mode:
        return json.dumps({"ok": ok, "message": line}, ensure_ascii=False)
    return _EPOCH_MS.sub(lambda m: m.group() if m.group() in _typed else local_time(int(m.group())), line)


# The times the server accepts (server/operator/common.py: MIN_TIME_MS, MAX_TIME_MS), checked here too so
# that a date outside them is refused with its reason before anything is sent.
_MIN_MS, _MAX_MS = 0, 253_370_764_800_000 - 1
_TIME_RANGE = "from 1970-01-01T00:00Z, 08:00 in UTC+8, to 9998-12-31"


def _iso_ms(text: str) -> int:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))  # platform time, UTC+8
    ms = int(when.timestamp() * 1000)
    if not _MIN_MS <= ms <= _MAX_MS:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: times go {_TIME_RANGE}")
    return ms


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {n}")
    return n


def _build() -> argparse.ArgumentParser:
    p = _Parser(prog="qunguan admin")
    p.add_argument("--json", action="store_true",
                   help="for scripts: one JSON object per line, outcomes as {\"ok\": true, \"message\": ...}, "
                        "errors as JSON on stderr (may also come after the command)")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser, metavar="COMMAND", title="commands")

    def cmd(name: str, help: str, *args: tuple[tuple[str, ...], dict[str, Any]]) -> None:
        sp = sub.add_parser(name, help=help)
        for a, kw in args:
            sp.add_argument(*a, **kw)

    gid = (("group_id",), {"metavar": "GID"})
    user = (("username",), {"metavar": "USERNAME", "help": "the user: a username or a user id"})
    reason = (("--reason",), {"required": True})
    seconds = (("--seconds",), {"required": True, "type": _positive})
    report = (("--report",), {"dest": "report_id", "type": _positive, "help": "the report this acts on"})
    cmd("warn-group", "notice of kind warning to a group's members", gid, reason,
        (("--deadline",), {"type": _iso_ms, "help": "rectification deadline (ISO time)"}), report)
    cmd("suspend-group", "suspend posting in a group for a while", gid, seconds, reason, report)
    cmd("close-group", "close a group for good", gid, reason, report)
    cmd("suspend-admin", "suspend a user's owner/admin powers everywhere", user, seconds, reason, report)
    cmd("revoke-create", "revoke a user's right to create groups", user, reason, report)
    cmd("sanctions", "sanctions, one JSON object per line, with their status (in_force, expired, overdue, lifted)",
        (("--group",), {"dest": "group_id"}), (("--user",), {"dest": "username", "help": "a username or a user id"}),
        (("--account",), {"dest": "account_id", "metavar": "AID"}),
        (("--overdue",), {"action": "store_true", "help": "only warnings whose deadline passed"}))
    cmd("lift", "end a sanction early and undo its effect",
        (("sanction_id",), {"type": _positive, "metavar": "SANCTION_ID"}), reason,
        (("--restore-credit",), {"action": "store_true",
                                 "help": "also give back the credit points the sanction took (it was wrong)"}))
    cmd("appeals", "users' appeals against sanctions, one JSON object per line",
        (("--open",), {"action": "store_true"}))
    cmd("decide-appeal", "decide an appeal (upheld lifts the sanction); the user gets a notice",
        (("appeal_id",), {"type": _positive, "metavar": "APPEAL_ID"}),
        (("--outcome",), {"required": True, "choices": ["upheld", "rejected"]}),
        (("--note",), {"required": True}))
    cmd("credit", "change a user's credit score", user, (("--delta",), {"required": True, "type": int}), reason)
    cmd("unlock-login", "forget the wrong passwords that lock an account (or an address) out, as a reset does",
        (("username",), {"metavar": "USERNAME", "nargs": "?", "help": "the account: a username or a user id"}),
        (("--address",), {"metavar": "IP", "help": "an address whose network's wrong passwords and codes to forget"}),
        reason)
    aid = (("account_id",), {"metavar": "AID"})
    cmd("warn-account", "notice of kind account_warning to a public account's owner and editors", aid, reason,
        (("--deadline",), {"type": _iso_ms, "help": "rectification deadline (ISO time)"}), report)
    cmd("restrict-account", "turn a public account's comments off (or back on)", aid,
        (("--comments",), {"required": True, "choices": ["off", "on"]}), reason, report)
    cmd("suspend-account", "suspend a public account's publishing for a while", aid, seconds, reason, report)
    cmd("close-account", "close a public account for good", aid, reason, report)
    cmd("license-account", "grant (or --revoke) the news or government licence of a public account, or "
        "confirm its organisation (--verified)", aid,
        (("--news",), {"action": "store_true"}), (("--government",), {"action": "store_true"}),
        (("--verified",), {"action": "store_true"}), (("--revoke",), {"action": "store_true"}), reason)
    cmd("grant-name", "give a public account a name (or an organisation name) on the reserved list, after "
        "checking the subject's right to it", aid, (("--name",), {}), (("--org-name",), {"dest": "org_name"}),
        reason)
    cmd("account-credit", "change a public account's credit score", aid,
        (("--delta",), {"required": True, "type": int}), reason)
    keep_files = (("--keep-files",), {"action": "store_true", "dest": "keep_files",
                                      "help": "leave the files it carries alone (by default each is taken down)"})
    cmd("remove-post", "remove a post from a public account (kept for the record)",
        (("post_id",), {"type": _positive, "metavar": "POST_ID"}), reason, report, keep_files)
    cmd("remove-comment", "remove one comment on a public account's post (kept for the record)",
        (("comment_id",), {"type": _positive, "metavar": "COMMENT_ID"}), reason)
    cmd("accounts", "public accounts with their figures and classes, one JSON object per line",
        (("--subject",), {"dest": "username", "metavar": "USERNAME",
                          "help": "only the accounts of this user's verified person and organisations"}))
    cmd("blacklist", "close accounts and bar their identities (each alone, with the same reason)",
        (("username",), {"metavar": "USERNAME", "nargs": "+", "help": "a username or a user id; several at once"}),
        reason, report)
    cmd("reports", "list reports, one JSON object per line", (("--open",), {"action": "store_true"}),
        (("--overdue",), {"action": "store_true",
                          "help": "only open reports older than reports.answer_within_hours"}),
        (("--reporter",), {"help": "only the reports this user made (a username or a user id)"}),
        (("--user",), {"dest": "username", "help": "only the reports about this user (a username or a user id)"}))
    cmd("resolve", "resolve one or more reports (the same outcome and note for each)",
        (("report_id",), {"type": _positive, "metavar": "REPORT_ID", "nargs": "+"}),
        (("--outcome",), {"required": True, "choices": ["upheld", "rejected"]}),
        (("--note",), {"required": True}),
        (("--no-penalty",), {"action": "store_true",
                             "help": "upheld without costing the person reported any credit (already charged "
                                     "for the same conduct)"}))
    cmd("show-report", "a report with what it is about: the message (its texts, the one reported), post, "
                       "comment, user, group or account, as stored now",
        (("report_id",), {"type": _positive, "metavar": "REPORT_ID"}))
    cmd("report-stats", "time-to-resolution figures for reports")
    cmd("export", "export a group's, a user's or a public account's records for supervision, or the network "
                  "log of one address",
        (("--group",), {"dest": "group_id"}), (("--user",), {"dest": "username", "help": "a username or a user id"}),
        (("--account",), {"dest": "account_id", "metavar": "AID"}),
        (("--address",), {"metavar": "IP", "help": "an IP address: every network-log row written from it, and "
                                                   "who those rows name (no identity)"}),
        (("--since",), {"type": _iso_ms}), (("--until",), {"type": _iso_ms}), (("--out",), {"required": True}))
    cmd("filing-report", "write the platform's management system as filed (G7, P7): JSON and a printable page",
        (("--out",), {"required": True}), (("--since",), {"type": _iso_ms}), (("--until",), {"type": _iso_ms}))
    cmd("verify-audit", "check the enforcement record: its keyed chain, and every checkpoint of its head",
        (("--manifest",), {"action": "append", "metavar": "MANIFEST",
                           "help": "an export's manifest.json: check the record head it carries too"}),
        (("--checkpoint-file",), {"action": "append", "metavar": "FILE",
                                  "help": "a checkpoint file kept aside (as after a restore): check every "
                                          "record head in it too"}))
    cmd("seal-record", "give the enforcement record's entries from before it had a key their MACs (only for a "
        "database that predates the keyed record)", (("--reason",), {}))
    cmd("purge", "remove what is past retention",
        (("--now",), {"type": _iso_ms, "help": "purge as of this earlier time"}))
    cmd("hold", "keep a group's, a user's or a public account's records past retention (legal hold)",
        (("--group",), {"dest": "group_id"}), (("--user",), {"dest": "username", "help": "a username or a user id"}),
        (("--account",), {"dest": "account_id", "metavar": "AID"}), reason)
    cmd("release-hold", "release a legal hold", (("hold_id",), {"type": _positive, "metavar": "HOLD_ID"}), reason)
    cmd("holds", "legal holds in force (--all: released ones too), one JSON object per line",
        (("--all",), {"action": "store_true"}))
    cmd("rotate-key", "make a new identity key current and re-encrypt identity data under it",
        (("--new-key-file",), {"required": True}), (("--reason",), {}))
    cmd("ping", "check that the server answers")
    cmd("backup", "copy the live database to a file (SQLite; PostgreSQL: pg_dump)", (("--out",), {"required": True}))
    cmd("review-queue", "held and flagged messages, held posts and comments, held and flagged group names, "
        "announcements and display names, one JSON object per line, oldest first",
        (("--open",), {"action": "store_true"}),
        (("--group",), {"dest": "group_id", "help": "only the items of this group"}),
        (("--user",), {"dest": "username", "help": "only the items sent by this user (a username or a user id)"}),
        (("--kind",), {"choices": list(REVIEW_ITEM_KINDS)}),
        (("--after",), {"type": _positive, "metavar": "ITEM_ID", "help": "only the items after this one"}),
        (("--limit",), {"type": _positive, "help": "at most this many items"}))
    cmd("decide", "decide one or more review items (the same decision and note for each)",
        (("item_id",), {"type": _positive, "metavar": "ITEM_ID", "nargs": "+"}),
        (("--decision",), {"required": True, "choices": ["release", "reject", "keep", "remove"]}),
        (("--note",), {"required": True}))
    cmd("set-agreement", "publish a new version of the platform rules and service agreement",
        (("--version",), {"required": True}), (("--rules-file",), {"required": True, "dest": "rules"}),
        (("--agreement-file",), {"required": True, "dest": "agreement"}))
    cmd("notice", "a notice to every connected user, or to the groups of one category (with --accounts: to the "
        "followers and managers of the public accounts of one)",
        (("--text",), {"required": True}), (("--category",), {}),
        (("--accounts",), {"action": "store_true", "help": "--category is a public-account category"}))
    cmd("freeze-category", "suspend posting in every group of a category (with --accounts: publishing in every "
        "public account of one)",
        (("category",), {"metavar": "CATEGORY"}), seconds, reason,
        (("--accounts",), {"action": "store_true", "help": "CATEGORY is a public-account category"}))
    cmd("remove-term", "hide every stored message, and take down every shown post and comment, containing a term "
        "(kept for the record)",
        (("term",), {"metavar": "TERM"}), reason)
    cmd("remove-message", "remove one delivered message from a group (kept for the record)",
        (("group_id",), {"metavar": "GROUP_ID"}), (("seq",), {"type": _positive, "metavar": "SEQ"}), reason,
        keep_files)
    sha256 = (("sha256",), {"metavar": "SHA256", "help": "the file's SHA-256 in hex"})
    cmd("take-down-file", "take down a file by its SHA-256: refused when uploaded or attached, served nowhere",
        sha256, reason)
    cmd("release-file", "let a file taken down be uploaded, attached and served again", sha256, reason)
    cmd("remove-text", "take down a group's name or announcement, a user's display name, or a public account's "
        "name or introduction (the neutral value takes its place; kept for the record)",
        (("kind",), {"metavar": "KIND", "choices": ["group_name", "announcement", "display_name", "account_name",
                                                     "account_intro"]}),
        (("target",), {"metavar": "TARGET", "help": "the group id, the username (or user id), or the account id"}),
        reason)
    return p


# -- what each command takes on the socket ----------------------------------------------------------
# The parser above is the one declaration of every command's arguments: the server checks each request's
# ``args`` against it (server/operator/channel.py) before the command runs, so that a value of the wrong
# kind is refused in one place, whoever sent it, and a name no command takes is not silently ignored.

TEXT, TEXTS, NUMBER, NUMBERS, FLAG, HEADS = "text", "texts", "number", "numbers", "flag", "heads"
_NUMBER_TYPES = (int, _positive, _iso_ms)  # each makes a whole number of what the operator typed

# Arguments sent under another name and as another kind than the parser reads them: verify-audit reads
# each --manifest and --checkpoint-file here and sends the record heads they carry (all in one list).
_SENT_AS = {("verify-audit", "manifest"): ("checkpoints", HEADS),
            ("verify-audit", "checkpoint_file"): ("checkpoints", HEADS)}


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command on the socket: ``label`` names it for people (its key, and the CLI's
    spelling where that differs), ``kind`` what it must be, ``choices`` the texts it may be (or none)."""

    label: str
    kind: str
    choices: tuple[str, ...] = ()

    def problem(self, value: object) -> str | None:
        """Why ``value`` cannot be this argument (one line), or None."""
        if self.kind == FLAG and type(value) is not bool:
            return f"{self.label} must be true or false, not {json_kind(value)}"
        if self.kind == NUMBER and type(value) is not int:
            return f"{self.label} must be a whole number, not {json_kind(value)}"
        if self.kind == NUMBERS and type(value) is not int:  # (one, or several in an array)
            if not isinstance(value, list) or not value:
                return f"{self.label} must be a whole number or an array of them, not {json_kind(value)}"
            for i, one in enumerate(value):
                if type(one) is not int:
                    return f"{self.label}[{i}] must be a whole number, not {json_kind(one)}"
        if self.kind == TEXT and not isinstance(value, str):
            return f"{self.label} must be text, not {json_kind(value)}"
        if self.kind == TEXTS and not isinstance(value, str):  # (one, or several in an array)
            if not isinstance(value, list) or not value:
                return f"{self.label} must be text or an array of texts, not {json_kind(value)}"
            for i, one in enumerate(value):
                if not isinstance(one, str):
                    return f"{self.label}[{i}] must be text, not {json_kind(one)}"
                if (why := text_problem(one)) is not None:
                    return f"{self.label}[{i}] {why}"
        if self.kind in (TEXT, TEXTS) and isinstance(value, str):
            if self.choices and value not in self.choices:
                return f"{self.label} must be {' or '.join(self.choices)}"
            if (why := text_problem(value)) is not None:
                return f"{self.label} {why}"
        if self.kind == HEADS:
            if not isinstance(value, list):
                return f"{self.label} must be an array of record heads, not {json_kind(value)}"
            for i, head in enumerate(value):
                why = head_problem(head)
                if why is not None:
                    return f"{self.label}[{i}] {why}"
        return None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None: no database text type takes U+0000, and a
    lone surrogate (bytes a terminal in another encoding passed on, which Python keeps that way) is
    not a character at all. Refused before the command runs, with the reason, not at the store."""
    if "\x00" in value:
        return "contains a NUL character"
    if (lone := _SURROGATE.search(value)) is not None:
        return (f"is not valid text at character {lone.start() + 1} (bytes in another encoding than UTF-8?); "
                "give it as UTF-8")
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _label(key: str, action: argparse.Action) -> str:
    if action.option_strings:
        option = action.option_strings[0]
        return option if option.lstrip("-").replace("-", "_") == key else f"{key} ({option})"
    shown = str(action.metavar or key)
    return key if shown.lower() == key else f"{key} ({shown})"


# Arguments only this tool sends, never typed: verify-audit's heads in several requests go under a token
# (``stage``), kept by the server until the last request, which says how many it sent ahead (``staged``).
# Each --manifest also sends its file's digest and when it was made (``manifests``: SHA256@GENERATED_AT),
# which the record's ``export`` entry must name.
_SOCKET_ONLY = {("verify-audit", "stage"): Arg("stage", TEXT), ("verify-audit", "staged"): Arg("staged", NUMBER),
                ("verify-audit", "manifests"): Arg("manifests", TEXTS)}


@cache
def arguments() -> dict[str, dict[str, Arg]]:
    """{command: {argument name on the socket: :class:`Arg`}}, from the parser's declarations."""
    out: dict[str, dict[str, Arg]] = {}
    sub = next(a for a in _build()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        declared: dict[str, Arg] = {}
        for action in parser._actions:
            if action.default == argparse.SUPPRESS:  # --help
                continue
            key, kind = _SENT_AS.get((name, action.dest), (action.dest, ""))
            if not kind:
                if action.nargs == 0:
                    kind = FLAG
                elif action.type is None:
                    kind = TEXTS if action.nargs == "+" else TEXT
                elif action.type in _NUMBER_TYPES:
                    kind = NUMBERS if action.nargs == "+" else NUMBER
                else:
                    raise TypeError(f"{name} {action.dest}: say what its type {action.type} sends")
            choices = tuple(str(c) for c in action.choices) if action.choices else ()
            declared.setdefault(key, Arg(_label(key, action), kind, choices))  # (the first names a shared key)
        out[name] = declared
    for (name, key), arg in _SOCKET_ONLY.items():
        out[name][key] = arg
    return out


INTERNAL_EXIT = 3  # as server/operator/channel.py: a command that failed for a reason nobody expected


class _NoAnswer(Exception):
    """The server closed the connection without a whole answer (it stopped, or crashed, meanwhile)."""


async def _call(socket_path: str, request: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(socket_path)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        # The answer is one line, then the server closes: read it to the end, whatever its size (a
        # listing of thousands of sanctions or queue items is megabytes; readline stops at 64 KiB).
        line = await reader.read()
    except ConnectionError as err:  # (reset, broken pipe: the server went away with the request unanswered)
        raise _NoAnswer from err
    finally:
        writer.close()
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise _NoAnswer
    return reply


def main(config_path: str | None, argv: list[str]) -> int:
    """``qunguan admin``: the exit status of the command (module docstring). A failure of this tool
    itself that nobody expected is one line and :data:`INTERNAL_EXIT`, never a traceback and exit 1,
    which is verify-audit's finding."""
    try:
        return _main(config_path, argv)
    except Exception as err:  # (SystemExit and KeyboardInterrupt are no failures of the tool)
        return _fail(f"internal error in qunguan admin: {type(err).__name__}: {err}", INTERNAL_EXIT)


def _main(config_path: str | None, argv: list[str]) -> int:
    from server.config import ConfigError, load_config

    global _json_mode, _typed
    cut = argv.index("--") if "--" in argv else len(argv)  # --json anywhere before a "--"
    _json_mode = "--json" in argv[:cut]
    _typed = frozenset(run for arg in argv for run in re.findall(r"\d+", arg))
    argv = [a for a in argv[:cut] if a != "--json"] + argv[cut:]
    if not argv:  # no command: say which there are
        if _json_mode:
            return _fail("no command given; one of: " + ", ".join(_commands()))
        _build().print_help()
        return 2
    try:
        args = _build().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        cfg = load_config(config_path)
    except ConfigError as err:
        return _fail(f"config: {err.problems[0]}")
    # (--json was taken out above: it is this tool's, not the command's)
    request_args = {k: v for k, v in vars(args).items() if k not in ("cmd", "json") and v is not None}
    if args.cmd == "set-agreement":
        for key, flag in (("rules", "--rules-file"), ("agreement", "--agreement-file")):
            try:
                text = read_file(request_args[key], AGREEMENT_FILE_MAX).decode("utf-8")
                request_args[key] = text.replace("\r\n", "\n").replace("\r", "\n")  # (as text mode reads lines)
            except NotAFile as err:
                return _fail(f"{flag} {request_args[key]} {err}")
            except OSError as err:
                return _fail(f"cannot read {err.filename}: {err.strerror}")
            except UnicodeDecodeError as err:
                return _fail(f"{flag} {request_args[key]} is not UTF-8 text (byte {err.start}); save it as UTF-8")
    if args.cmd == "verify-audit":
        for path in request_args.get("manifest") or ():
            request_args.setdefault("manifests", []).append(_manifest_written_as(path))
        for key, read in (("manifest", _manifest_heads), ("checkpoint_file", _checkpoint_heads)):
            for path in request_args.pop(key, None) or ():
                found, why = read(path)
                if why is not None:
                    return _fail(f"--{key.replace('_', '-')} {path}: {why}")
                request_args.setdefault(_SENT_AS["verify-audit", key][0], []).extend(found)
        written = [m for m in request_args.pop("manifests", []) if m is not None]
        if written:
            request_args["manifests"] = written
    if args.cmd == "export" and sum(k in request_args for k in ("group_id", "username", "account_id", "address")) != 1:
        return _fail("export needs exactly one of --group, --user, --account or --address")
    if args.cmd == "hold" and sum(k in request_args for k in ("group_id", "username", "account_id")) != 1:
        return _fail("hold needs exactly one of --group, --user or --account")
    for key in ("out", "new_key_file"):  # the server resolves nothing against its own folder
        if key in request_args:
            request_args[key] = os.path.abspath(request_args[key])
    socket_path = str(cfg.admin.socket)
    requests = [request_args]
    if args.cmd == "verify-audit" and "checkpoints" in request_args:
        requests = _staged_requests(request_args, _head_batches(request_args["checkpoints"]))
    reply: dict[str, Any] = {}
    for one in requests:  # (several only for verify-audit's heads sent ahead: a refusal ends it)
        answer = _ask(socket_path, {"cmd": args.cmd, "args": one})
        if isinstance(answer, int):
            return answer
        reply = answer
        if int(reply.get("exit", 0)) != 0:
            break
    code = int(reply.get("exit", 0))
    try:
        for line in reply.get("lines", []):
            print(_render(line, code == 0))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left early (`qunguan admin reports | head`): the command itself is done, so
        # its exit code stands. Point stdout at /dev/null so that the flush at exit fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def _ask(socket_path: str, request: dict[str, Any]) -> dict[str, Any] | int:
    """The server's reply to one request, or the exit status after saying why there is none, or
    why it refused (2) or failed inside (:data:`INTERNAL_EXIT`)."""
    try:
        reply = asyncio.run(_call(socket_path, request))
    except (FileNotFoundError, NotADirectoryError, ConnectionRefusedError):
        return _fail(f"no server is running for this config (no socket at {socket_path})")
    except PermissionError:
        return _fail(f"not allowed to open {socket_path}: run as the server's user "
                     "(with [[operators]]: as a named operator in the socket's group)")
    except _NoAnswer:
        return _fail("the server closed the connection without answering (did it stop?): "
                     "its log says whether the command ran")
    except OSError as err:
        return _fail(f"cannot reach the server at {socket_path}: {err.strerror or err}")
    if not reply.get("ok"):
        # 2: the request was refused; INTERNAL_EXIT: it failed inside the server (the only other status sent).
        return _fail(str(reply.get("error", "refused")), INTERNAL_EXIT if reply.get("exit") == INTERNAL_EXIT else 2)
    return reply


# verify-audit's heads go in requests of at most this many bytes: the operator socket takes 4 MiB a
# request and a cluster's gateway forwards it in one NATS message (1 MiB by default), while a checkpoint
# file, never pruned, grows a line (about 120 bytes) each interval the record grew: months of them pass both.
HEAD_BATCH_BYTES = 256 * 1024


def _head_batches(heads: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``heads`` without repeats (the same count, last entry and mac: the same check; the first is kept,
    so the first broken finding is the one a single request gives), in batches of at most
    :data:`HEAD_BATCH_BYTES` of JSON; all but the last are sent ahead of it (:func:`_staged_requests`)."""
    seen: set[tuple[Any, ...]] = set()
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for head in heads:
        key = (head["count"], head["last_id"], head["mac"])
        if key in seen:
            continue
        seen.add(key)
        n = len(json.dumps(head)) + 2
        if batches[-1] and size + n > HEAD_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(head)
        size += n
    return batches


def _staged_requests(request_args: dict[str, Any], batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """verify-audit's requests for ``batches`` of heads: one, or each batch but the last sent ahead under a
    token drawn here, and the last verifying once against them all (server/record.py, StagedHeads)."""
    if len(batches) == 1:
        return [{**request_args, "checkpoints": batches[0]}]
    token = secrets.token_hex(16)
    ahead = sum(len(b) for b in batches[:-1])
    return ([{"stage": token, "checkpoints": b} for b in batches[:-1]]
            + [{**request_args, "checkpoints": batches[-1], "stage": token, "staged": ahead}])


def _manifest_written_as(path: str) -> str | None:
    """``SHA256@GENERATED_AT`` of an export's manifest file as it is (its bytes' digest, and when it
    says it was made: 0 when it does not say), for the server to find the ``export`` entry naming it;
    None when it cannot be read as one (:func:`_record_head` says why)."""
    try:
        raw = read_file(path, RECORD_FILE_MAX)
        at = json.loads(raw.decode("utf-8")).get("generated_at")
    except (OSError, NotAFile, ValueError, AttributeError):
        return None
    # (no time, or a wrong one: the whole record is looked through; a manifest is not changed to hide)
    return f"{hashlib.sha256(raw).hexdigest()}@{at if type(at) is int and at >= 0 else 0}"


def _manifest_heads(path: str) -> tuple[list[Any], str | None]:
    """:func:`_record_head` as a list, like :func:`_checkpoint_heads`."""
    head, why = _record_head(path)
    return ([head] if why is None else []), why


# What the operator's files may hold: an agreement or its rules are sent whole in one request (the
# operator socket takes 4 MiB); a manifest or a checkpoint file, far more than any is.
AGREEMENT_FILE_MAX = 4 * 1024 * 1024
RECORD_FILE_MAX = 64 * 1024 * 1024


class NotAFile(Exception):
    """A file the operator named that is no regular file (a pipe, a device) or is too large to be one
    of those this tool reads: refused with the words of the exception."""


def read_file(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them. Opened without waiting
    (``O_NONBLOCK``: a pipe named there held the command for ever) and read only when it is a regular
    file (``/dev/zero`` filled the memory); OSError as ``open`` raises it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            raise NotAFile("is not a regular file (a pipe or a device): give a file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise NotAFile(f"is larger than {limit // (1024 * 1024)} MiB: not a file this command reads")
    return data


def _record_head(path: str) -> tuple[Any, str | None]:
    """The record head an export's manifest file carries, or the reason it has none (for people: a
    missing file, an unreadable one, not JSON, not a manifest, the field that is missing or wrong)."""
    try:
        text = read_file(path, RECORD_FILE_MAX).decode("utf-8")
    except FileNotFoundError:
        return None, "no such file"
    except IsADirectoryError:
        return None, "is a folder, not a file (give the export's manifest.json)"
    except NotAFile as err:
        return None, str(err)
    except UnicodeDecodeError as err:
        return None, f"not an export manifest: not UTF-8 text (byte {err.start})"
    except OSError as err:
        return None, f"cannot read it: {err.strerror or err}"
    try:
        manifest = json.loads(text)
    except ValueError as err:
        where = f" (line {err.lineno}, column {err.colno}: {err.msg})" if isinstance(err, json.JSONDecodeError) else ""
        return None, f"not an export manifest: not JSON{where}"
    if not isinstance(manifest, dict):
        return None, f"not an export manifest: it holds {json_kind(manifest)}, not an object"
    if "record_head" not in manifest:
        return None, "not an export manifest: it has no record_head"
    why = head_problem(manifest["record_head"])
    return manifest["record_head"], None if why is None else f"record_head {why}"


def _checkpoint_heads(path: str) -> tuple[list[dict[str, Any]], str | None]:
    """The record heads in a checkpoint file (one JSON line each, as ``audit.checkpoint_file``), or the
    reason it gives none. A line that is not a head is skipped with a word on stderr, as the server
    skips it in its own file (both read it with :func:`governance.audit.parse_checkpoints`): one
    damaged line must not hide the others."""
    try:
        data = read_file(path, RECORD_FILE_MAX)
    except FileNotFoundError:
        return [], "no such file"
    except IsADirectoryError:
        return [], "is a folder, not a file"
    except NotAFile as err:
        return [], str(err)
    except OSError as err:
        return [], f"cannot read it: {err.strerror or err}"
    found, bad = parse_checkpoints(data)
    for n, why in bad:
        print(f"qunguan admin: --checkpoint-file {path} line {n} is not a checkpoint ({why}); skipped",
              file=sys.stderr)
    heads = [cp.as_dict() for cp in found]
    if not heads:
        return [], "not a checkpoint file: no line in it is a checkpoint"
    return heads, None


def _commands() -> list[str]:
    sub = next(a for a in _build()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)
