"""Supervision export (G13): a group's, a user's or a public account's records over a time range, verifiable.

``qunguan admin export (--group GID | --user USERNAME | --account AID | --address IP) [--since ISO]
[--until ISO] --out DIR``
makes the server write, into a new (or empty) folder DIR:

  messages.jsonl    every stored message of the target in the range, deleted
                    ones included (``deleted: true``, text kept) and held ones
                    (``held``: 0 delivered, 1 held for review, 2 rejected);
                    an edited one has its latest text, ``edited_at`` and
                    ``versions``: every earlier text with the time it was written
  membership.jsonl  membership changes (joins, leaves, kicks, ...)
  members.jsonl     (group exports) everyone who was a member at some moment of
                    the range, with username, display name, and whether and as
                    what they are a member now
  netlog.jsonl      network logs: for a user, theirs (and their phone's code
                    requests, matched by its keyed hash); for a group, those of
                    every user who posted or whose membership changed in the
                    range, or who is a member now
  audit.jsonl       the enforcement-record entries about the target, with
                    their hash-chain fields (``verify-audit`` checks the chain)
  measures.jsonl    the platform's sanctions on the target (the group, the user,
                    the public account) in force at some moment of the range or
                    taken in it: those standing when it began (a warning until
                    lifted) and those begun in it, lifted ones included; a
                    removal (of a message, post, comment) only in its own range
  reports.jsonl     the complaints made or resolved in the range, open ones
                    included: for a group, those in it (about it, a message in
                    it, a member named in it); for a user, those they made and
                    those about them or what they wrote; for a public account,
                    those about it, its posts and comments. Each with its
                    reporter, reason and detail, status, outcome, note and
                    ``resolved_by`` (every export but an address's)
  group.json        (group exports) the group's row
  identity.json     (user exports) the account and its identity: phone, legal
                    name and ID number, decrypted here and only here
  posts.jsonl,      (user exports) what the user wrote on public accounts: the
  comments.jsonl    posts they published (as owner or editor) and their
                    comments (with the post's ``account_id``), deleted,
                    removed, held and hidden ones included
  (public-account exports, P10-P13, instead of the files above but audit.jsonl:)
  account.json      the account's row: subject, organisation, owner, labels,
                    credit, status; no identity data
  posts.jsonl       its posts, deleted, removed and held ones included (their
                    uploads in media.jsonl, carried by (account_id, post_id))
  comments.jsonl    the comments on them, whatever their status
  editors.jsonl     its editors now
  measures.jsonl    as above: its warnings, restrictions, suspensions, closing
                    and post removals
  (address exports, Art. 13: who was on one IP address when, instead of the files above:)
  netlog.jsonl      every network-log row written from the address in the range,
                    whoever it names (none for connections that never logged in)
  users.jsonl       each user those rows name: username, display name, first
                    and last row from the address, how many; no identity
  media.jsonl,      (when the exported messages or posts carry attachments) the media rows,
  media/<sha256>    and each file once (server/operator/export_media.py)
  manifest.json     the query (target, since, until), when it was generated,
                    and for each file above its SHA-256, line count and size
                    (``media``: each copied file's SHA-256 and size)

The store's records are read from one snapshot (``Store.export_snapshot``): a purge or a send
committing meanwhile shows in none of the files, so they agree with each other. The messages (a
group's by seq, a user's by (ts, group_id, seq): keyset pages), the logs (membership, network
log, record: one statement each, read by a cursor), an address's network-log rows, complaints,
appeals, a user's reactions, posts and comments, an account's posts, comments and record (the same)
are read :data:`MESSAGES_PER_READ` rows at a time within that snapshot, each page written before the
next is read: an export holds a page of them, never all (tests/server/test_export_bounded.py). Read
whole are only what is small by rule: a target's measures, an account's editors, its row, a person's
identity. Being of one snapshot, the pages need no bound taken at the
start to agree with each other.

One JSON object per line, UTF-8, keys sorted; times are epoch milliseconds
with an ISO 8601 twin in platform time (UTC+8). The range is ``since <= ts <
until``; without ``--until`` it ends when the export is generated. Files are
created mode 0600 (they hold personal data), the folder 0700. Each export is
written to the enforcement record (action ``export``) with the manifest's
SHA-256, so a copy handed over can be matched to the record; when that entry
cannot be written, the export fails and its files are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from protocol.errors import shown
from server import gcpolicy, record
from server.handlers.common import known_group
from server.operator import export_media
from server.operator.channel import OperatorError
from server.operator.common import OPERATOR, apply, operator_name, time_of, user_of
from server.operator.outdir import OutDir
from server.storage.base import ExportReads, distinct_values
from server.storage.changes import Audit

if TYPE_CHECKING:
    from server.context import Context
    from server.state import Group

FORMAT = "qunguan-export/1"
PLATFORM_TZ = dt.timezone(dt.timedelta(hours=8))
_MIN_TS = -(2**62)


def iso(ms: int | None) -> str | None:
    """``ms`` in platform time, ISO 8601; None for None and for a time no date can show (one stored
    before operator times were bounded: an export must not fail on it)."""
    if ms is None:
        return None
    try:
        return dt.datetime.fromtimestamp(ms / 1000, PLATFORM_TZ).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return None


def _with_times(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    for item in items:
        for k in keys:
            if k in item:
                item[k + "_iso"] = iso(item[k])
    return items


# Lines encoded and written at a time. Made whole, a group's messages.jsonl of a million lines was one
# join and one encode of 470 MB, each a single call that holds the interpreter's lock, in a worker
# thread: the event loop waited 5.2 s for it.
LINES_PER_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Written:
    """A file of the export written already, a page at a time (the messages: :func:`_stream_messages`; the
    logs: :func:`_stream_log`, :func:`_stream_netlog`, an address's: :func:`_address_files`; the rest:
    :func:`_stream_rows`): its manifest entry."""

    entry: dict[str, Any]


FileContent = list[dict[str, Any]] | dict[str, Any] | Written


def _write_files(out: OutDir, files: dict[str, FileContent]) -> list[dict[str, Any]]:
    """Write each file (a list: JSON lines; a dict: one JSON line; Written: written already); return the
    manifest entries."""
    entries = []
    for name, content in files.items():
        if isinstance(content, Written):
            entries.append(content.entry)
            continue
        objs = content if isinstance(content, list) else [content]
        sha256, size = out.write_chunks(name, _lines(objs))
        entries.append({"name": name, "sha256": sha256, "lines": len(objs), "bytes": size})
    return entries


def _lines(objs: list[Any]) -> Iterator[bytes]:
    for i in range(0, len(objs), LINES_PER_CHUNK):
        yield "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n"
                      for o in objs[i:i + LINES_PER_CHUNK]).encode()


def _let_go(files: dict[str, Any]) -> None:
    """Empty the files' lists a slice at a time, on a worker thread. Left to go when the export returns,
    a million rows were freed on the event loop in one step (470 ms); freed here, the loop gets its
    turn between slices."""
    for content in files.values():
        if isinstance(content, list):
            while content:
                del content[-LINES_PER_CHUNK:]


def _write_manifest(out: OutDir, manifest: dict[str, Any]) -> str:
    data = (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
    return out.write("manifest.json", data)


def _decode_detail(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        with contextlib.suppress(ValueError):
            item["detail"] = json.loads(item["detail"]) if item.get("detail") else {}
    return items


# Names are what the shaping below reads of the server's memory: the usernames of the user ids it
# names, taken on the event loop (``_usernames``). The shaping itself (a dict, JSON and two ISO times
# for every row) runs in a worker thread: on the loop it held every chat up for 8 µs a row (a public
# account of 42,000 comments: 400 ms).
Names = Mapping[str, str]


def _netlog(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """netlog.jsonl's lines of the network-log rows ``rows``: their detail decoded, their times written out."""
    return _with_times(_decode_detail(rows), "ts")


def _usernames(app: Context, *ids: Iterable[str | None]) -> dict[str, str]:
    users = app.state.users
    return {uid: u.username for uid in set().union(*ids) if uid and (u := users.get(uid)) is not None}


def _messages(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for m in rows:
        m["deleted"] = m["deleted_at"] is not None
        m["sender_username"] = names.get(m["sender_id"])
        for key in ("mentions", "attachments"):
            m[key] = json.loads(m[key]) if m.get(key) else None
        m["mention_all"] = bool(m.get("mention_all"))
        for key in ("versions", "reactions"):
            if key in m:
                _with_times(m[key], "ts")
    return _with_times(rows, "ts", "deleted_at", "edited_at")


# Messages whose versions and reactions are read at a time: the keys of a million (a list, then the
# statement's parameters) built in one step held the event loop.
MESSAGES_PER_READ = 20_000


async def _add_versions(reads: ExportReads, messages: list[dict[str, Any]]) -> None:
    """Each edited message gets ``versions``: its earlier texts, oldest first, each with the time it was
    written; each message reacted to gets ``reactions``: every reaction left or taken back, in order
    (``{user_id, emoji, added, ts}``: free text members saw, kept for the record). (Their times are
    shaped with the message's, by ``_messages``.)"""
    for i in range(0, len(messages), MESSAGES_PER_READ):
        part = messages[i:i + MESSAGES_PER_READ]
        found = await reads.message_versions(
            [(m["group_id"], m["seq"]) for m in part if m.get("edited_at") is not None])
        reacted = await reads.reaction_logs([(m["group_id"], m["seq"]) for m in part])
        for m in part:
            versions = found.get((m["group_id"], m["seq"]))
            if versions:
                m["versions"] = versions
            log = reacted.get((m["group_id"], m["seq"]))
            if log:
                m["reactions"] = log


async def _write_pages(out: OutDir, name: str, pages: AsyncIterator[list[dict[str, Any]]]) -> Written:
    """The file ``name`` of an export written a page of lines at a time as ``pages`` gives them: the same
    lines, in the same order, as written whole, never all held at once."""
    f = await asyncio.to_thread(out.stream, name)
    lines = 0
    try:
        async for page in pages:
            await asyncio.to_thread(f.write, _lines(page))
            lines += len(page)
        sha256 = await asyncio.to_thread(f.finish)
    finally:
        f.close()
    return Written({"name": name, "sha256": sha256, "lines": lines, "bytes": f.size})


# The key of the last message of a page, the next page is read after: a group's (its seq) or a
# user's ((ts, group_id, seq)), read a page at a time by ``MessagePage``.
MessagePage = Callable[[dict[str, Any] | None], Awaitable[list[dict[str, Any]]]]


async def _stream_messages(app: Context, reads: ExportReads, out: OutDir, next_page: MessagePage
                           ) -> tuple[Written, set[str], list[dict[str, Any]]]:
    """messages.jsonl of a group's or a user's export, read and written :data:`MESSAGES_PER_READ`
    messages at a time (``next_page``: those after the last message of the page before, None at
    first); with their senders (whose network logs a group's export holds) and the messages that
    carry attachments (their keys and attachments alone). Held whole, a group's messages were every
    row of the export at once: a group of 300,000 raised the process's memory by some 250 MB for good
    (a leak review: a ratchet at the largest export); a user's were as many as they ever sent."""
    senders: set[str] = set()
    carrying: list[dict[str, Any]] = []

    async def pages() -> AsyncIterator[list[dict[str, Any]]]:
        last = None
        while True:
            page = await next_page(last)
            if not page:
                return
            last = page[-1]
            await _add_versions(reads, page)
            on_page = await distinct_values(page, "sender_id")
            senders.update(on_page)
            shaped = await asyncio.to_thread(_messages, _usernames(app, on_page), page)
            carrying.extend({"group_id": m["group_id"], "seq": m["seq"], "attachments": m["attachments"]}
                            for m in shaped if m.get("attachments"))
            yield shaped
            if len(page) < MESSAGES_PER_READ:
                return

    written = await _write_pages(out, "messages.jsonl", pages())
    return written, senders, carrying


async def _stream_netlog(app: Context, reads: ExportReads, out: OutDir, people: list[str], lo: int, hi: int
                         ) -> Written:
    """netlog.jsonl of a group's export, read by one cursor and written :data:`MESSAGES_PER_READ` rows
    at a time: everyone present in six months of a large group logs in, connects and is refused many
    times over; read whole, those were millions of rows in memory at once."""
    return await _stream_rows(app, out, "netlog.jsonl", reads.group_export_netlog(people, lo, hi, MESSAGES_PER_READ),
                              _unnamed(_netlog))


def _log_lines(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """membership.jsonl's (and reactions.jsonl's) lines of the rows ``rows``: their times written out."""
    return _with_times(rows, "ts")


def _audit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """audit.jsonl's lines of the record's entries ``rows``: their detail decoded, their times written out."""
    return _with_times(_decode_detail(rows), "ts")


# How each log an export reads by pages (ExportReads.export_log) is shaped into its file's lines.
_LOG_LINES: dict[Literal["membership", "netlog", "audit"], Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {
    "membership": _log_lines, "netlog": _netlog, "audit": _audit}


async def _stream_log(app: Context, reads: ExportReads, out: OutDir, target: Literal["group", "user"],
                      target_id: str, log: Literal["membership", "netlog", "audit"], lo: int, hi: int) -> Written:
    """``{log}.jsonl`` of a group's export (its membership log, its record) or a user's (theirs, their
    network log, their record), read by one cursor of the snapshot and written
    :data:`MESSAGES_PER_READ` rows at a time: a large group's years of joins and of the record, a
    person's years of logins, were held whole before (and twice: as rows, then as lines)."""
    return await _stream_rows(app, out, f"{log}.jsonl",
                              reads.export_log(target, target_id, log, lo, hi, MESSAGES_PER_READ),
                              _unnamed(_LOG_LINES[log]))


def _members(app: Context, group: Group | None, present: list[str]) -> list[dict[str, Any]]:
    """members.jsonl: everyone who was a member of the group at some moment of the range (as the
    netlog's people: ``present_in_range``), each with their username and display name and whether, and
    as what, they are a member now (nobody, of a group dissolved or closed: ``group.jsonl`` says when);
    what they did in the range is in membership.jsonl. No identity:
    a person's is in their own export (``--user``)."""
    users = app.state.users
    rows = []
    live = group is not None and group.alive  # (a dissolved or closed group has nobody in it now)
    for uid in present:
        user = users.get(uid)
        member = group.members.get(uid) if live and group is not None else None
        rows.append({"user_id": uid, "username": user.username if user else None,
                     "display_name": user.display_name if user else None,
                     "member_now": member is not None, "role_now": member.role if member else None})
    return rows


def _measures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """measures.jsonl: the platform's sanctions on the target in force during the range or taken in it
    (``MEASURES_IN_RANGE``), lifted ones included, with when and by whom."""
    return _with_times(rows, "starts_at", "expires_at", "lifted_at", "credit_given_back_at")


async def export(app: Context, args: dict[str, Any]) -> list[str]:
    gid, username, aid = args.get("group_id"), args.get("username"), args.get("account_id")
    address = args.get("address")
    if sum(x is not None for x in (gid, username, aid, address)) != 1:
        raise OperatorError("export needs exactly one of --group, --user, --account or --address")
    now = app.now_ms()
    since, until = time_of(args, "since", "--since must be a time"), time_of(args, "until", "--until must be a time")
    lo = since if since is not None else _MIN_TS
    hi = until if until is not None else now + 1
    if lo >= hi:
        raise OperatorError("--since must be before --until")
    if not args.get("out"):
        raise OperatorError("--out is required")
    target: dict[str, Any]
    if aid is not None:
        aid = str(aid)
        if aid not in app.state.accounts:
            raise OperatorError(f"unknown account {aid}")
        target = {"type": "account", "account_id": aid}
        audit_group, audit_target = None, aid
    elif gid is not None:
        gid = str(gid)
        if await known_group(app, gid) is None:
            raise OperatorError(f"unknown group {gid}")
        target = {"type": "group", "group_id": gid}
        audit_group, audit_target = gid, gid
    elif address is not None:
        shown = address_of(str(address))
        target = {"type": "address", "address": shown}
        audit_group, audit_target = None, shown
    else:
        uid = user_of(app, args).user_id
        target = {"type": "user", "user_id": uid, "username": app.state.users[uid].username}
        audit_group, audit_target = None, uid
    query = {"target": target, "since": since, "until": until, "since_iso": iso(since),
             "until_iso": iso(until), "range": "since <= ts < until (until: generated_at when not given)"}
    out = OutDir.claim(str(args["out"]))
    loop = asyncio.get_running_loop()
    # From the claim on, whatever fails removes what this export wrote (the folder is its own).
    try:
        files, (messages, posts) = await _gather(app, target, lo, hi, out)
        media = export_media.media_rows(app.state.media,
                                        await asyncio.to_thread(export_media.carried_by, messages, posts))
        if media:
            files["media.jsonl"] = _with_times(media, "created_at")
        entries = await loop.run_in_executor(None, _write_files, out, files)
        media_files = await loop.run_in_executor(None, export_media.copy_files, app.cfg.media.path, out, media)
        manifest = {"format": FORMAT, "query": query, "generated_at": now, "generated_at_iso": iso(now),
                    "operator": operator_name(),
                    "retention_days": app.cfg.retention.days, "files": entries, "media": media_files,
                    "record_head": (await record.current_head(app)).as_dict()}
        digest = await loop.run_in_executor(None, _write_manifest, out, manifest)
        await apply(app, audit=Audit(
            app.now_ms(), OPERATOR, operator_name(), "export", audit_group, audit_target, "export for supervision",
            {"query": query, "out": str(out), "manifest_sha256": digest,
             "files": {e["name"]: e["sha256"] for e in entries}},
        ))
    except BaseException:
        # Not on the record, so not handed over: what was written (identity data among it) goes.
        # (Only what this command created, through the folder it claimed: server/operator/outdir.py.)
        await asyncio.shield(loop.run_in_executor(None, out.abandon))
        raise
    out.release()
    await asyncio.to_thread(_let_go, files)
    await asyncio.to_thread(gcpolicy.give_back_memory)
    label = target.get("group_id") or target.get("username") or target.get("account_id") or target.get("address")
    lines = [f"exported {target['type']} {label} to {out}"]
    lines += [f"{e['name']}: {e['lines']} lines, sha256 {e['sha256']}" for e in entries]
    lines.append(f"manifest.json: sha256 {digest}")
    return lines


async def _gather(app: Context, target: dict[str, Any], lo: int, hi: int, out: OutDir
                  ) -> tuple[dict[str, Any], Carriers]:
    """The files of an export of ``target`` (but media.jsonl), and the messages and posts whose
    attachments media.jsonl lists."""
    async with app.store.export_snapshot() as reads:  # every file from the same moment of the store
        if target["type"] == "address":
            return await _address_files(app, reads, out, target["address"], lo, hi), ([], [])
        files, items = await _gather_from(app, reads, target, lo, hi, out)
        kind, target_id = target["type"], target[f"{target['type']}_id"]
        files["reports.jsonl"] = await _stream_rows(
            app, out, "reports.jsonl", reads.export_reports(kind, target_id, lo, hi, MESSAGES_PER_READ), _reports,
            "reporter_id", "user_id")
        files["appeals.jsonl"] = await _stream_rows(
            app, out, "appeals.jsonl", reads.export_appeals(kind, target_id, lo, hi, MESSAGES_PER_READ), _appeals,
            "user_id")
        return files, items


def _reports(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """reports.jsonl (G12): the complaints themselves, who made each and about whom, its reason and
    detail, its outcome, the operator's note and who resolved it; open ones too."""
    for r in rows:
        r["report_id"] = str(r["report_id"])
        r["reporter_username"] = names.get(r["reporter_id"])
        r["username"] = names.get(r["user_id"]) if r["user_id"] else None
    return _with_times(rows, "created_at", "resolved_at")


def _appeals(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """appeals.jsonl (Art. 11): the appeals themselves, kept for good with the measures they contest:
    who appealed, what they wrote, the measure, the decision, the operator's note and who decided."""
    for r in rows:
        r["appeal_id"], r["sanction_id"] = str(r["appeal_id"]), str(r["sanction_id"])
        r["username"] = names.get(r["user_id"])
        # (upheld only: whether the decision lifted the measure, or it had already ended)
        r["lifted"] = bool(r["lifted"]) if r["outcome"] == "upheld" else None
    return _with_times(rows, "created_at", "decided_at")


# -- one address's network log --------------------------------------------------------------------
def address_of(text: str) -> str:
    """The operator's ``--address`` as the network log writes addresses (an IPv4 address inside an IPv6
    one as the IPv4 address), or refused with why."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        addr = None
    if addr is None or (isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None):
        # (a zone, fe80::1%eth0, names a link of one machine: the network log holds none)
        raise OperatorError(f"--address must be one IP address, such as 203.0.113.5 or 2001:db8::1, "
                            f"not '{shown(text, 80)}'") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _spellings(address: str) -> list[str]:
    """How the network log may hold ``address``: as a proxy named it (IPv4 as IPv4), or as the socket
    of a listener on both IP versions gave it (IPv4 inside IPv6)."""
    return [address, f"::ffff:{address}"] if "." in address else [address]


def _tallied(seen: dict[str, list[int]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """netlog.jsonl's lines of a page of an address's rows, each user they name counted into ``seen``
    (user id -> [first ts, last ts, rows], in the order first seen)."""
    for r in rows:
        if r["user_id"]:
            span = seen.setdefault(r["user_id"], [r["ts"], r["ts"], 0])
            span[0], span[1], span[2] = min(span[0], r["ts"]), max(span[1], r["ts"]), span[2] + 1
    return _netlog(rows)


async def _address_files(app: Context, reads: ExportReads, out: OutDir, address: str, lo: int, hi: int
                         ) -> dict[str, Any]:
    """netlog.jsonl: every network-log row written from ``address`` in the range (logins, connections,
    code requests, refusals, connections that never logged in), whoever they name; users.jsonl: each
    user those rows name, with their username and display name, their first and last row from it and
    how many. No identity (phone, legal name, ID number): an address may be shared by many people (a
    carrier's NAT, a campus); one person's is in their own export (``--user``). The rows are read by one
    cursor of the snapshot and written :data:`MESSAGES_PER_READ` at a time, the users counted as they
    pass: behind a carrier's shared address, the hours asked about are millions of rows, once held whole."""
    seen: dict[str, list[int]] = {}

    async def pages() -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in reads.export_address(_spellings(address), lo, hi, MESSAGES_PER_READ):
            yield await asyncio.to_thread(_tallied, seen, rows)

    netlog = await _write_pages(out, "netlog.jsonl", pages())
    users = app.state.users
    people = [{"user_id": uid, "username": u.username if (u := users.get(uid)) else None,
               "display_name": u.display_name if u else None, "first_ts": first, "last_ts": last, "rows": n}
              for uid, (first, last, n) in seen.items()]
    return {"netlog.jsonl": netlog, "users.jsonl": _with_times(people, "first_ts", "last_ts")}


# The exported messages and posts (their rows with account_id) whose attachments media.jsonl lists.
Carriers = tuple[list[dict[str, Any]], list[dict[str, Any]]]


async def _gather_from(app: Context, reads: ExportReads, target: dict[str, Any], lo: int, hi: int, out: OutDir
                       ) -> tuple[dict[str, Any], Carriers]:
    files: dict[str, Any]
    if target["type"] == "account":
        aid = target["account_id"]
        records = await reads.export_account(aid, lo, hi, paged=True)
        account = records["account"]
        names = _usernames(app, (e["user_id"] for e in records["editors"]), [account["owner_id"] if account else None])
        files = await asyncio.to_thread(account_files, names, records)
        # (in their places: posts, comments and the record are read and written a page at a time)
        carrying_posts: list[dict[str, Any]] = []  # (the posts carry the attachments here)
        files["posts.jsonl"] = await _stream_rows(
            app, out, "posts.jsonl", reads.export_posts("account", aid, lo, hi, MESSAGES_PER_READ),
            _carrying(_posts, carrying_posts), "author_id")
        files["comments.jsonl"] = await _stream_rows(
            app, out, "comments.jsonl", reads.export_account_comments(aid, lo, hi, MESSAGES_PER_READ), _comments,
            "user_id")
        files["audit.jsonl"] = await _stream_rows(
            app, out, "audit.jsonl", reads.export_account_audit(aid, lo, hi, MESSAGES_PER_READ), _unnamed(_audit))
        return files, ([], carrying_posts)
    # The messages and the logs are each read and written a page at a time, in their places in the
    # manifest (messages, membership, netlog, audit, measures, ...): all from the snapshot's moment.
    if target["type"] == "group":
        gid = target["group_id"]
        group = await known_group(app, gid)
        written, senders, carrying = await _stream_messages(
            app, reads, out, lambda last: reads.group_export_messages(
                gid, lo, hi, 0 if last is None else last["seq"], MESSAGES_PER_READ))
        records = await reads.export_group(gid, lo, hi, set(group.members) if group is not None else set(), senders,
                                           paged=True)
        files = {"messages.jsonl": written,
                 "membership.jsonl": await _stream_log(app, reads, out, "group", gid, "membership", lo, hi),
                 "netlog.jsonl": await _stream_netlog(app, reads, out, records["people"], lo, hi),
                 "audit.jsonl": await _stream_log(app, reads, out, "group", gid, "audit", lo, hi),
                 "measures.jsonl": await asyncio.to_thread(_measures, records["measures"]),
                 "members.jsonl": _members(app, group, records["present"]),
                 "group.json": _with_times([records["group"]], "created_at", "dissolved_at", "closed_at")[0]}
        return files, (carrying, [])
    uid = target["user_id"]
    records = await reads.export_user(uid, lo, hi, paged=True)
    written, _, carrying = await _stream_messages(
        app, reads, out, lambda last: reads.user_export_messages(
            uid, lo, hi, None if last is None else (last["ts"], last["group_id"], last["seq"]), MESSAGES_PER_READ))
    files = {"messages.jsonl": written}
    for log in ("membership", "netlog", "audit"):
        files[f"{log}.jsonl"] = await _stream_log(app, reads, out, "user", uid, log, lo, hi)
    files["measures.jsonl"] = await asyncio.to_thread(_measures, records["measures"])
    # (the reactions they left anywhere: on others' messages too)
    files["reactions.jsonl"] = await _stream_rows(
        app, out, "reactions.jsonl", reads.export_reactions(uid, lo, hi, MESSAGES_PER_READ), _unnamed(_log_lines))
    files["identity.json"] = identity_record(app, uid, records["account"])
    # What they wrote on public accounts (P10-P11, G13), as author of posts (owner or editor) and as
    # commenter, whatever became of it; their posts carry attachments too.
    their_posts: list[dict[str, Any]] = []
    files["posts.jsonl"] = await _stream_rows(
        app, out, "posts.jsonl", reads.export_posts("user", uid, lo, hi, MESSAGES_PER_READ),
        _carrying(_posts, their_posts), "author_id")
    files["comments.jsonl"] = await _stream_rows(
        app, out, "comments.jsonl", reads.export_user_comments(uid, lo, hi, MESSAGES_PER_READ), _own_comments)
    return files, (carrying, their_posts)


def _review(p: dict[str, Any]) -> str | None:
    """Where a post stands in review, from the store's ``posts.held`` (0 never held or released, 1 held,
    2 rejected): ``held`` while it still waits, ``withdrawn`` when its account deleted it or the platform
    took it down while it waited (the row keeps 1: nothing decides it after), ``rejected``, or None."""
    if p["held"] == 2:
        return "rejected"
    if p["held"] == 1:
        return "withdrawn" if p["deleted_at"] is not None or p["removed_at"] is not None else "held"
    return None


def _posts(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """posts.jsonl's lines of the post rows ``rows``: attachments decoded, the author's username, and
    ``review`` beside ``held`` (held back from readers by review, whether it still waits, was rejected
    or withdrawn: ``review`` says which)."""
    for p in rows:
        p["attachments"] = json.loads(p["attachments"]) if p["attachments"] else []
        p["author_username"] = names.get(p["author_id"])
        p["review"] = _review(p)
        p["held"] = bool(p["held"])
    return _with_times(rows, "ts", "deleted_at", "removed_at")


def _own_comments(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A user export's comments.jsonl lines of their comments ``rows`` (each with its post's account)."""
    return _with_times(rows, "ts", "moderated_at")


Shape = Callable[[Names, list[dict[str, Any]]], list[dict[str, Any]]]


def _unnamed(shape: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Shape:
    """A shaping of rows that names nobody, as :func:`_stream_rows` calls it."""
    return lambda _names, rows: shape(rows)


def _carrying(shape: Shape, carriers: list[dict[str, Any]]) -> Shape:
    """``shape`` of post rows, keeping in ``carriers`` the key and attachments of each post that has
    any (media.jsonl lists what they carry): not the posts themselves, which would hold them all."""
    def shaped(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        lines = shape(names, rows)
        carriers.extend({"account_id": p["account_id"], "post_id": p["post_id"], "attachments": p["attachments"]}
                        for p in lines if p["attachments"])
        return lines
    return shaped


async def _stream_rows(app: Context, out: OutDir, name: str, pages: AsyncIterator[list[dict[str, Any]]],
                       shape: Shape, *named: str) -> Written:
    """The export's file ``name``, written a page at a time from ``pages`` (one statement read by a
    cursor of the snapshot), each page shaped by ``shape`` in a worker thread with the usernames of the
    user ids its rows hold under the keys ``named`` (taken on the event loop): a large group's
    complaints, a prolific user's reactions and comments, a busy account's posts and record are never
    held at once."""
    async def lines() -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in pages:
            names = _usernames(app, *[[r[key] for r in rows] for key in named])
            yield await asyncio.to_thread(shape, names, rows)

    return await _write_pages(out, name, lines())


def account_files(names: Names, records: dict[str, Any]) -> dict[str, Any]:
    """The files of a public account's export (P10-P13): its row, posts, comments, editors, the
    platform's measures on it and the record entries naming it. No identity data: the owner is
    named by user id and username (``export --user`` carries the person's identity)."""

    def username(uid: str | None) -> str | None:
        return names.get(uid) if uid else None

    row = records["account"]
    if row is not None:
        # ``carried``: the suspensions of its subject's other accounts it carried when it opened (each
        # ends for it as it ends or is lifted there: their own exports' measures say when).
        row = {**row, "labels": json.loads(row["labels"]), "comments_restricted": bool(row["comments_restricted"]),
               "owner_username": username(row["owner_id"]),
               "carried": [{"sanction_id": str(sid), "account_id": src, "until": until}
                           for sid, src, until in json.loads(row["carried"])],
               "suspended_until": row["suspended_until"] or None}  # (0: never suspended, not 1970)
        row = _with_times([row], "created_at", "closed_at", "suspended_until")[0]
    for e in records["editors"]:
        e["username"] = username(e["user_id"])
    return {
        "account.json": row,
        "posts.jsonl": None,  # (places kept: the caller writes them a page at a time)
        "comments.jsonl": None,
        "editors.jsonl": _with_times(records["editors"], "added_at"),
        "measures.jsonl": _measures(records["sanctions"]),
        "audit.jsonl": None,
    }


def _comments(names: Names, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An account export's comments.jsonl lines of the comments ``rows``: each with its writer's username."""
    for c in rows:
        c["username"] = names.get(c["user_id"]) if c["user_id"] else None
    return _with_times(rows, "ts", "moderated_at")


def identity_record(app: Context, uid: str, account: dict[str, Any]) -> dict[str, Any]:
    """The account with its identity fields decrypted: used only by exports."""

    def opened(blob: bytes | None) -> str | None:
        return app.vault.open(bytes(blob)) if blob else None

    rec = {
        "user_id": uid, "username": account["username"], "display_name": account["display_name"],
        "phone": opened(account["phone_enc"]), "legal_name": opened(account["name_enc"]),
        "id_number": opened(account["id_enc"]),
        "id_verified_at": account["id_verified_at"], "credit_score": account["credit_score"],
        "created_at": account["created_at"], "deleted_at": account["deleted_at"],
        "blacklisted_at": account["blacklisted_at"],
        "erased": account["deleted_at"] is not None and not account["phone_enc"],
    }
    return _with_times([rec], "id_verified_at", "created_at", "deleted_at", "blacklisted_at")[0]
