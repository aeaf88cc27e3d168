"""A store's hold on the enforcement record's chain: its key, and the last entry it appended.

Both backends' appliers (``append_audit``, ``SealRecord``) find the :class:`RecordChain` of the
writer connection they run on (:func:`chain_of`). The chain knows the record key (once the
identity key store is open) and **the last entry this process committed** to the record: a
database's head row can be moved back by anyone who can write the database, this process's memory
cannot. :func:`governance.audit.next_link` continues from it when the head row is behind it, and
``verify-audit`` and the checkpoints hold the record to it.

What an append wrote becomes known only once its transaction committed: the writer calls
:meth:`RecordChain.begin` when a transaction starts, :meth:`RecordChain.mark` and
:meth:`RecordChain.undo_to` around each savepoint (a rolled-back op appended nothing), and
:meth:`RecordChain.committed` after the COMMIT (or :meth:`RecordChain.begin` again after a failed one).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from governance.audit import Tip, entry_hash, entry_mac, next_link

log = logging.getLogger("qunguan.record")


@dataclass
class RecordChain:
    """The record key and the last entry appended (committed; and those of the transaction under way)."""

    key: bytes | None = None
    known: Tip | None = None
    pending: list[Tip] = field(default_factory=list)

    def begin(self) -> None:
        """A transaction starts (or failed): nothing of it is appended yet."""
        self.pending.clear()

    def wrote(self, tip: Tip) -> None:
        """An entry was appended (or the head sealed) in the transaction under way."""
        self.pending.append(tip)

    def mark(self) -> int:
        return len(self.pending)

    def undo_to(self, mark: int) -> None:
        """The savepoint opened at ``mark`` was rolled back: what it appended is not in the record."""
        del self.pending[mark:]

    def committed(self) -> None:
        """The transaction committed: its last entry is the last this process appended."""
        if self.pending:
            self.known = self.pending[-1]
            self.pending.clear()

    def known_head(self) -> tuple[int, str | None] | None:
        """(id, mac) of the last entry this process appended, or None."""
        return (self.known.id, self.known.mac) if self.known is not None else None


_CHAINS: dict[int, RecordChain] = {}


def attach(conn: Any, chain: RecordChain) -> None:
    """``conn`` (a writer connection) appends to the record on behalf of ``chain``'s store."""
    _CHAINS[id(conn)] = chain


def detach(conn: Any) -> None:
    _CHAINS.pop(id(conn), None)


def chain_of(conn: Any) -> RecordChain | None:
    return _CHAINS.get(id(conn))


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append: its columns in the table's order up to ``detail``, then its links."""

    values: tuple[Any, ...]  # id, ts, actor_type, actor_id, action, group_id, target_id, reason, detail
    prev_hash: str
    tip: Tip  # its id, hash and mac: the new last entry appended


def next_entry(audit: Any, head: Tip | None, last: Tip | None, chain: RecordChain | None) -> NewEntry:
    """The entry both backends' ``append_audit`` insert for ``audit`` (a ``changes.Audit``), chained to
    the last entry appended (:func:`governance.audit.next_link` from the head row ``head``, the
    record's last entry ``last`` and this process's memory), hashed and, once the record key is
    known, keyed. Logs a record changed outside the server."""
    link = next_link(head, last, chain.known if chain is not None else None)
    if link.amiss is not None:
        log.error("the enforcement record was changed outside the server: %s; entry %d continues from the "
                  "last entry appended (verify-audit names the damage)", link.amiss, link.id)
    entry = {
        "id": link.id, "ts": audit.ts, "actor_type": audit.actor_type, "actor_id": audit.actor_id,
        "action": audit.action, "group_id": audit.group_id, "target_id": audit.target_id, "reason": audit.reason,
        "detail": json.dumps(dict(audit.detail or {}), ensure_ascii=False, sort_keys=True),
    }
    digest = entry_hash(link.prev_hash, entry)
    key = chain.key if chain is not None else None
    mac = entry_mac(key, link.prev_mac, entry) if key is not None and link.prev_mac is not None else None
    return NewEntry(tuple(entry.values()), link.prev_hash, Tip(link.id, digest, mac))
