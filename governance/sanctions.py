"""Timed sanctions (Art. 11): which of a target's sanctions stand, until when, and which a new one ends.

Pure policy for ``server/operator/sanctions.py`` (``sanctions``, ``lift``) and the commands that
impose a timed measure. A row is one sanction as the store lists it: a mapping with at least
``id``, ``kind``, ``expires_at`` (ms, or None) and ``lifted_at`` (None while not lifted).

A target's effective end (a group's ``suspended_until``, a user's ``powers_suspended_until``, an
account's ``suspended_until``) must always be the latest end among its standing sanctions of that
kind, so that ``sanctions``, ``lift`` and what clients meet agree. Two rules keep it so:

- :data:`REPLACING` kinds (``suspend-group``, ``suspend-admin``): a new measure **replaces** the
  target's end, so it can shorten it. Every standing sanction that would outlast the new end is
  cut short: :func:`cut_short` names them, and the command ends them in the record (lifted, by the
  new measure) in the same transaction.
- every other timed kind (``suspend-account``, ``freeze-category``'s ``suspend_group``): the
  later end wins and nothing is cut short.

:func:`standing_until` is the end that remains when one sanction is lifted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["REPLACING", "cut_short", "standing", "standing_until", "status"]

REPLACING: Final = frozenset({"suspend_group", "suspend_admin"})

Row = Mapping[str, Any]


def status(row: Row, now: int) -> str:
    """``lifted``, ``overdue`` (a standing warning past its deadline), ``expired`` or ``in_force``."""
    if row["lifted_at"] is not None:
        return "lifted"
    exp = row["expires_at"]
    if row["kind"] == "warning":
        return "overdue" if exp is not None and exp <= now else "in_force"
    if exp is not None and exp <= now:
        return "expired"
    return "in_force"


def standing(row: Row, kind: str, now_ms: int) -> bool:
    """Whether ``row`` is a sanction of ``kind`` with a period that has not run out and not lifted."""
    exp = row["expires_at"]
    return row["kind"] == kind and row["lifted_at"] is None and exp is not None and exp > now_ms


def standing_until(rows: Iterable[Row], kind: str, now_ms: int, without: int | None = None) -> int:
    """The latest end among the standing sanctions of ``kind`` in ``rows``, leaving out the one with
    id ``without`` (the one being lifted); 0 when none stands."""
    return max((int(r["expires_at"]) for r in rows
                if (without is None or int(r["id"]) != without) and standing(r, kind, now_ms)), default=0)


def cut_short(rows: Iterable[Row], kind: str, until_ms: int, now_ms: int) -> list[int]:
    """The ids of the standing sanctions of ``kind`` that a new one of the same kind, on the same
    target and ending at ``until_ms``, cuts short: those that would outlast it, when ``kind``
    replaces the target's end (:data:`REPLACING`). None for a kind whose later end wins."""
    if kind not in REPLACING:
        return []
    return [int(r["id"]) for r in rows if standing(r, kind, now_ms) and int(r["expires_at"]) > until_ms]
