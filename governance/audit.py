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
is still whole: that is what the **checkpoints** catch. The server appends the
chain head (entry count, last id, its mac) to a file outside the database on a
schedule and puts it in every export manifest; :func:`verify` checks the chain
against every checkpoint it is given.
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
    """The chain head as it was at ``ts``: how many entries, the last one's id and mac."""

    ts: int
    count: int
    last_id: int
    mac: str

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "count": self.count, "last_id": self.last_id, "mac": self.mac}


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
        if mac is None or not hmac.compare_digest(entry_mac(key, prev_mac, e), str(mac)):
            return Finding(False, len(entries), eid, "its keyed mac does not verify (edited or re-chained without "
                                                    "the server's key)")
        prev_hash, prev_mac = e["hash"], str(mac)
        by_id[eid] = prev_mac
    for cp in checkpoints:
        if cp.last_id == 0:
            continue
        stored = by_id.get(cp.last_id)
        if stored is None:
            return Finding(False, len(entries), cp.last_id,
                           f"entries from {len(entries) + 1} to {cp.last_id} were removed (checkpoint of {cp.ts} "
                           f"saw {cp.count} entries)")
        if not hmac.compare_digest(stored, cp.mac):
            return Finding(False, len(entries), cp.last_id, f"it differs from the checkpoint of {cp.ts}")
    return Finding(True, len(entries))
