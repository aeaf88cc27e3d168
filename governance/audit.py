"""The enforcement record's chains (Art. 11: keep records; tamper-evident).

Every entry carries two links to the one before it, over the same canonical
JSON form of its fields:

- ``hash``: SHA-256 of the previous entry's hash and the entry. Anyone can
  recompute it, so it only shows accidental damage.
- ``mac``: HMAC-SHA256 under the record key (derived from the identity key
  store, which lives outside the database) of the previous entry's mac and the
  entry. Someone who can write the database but does not hold the key cannot
  produce a valid mac for an edited, inserted or re-ordered entry.

Entry ids run from 1 with no gap (the record is never purged), so a deleted
entry in the middle shows as a gap. A deleted *tail* leaves a shorter chain that
is still whole: that is what the **heads** catch. The database keeps the last
entry appended (``audit_head``, written in each append's transaction), and each
append continues from it (:func:`next_link`), never from whatever happens to be
last: ids are never reused, and a removed tail stays a gap. The running server
remembers the last entry it appended itself, which the database cannot take
back. And the server appends the chain head (entry count, last id, its mac) to a
file outside the database on a schedule and puts it in every export manifest;
:func:`verify` checks the chain against every such head it is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
FIELDS = ("id", "ts", "actor_type", "actor_id", "action", "group_id", "target_id", "reason", "detail")


def _canonical(prev: str, entry: Mapping[str, Any]) -> bytes:
    return json.dumps([prev, *(entry.get(f) for f in FIELDS)], ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(prev_hash, entry)).hexdigest()


def entry_mac(key: bytes, prev_mac: str, entry: Mapping[str, Any]) -> str:
    return hmac.new(key, _canonical(prev_mac, entry), hashlib.sha256).hexdigest()


def record_key(secret: bytes) -> bytes:
    """The record's MAC key, derived from a secret of the identity key store (domain-separated)."""
    return hmac.new(secret, b"qunguan enforcement record v1", hashlib.sha256).digest()


def first_broken(entries: Iterable[Mapping[str, Any]]) -> int | None:
    """The ``id`` of the first entry whose unkeyed links do not hold, or ``None`` when that chain is whole.

    ``entries`` come in ``id`` order, each with ``prev_hash`` and ``hash`` besides :data:`FIELDS`.
    """
    prev = GENESIS
    for e in entries:
        if e["prev_hash"] != prev or entry_hash(prev, e) != e["hash"]:
            broken: int = e["id"]
            return broken
        prev = e["hash"]
    return None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain head as it was at ``ts``: how many entries, the last one's id and mac.

    ``source`` says what a head is when it is not a checkpoint line, as a noun phrase ("the last
    entry this server appended"); a ``mac`` of ``""`` checks only that the entry is there."""

    ts: int
    count: int
    last_id: int
    mac: str
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "count": self.count, "last_id": self.last_id, "mac": self.mac}


HEAD_KEYS: dict[str, type] = {"ts": int, "count": int, "last_id": int, "mac": str}  # a record head's fields
MAC_DIGITS = len(GENESIS)  # a head's mac: an entry_mac (SHA-256 hex digest) or GENESIS, as the server writes it
_HEX_DIGITS = frozenset("0123456789abcdef")


def json_kind(value: object) -> str:
    """What a JSON value is, for "must be X, not Y"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def head_problem(head: object) -> str | None:
    """Why ``head`` is not a record head (``ts``, ``count``, ``last_id``: whole numbers; ``mac``: text of
    :data:`MAC_DIGITS` lower-case hex digits), as the rest of a sentence naming it ("has no mac"), or None.
    The one rule for a head, wherever it comes from: a checkpoint file line (read by the server and by
    ``verify-audit --checkpoint-file`` alike, through :func:`parse_checkpoints`), an export manifest's,
    one sent to the operator socket. A mac of another shape is no digest the server wrote: compared, it
    would only say "differs" of a record that may be whole."""
    if not isinstance(head, dict):
        return f"must be an object with {', '.join(HEAD_KEYS)}, not {json_kind(head)}"
    for key, kind in HEAD_KEYS.items():
        if key not in head:
            return f"has no {key}"
        if type(head[key]) is not kind:
            what = "a whole number" if kind is int else "text"
            return f"{key} must be {what}, not {json_kind(head[key])}"
    mac: str = head["mac"]
    if len(mac) != MAC_DIGITS or not _HEX_DIGITS.issuperset(mac):
        odd = next((c for c in mac if c not in _HEX_DIGITS), None)
        found = f"{len(mac)} characters" if len(mac) != MAC_DIGITS else f"text with {odd!r} in it"
        return f"mac must be {MAC_DIGITS} hex digits (0-9, a-f), not {found}"
    return None


def parse_checkpoints(data: bytes) -> tuple[list[Checkpoint], list[tuple[int, str]]]:
    """The checkpoints in a checkpoint file's content (one JSON line each, as the server appends them),
    and the lines that are not one, each its number and why (not UTF-8, not JSON, or not a head by
    :func:`head_problem`): skipped, so that one damaged line does not hide the others."""
    out: list[Checkpoint] = []
    bad: list[tuple[int, str]] = []
    for n, line in enumerate(data.splitlines(), start=1):
        try:
            d = json.loads(line.decode("utf-8"))  # (UnicodeDecodeError is a ValueError)
        except UnicodeDecodeError:
            bad.append((n, "not UTF-8 text"))
            continue
        except ValueError:
            bad.append((n, "not JSON"))
            continue
        why = head_problem(d)
        if why is not None:
            bad.append((n, f"the head {why}"))
            continue
        out.append(Checkpoint(d["ts"], d["count"], d["last_id"], d["mac"]))
    return out, bad


@dataclass(frozen=True, slots=True)
class Tip:
    """One entry's place in the chain: its id and both links' values (``mac`` None: not sealed)."""

    id: int
    hash: str
    mac: str | None


ORIGIN = Tip(0, GENESIS, GENESIS)  # the head of an empty record: the first entry links to it


@dataclass(frozen=True, slots=True)
class Link:
    """Where the next entry goes: its id, the hash and mac it links to, and what was found amiss."""

    id: int
    prev_hash: str
    prev_mac: str | None
    amiss: str | None = None


def next_link(head: Tip | None, last: Tip | None, known: Tip | None) -> Link:
    """The next entry's id and links, from ``head`` (the database's record of the last entry appended),
    ``last`` (the entry with the highest id now) and ``known`` (the last entry this process appended,
    if any).

    The entry continues from the last one appended, not from whatever is last now, and its id is
    above every id used: entries removed from the end stay a gap that :func:`verify` names, and an
    entry written into the database by someone else is never built upon. ``known`` wins over a
    ``head`` that is behind it or differs at its id (the head row was moved back too); a ``known``
    behind ``head`` is another writer's progress (several writers on one database) and is ignored.
    ``amiss`` says what did not agree (for the log), or None.
    """
    amiss: str | None = None
    base = head
    if base is None:
        base = last or ORIGIN
        amiss = "the record's head row is gone"
    if known is not None and (known.id > base.id or (known.id == base.id and known.mac != base.mac)):
        amiss = (f"the record's head row says entry {base.id}, but this server last appended entry {known.id}: "
                 "the head row was moved back")
        base = known
    last_id = last.id if last is not None else 0
    if last_id < base.id:
        amiss = amiss or f"entries {last_id + 1} to {base.id} were removed from the end of the record"
    elif last is not None and last != base:
        amiss = amiss or (f"entry {last.id} is not the last one appended ({base.id}): "
                          "written or changed outside the server")
    return Link(max(base.id, last_id) + 1, base.hash, base.mac, amiss)


def sealable(first_unsealed: int, head: Tip | None, checkpointed: bool | None) -> bool:
    """Whether the entries without a mac, the first of them ``first_unsealed``, may be sealed now.

    An entry lacks a mac legitimately only when it was appended before the record had a key (a
    database from before the keyed chain; a store opened by itself, as some tests do): every
    append since has its mac, computed in its own transaction. Such entries are therefore the
    record's *beginning*, from entry 1 up to the head, whose row has no mac either, and no
    checkpoint has ever seen the record sealed (``checkpointed``: whether one names an entry;
    None when not known yet). An entry without a mac anywhere else — after a sealed one, after
    the head, in a record a checkpoint saw sealed, in one whose head row is gone — was written
    (or had its mac taken away) by someone else: sealing it would give it a valid mac, so it is
    left for :func:`verify` to name.
    """
    return checkpointed is False and first_unsealed == 1 and head is not None and head.mac is None and head.id >= 1


def seal_link_holds(entry: Mapping[str, Any], expected_id: int, prev_hash: str) -> bool:
    """Whether ``entry``, next in the unsealed beginning, may be sealed: it has the id after the one
    before it, no mac, and its unkeyed link holds (damage done before sealing is never blessed)."""
    return (int(entry["id"]) == expected_id and entry.get("mac") is None and entry["prev_hash"] == prev_hash
            and entry_hash(prev_hash, entry) == entry["hash"])


@dataclass(slots=True)
class Sealing:
    """The walk that seals the record's unsealed beginning (see :func:`sealable`), a page of entries
    at a time, in id order from entry 1: each entry whose link holds gets its mac, chained on the
    one before it; the walk stops for good at the first that does not (``broken``)."""

    key: bytes
    expected: int = 1  # the id the next entry must have
    prev_hash: str = GENESIS
    prev_mac: str = GENESIS
    broken: bool = False

    def page(self, entries: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
        """The (mac, id) of each entry of the page sealed, in order."""
        macs: list[tuple[str, int]] = []
        for e in entries:
            if not seal_link_holds(e, self.expected, self.prev_hash):
                self.broken = True
                break
            self.prev_hash, self.prev_mac = e["hash"], entry_mac(self.key, self.prev_mac, e)
            macs.append((self.prev_mac, int(e["id"])))
            self.expected += 1
        return macs


@dataclass(frozen=True, slots=True)
class Finding:
    """What :func:`verify` found: ``whole``, or the first entry where the record fails and why."""

    whole: bool
    count: int
    broken_at: int | None = None
    why: str = ""


def head(entries: Sequence[Mapping[str, Any]], ts: int) -> Checkpoint:
    """The checkpoint of a chain (its last entry's id and mac)."""
    if not entries:
        return Checkpoint(ts, 0, 0, GENESIS)
    last = entries[-1]
    return Checkpoint(ts, len(entries), int(last["id"]), str(last["mac"]))


def verify(entries: Sequence[Mapping[str, Any]], key: bytes, checkpoints: Iterable[Checkpoint] = ()) -> Finding:
    """Check the whole record: ids without gaps, both chains, and every checkpoint still standing.

    Detects an edited entry (its hash or mac no longer matches), a deleted entry
    (a gap in the ids, or a broken link), entries re-chained by someone without
    the key (macs do not verify), and a removed tail (a checkpoint names an entry
    that is gone, or a mac that is not the one stored).
    """
    prev_hash, prev_mac = GENESIS, GENESIS
    by_id: dict[int, str] = {}
    for expected_id, e in enumerate(entries, start=1):
        eid = int(e["id"])
        if eid != expected_id:
            return Finding(False, len(entries), expected_id, f"entry {expected_id} is missing")
        if e["prev_hash"] != prev_hash or entry_hash(prev_hash, e) != e["hash"]:
            return Finding(False, len(entries), eid, "its hash link does not hold (edited, or one before it removed)")
        mac = e.get("mac")
        if mac is None:
            return Finding(False, len(entries), eid, "it has no keyed mac: it was not appended by the server "
                                                    "with its key (an entry without one is sealed only while "
                                                    "none before it is)")
        if not hmac.compare_digest(entry_mac(key, prev_mac, e), str(mac)):
            return Finding(False, len(entries), eid, "its keyed mac does not verify (edited or re-chained without "
                                                    "the server's key)")
        prev_hash, prev_mac = e["hash"], str(mac)
        by_id[eid] = prev_mac
    checkpoints = list(checkpoints)

    def agrees(cp: Checkpoint) -> bool:
        stored = by_id.get(cp.last_id)
        return stored is not None and (not cp.mac or hmac.compare_digest(stored, cp.mac))

    # The record is the checkpoints' up to the last entry one of them names as it is: past it, what a
    # failing checkpoint names was removed, or removed and replaced by entries written since (a
    # restored backup the server went on writing to), which no mac of the checkpoint can tell apart.
    agreeing = [cp.last_id for cp in checkpoints if agrees(cp)]
    n = len(entries)
    for cp in checkpoints:
        if cp.last_id == 0 or agrees(cp):
            continue
        # (the last entry a line before this one still finds as it saw it: lines written after a
        # restore agree with the new record, past the entries this one names)
        same_to = max((last for last in agreeing if last < cp.last_id), default=0)
        seen = f": entry {cp.last_id} is {cp.source}" if cp.source else \
            f" (checkpoint of {cp.ts} saw {cp.count} entries)"
        # A checkpoint before this one agrees, and entries were written after it: from there on the
        # record is not what this one saw (with one checkpoint, or none written since, that is unknown).
        since = same_to + 1 if 0 < same_to < min(cp.last_id - 1, n) else None
        if by_id.get(cp.last_id) is None:
            if since is None:
                return Finding(False, n, cp.last_id, f"entries from {n + 1} to {cp.last_id} were removed{seen}")
            return Finding(False, n, since, f"entries from {since} to {cp.last_id} were removed, those up to {n} "
                                            f"written in their place (entry {same_to} is still as a checkpoint saw "
                                            f"it){seen}")
        what = cp.source or f"the checkpoint of {cp.ts}"
        if since is None:
            return Finding(False, n, cp.last_id, f"it differs from {what}")
        return Finding(False, n, since, f"entries from {since} to {cp.last_id} were replaced: entry {cp.last_id} "
                                        f"differs from {what}, entry {same_to} is still as a checkpoint saw it")
    return Finding(True, len(entries))
