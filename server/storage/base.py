"""The Store interface: everything the server asks of durable storage, in domain terms.

Handlers, operator commands, export, retention, network logs and the identity
vault talk to a ``Store`` only; every SQL statement lives in a backend module
beside this one. A backend is chosen from ``storage.url``'s scheme through
:data:`BACKENDS` (see :func:`open_store`).

Three kinds of call:

- **Hot-path appends** (:meth:`Store.append_message`, :meth:`Store.log_network`)
  queue a row for the next group commit and return at once; a callback runs
  after the commit (or with the error that kept the row out).
- **Changes** (:meth:`Store.apply`): one or more :mod:`server.storage.changes`
  values and an optional enforcement-record entry, applied in one transaction of
  their own inside the next group commit. A change that fails (a constraint, a
  re-check) fails alone: the other writes of the batch commit.
- **Reads**: domain queries returning plain tuples, dataclasses or dicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from server.storage.changes import Audit, Change

if TYPE_CHECKING:
    from server.config import Config
    from server.state import Agreement, State

Done = Callable[[BaseException | None], None]


class MessageRow(NamedTuple):
    """A message as appended by ``send`` (the hot path)."""

    group_id: str
    seq: int
    ts: int
    sender_id: str
    sender_role: str
    text: str
    client_msg_id: str | None
    held: int  # 0 delivered, 1 held for review, 2 rejected


class NetlogRow(NamedTuple):
    """One network-log event (Art. 13): ``detail`` is a JSON object, serialised."""

    ts: int
    kind: str
    user_id: str | None
    ip: str | None
    detail: str


class HistoryRow(NamedTuple):
    seq: int
    ts: int
    sender_id: str
    sender_role: str
    text: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class ReporterRecord:
    """How a reporter's resolved reports ended (for the malicious-reporting rule, P15)."""

    resolved: int
    rejected: int


class AccountReads(Protocol):
    async def password_hash(self, user_id: str) -> str | None: ...
    async def token_owner(self, token_hash: bytes, now: int) -> str | None: ...
    async def phone_registered(self, phone_hmac: bytes) -> bool: ...


class GroupReads(Protocol):
    async def history(
        self, group_id: str, floor_seq: int, after: int | None, before: int | None, limit: int
    ) -> list[HistoryRow]: ...

    async def message_sender(self, group_id: str, seq: int) -> tuple[str, bool] | None:
        """(sender id, deleted) of a stored message, or None."""
        ...

    async def open_report_id(
        self, reporter_id: str, target_type: str, group_id: str | None, seq: int | None, user_id: str | None
    ) -> int | None: ...

    async def reporter_record(self, reporter_id: str) -> ReporterRecord: ...


class RecordReads(Protocol):
    """Reads for operator commands, exports, retention and the identity vault.

    Rows come back as dicts keyed by column name (in the table's column order)
    or as plain tuples; the dicts of one method always have the same keys.
    """

    async def audit_entries(self) -> list[dict[str, Any]]: ...

    # complaints (Art. 12)
    async def reports(self, open_only: bool) -> list[dict[str, Any]]:
        """Reports by id: report_id, reporter_id, target_type, group_id, seq, user_id, reason, detail,
        created_at, status, outcome, note, resolved_at."""
        ...

    async def report(self, report_id: int) -> dict[str, Any] | None:
        """One report (the keys of :meth:`reports`), or None."""
        ...

    async def report_durations(self) -> list[tuple[str, str | None, int, int | None]]:
        """(status, outcome, created_at, resolved_at) of every report."""
        ...

    # content review (Art. 10)
    async def review_items(self, open_only: bool) -> list[dict[str, Any]]:
        """Review items by id: item_id, group_id, seq, sender_id, action, category, term, created_at,
        status, decision, note, decided_at, and the message's text."""
        ...

    async def review_item(self, item_id: int) -> dict[str, Any] | None:
        """One review item (the keys of :meth:`review_items`) with its message's ts and sender_role, or None."""
        ...

    async def messages_page(self, after: tuple[str, int], limit: int) -> list[tuple[str, int, str]]:
        """Up to ``limit`` stored messages not deleted, (group id, seq, text), in (group id, seq) order
        after ``after``."""
        ...

    # legal holds (G13)
    async def holds(self, include_released: bool) -> list[dict[str, Any]]:
        """Holds by id: id, target_type, target_id, reason, created_at, released_at, release_reason."""
        ...

    async def hold(self, hold_id: int) -> dict[str, Any] | None: ...

    # export for supervision (G13); ranges are since <= ts < until
    async def export_group(self, group_id: str, since: int, until: int, members: set[str]) -> dict[str, Any]:
        """{"messages", "membership", "netlog", "audit": row dicts, "group": the group's row or None}."""
        ...

    async def export_user(self, user_id: str, since: int, until: int) -> dict[str, Any]:
        """{"messages", "membership", "netlog", "audit": row dicts, "account": the account's row (identity
        fields still sealed) or None}."""
        ...

    # the identity vault (Art. 6)
    async def vault_keys(self) -> list[tuple[int, str]]:
        """(key id, fingerprint) of every registered identity key."""
        ...

    async def sealed_key_ids(self) -> list[int]:
        """The key ids that stored identity values are sealed under."""
        ...

    async def sealed_sample(self, key_id: int) -> bytes | None:
        """One stored identity value sealed under ``key_id``, or None."""
        ...

    async def lookup_secret(self) -> bytes | None:
        """The sealed lookup (HMAC) key, or None before one was stored."""
        ...

    async def has_users(self) -> bool: ...

    async def accounts_not_under_key(self, key_id: int) -> int:
        """How many accounts hold an identity value sealed under another key."""
        ...


class Store(AccountReads, GroupReads, RecordReads, Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def load_state(self, now_ms: int, activity_window_days: int) -> State:
        """The in-memory caches of the hot path (users, groups, members, recent activity and ids)."""
        ...

    async def load_agreement(self) -> tuple[Agreement | None, list[str]]:
        """The current rules and agreement, and the users who accepted that version."""
        ...

    def set_record_key(self, key: bytes) -> None:
        """The key of the enforcement record's keyed chain (from the identity key store); set before any write."""
        ...

    def append_message(self, row: MessageRow, done: Done) -> None:
        """Queue a message; ``done(None)`` runs after its commit, ``done(exc)`` when it was not stored."""
        ...

    def log_network(self, row: NetlogRow, done: Done) -> None:
        """Queue a network-log row for the next group commit (like a message)."""
        ...

    def apply(self, *changes: Change, audit: Audit | None = None) -> asyncio.Future[list[Any]]:
        """Apply ``changes`` and ``audit`` in one transaction; resolves after the commit with each change's result.

        Raises what a change raised (its writes rolled back, the batch's other
        writes unaffected) or what the commit raised.
        """
        ...


Backend = Callable[["Config"], Store]
BACKENDS: dict[str, Backend] = {}


def backend(scheme: str) -> Callable[[Backend], Backend]:
    """Register a backend factory for a ``storage.url`` scheme."""

    def register(factory: Backend) -> Backend:
        BACKENDS[scheme] = factory
        return factory

    return register


def open_store(cfg: Config) -> Store:
    """The backend for ``cfg.storage.url`` (not yet opened)."""
    import server.storage.sqlite  # noqa: F401  (registers "sqlite")

    scheme = cfg.storage.url.split(":", 1)[0]
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise ValueError(
            f"storage.url: no storage backend for {scheme!r} in this build (have: {', '.join(sorted(BACKENDS))})"
        )
    return factory(cfg)
