"""Freezing a category (G5, P5 emergency handling): the one way groups and public accounts are frozen.

``freeze-category C`` (groups) and ``freeze-category C --accounts`` (public accounts) both
claim the category's end in memory first, so that nothing new is opened in it from then on,
list its live targets, take each target's sanction lock in one order, suspend each in memory
and store them :data:`TARGETS_PER_WRITE` at a time, each with its sanction row, the category's end
with the first; a failed write puts memory back as it was for the targets not stored (those
stored stay suspended, and their members are told).

Stored in one transaction, a category of 10,000 groups held the store's writer 7.2 s, and with it
every message sent meanwhile (on SQLite, every write of the server); a write of 100 holds it about
100 ms (the whole freeze then takes 7.9 s).

A target the freeze's list could not see (an account whose insert was in flight) is suspended
by a write of its own as it lands; the upkeep job (``server/operator/freeze_upkeep.py``) applies
:func:`suspend_each` to any target of a frozen category that the store still holds unsuspended:
such a one whose own write failed, and those of a freeze's writes that failed or were never made
(it looks within seconds of a failed write).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from server.operator.channel import OperatorError
from server.operator.common import apply, sanction
from server.operator.sanctions import lock_target

if TYPE_CHECKING:
    from server.context import Context
    from server.storage.changes import Audit, Change


class Suspendable(Protocol):
    suspended_until: int


S = TypeVar("S", bound=Suspendable)
TARGETS_PER_WRITE = 100
TOLD_PER_TURN = 1000  # targets whose people are told of the freeze in one turn of the loop


class PartlyFrozen(Exception):
    """A write of a freeze failed after earlier ones were stored: ``stored`` (each target with its
    sanction id) are suspended, and are told; the error is ``__cause__``."""

    def __init__(self, stored: list[tuple[Any, int]], left: int) -> None:
        super().__init__(f"{len(stored)} suspended, {left} not: a write failed")
        self.stored = stored
        self.left = left


def partly_frozen(partly: PartlyFrozen, what: str, category: str, until: int,
                  tell: Callable[[Any, int], None]) -> OperatorError:
    """``tell(target, sanction_id)`` for each target a freeze stored before a write failed, and the
    operator's answer saying how many were frozen and that the upkeep does the rest (``what``: the
    targets' name, ``groups`` or ``public accounts``)."""
    for target, sanction_id in partly.stored:
        tell(target, sanction_id)
    return OperatorError(f"froze {len(partly.stored)} {what} in {category} until {until}, and then a write failed "
                         f"({partly.__cause__!r}): the category is frozen, and the freeze upkeep suspends the "
                         f"{partly.left} {what} left within seconds once the store takes writes")


class CancelledPartway(asyncio.CancelledError):
    """A freeze cancelled (as at a stop) after some of its writes were stored: a cancellation still,
    which :func:`freeze` lets through without taking back the category's end (stored with the first);
    the targets it never wrote are put back in memory, for the upkeep to find."""


async def freeze(app: Context, frozen: dict[str, int], category: str, targets: Callable[[], Iterable[tuple[str, S]]],
                 alive: Callable[[S], bool], target_type: str, kind: str, reason: str, now: int, until: int,
                 bulk: Callable[[list[str]], Change], record: Callable[[int], Audit],
                 each: Callable[[str], Audit]) -> list[tuple[S, int]]:
    """Freeze ``category`` until ``until`` in ``frozen`` (category -> end) and suspend each live target
    (``targets()``: id and object, read right after the claim) until then, never shortening a longer
    suspension. ``bulk(ids)`` stores the category's end and the targets' ends (``ids``: a batch of those
    suspended, each stored suspended even if it is no longer in the category by then, as memory holds
    it: a move into the category claimed before the freeze and failing after); ``record(n)`` is the
    record entry for ``n`` targets suspended, ``each(id)`` the entry of one target's suspension
    (written with its sanction, so the target's own records show the freeze). The caller holds the
    category's lock. Returns the targets suspended, each with the id of its sanction row (what its
    owner may appeal, and an operator lift); :class:`PartlyFrozen` when a write failed after others
    were stored (the category stays frozen: its end was stored with the first)."""
    # Claimed first, with no await before the list: from here nothing is opened in the category
    # (or moved into it), so the list below is the whole of it.
    frozen_before = frozen.get(category)
    frozen[category] = max(frozen_before or 0, until)
    listed = list(targets())
    try:
        return await suspend_each(app, listed, alive, target_type, kind, reason, now, until,
                                  lambda ids: [bulk(ids)], record, each=each)
    except (PartlyFrozen, CancelledPartway):
        raise  # (the category's end is stored: it stays frozen)
    except BaseException:
        if frozen_before is None:
            frozen.pop(category, None)
        else:
            frozen[category] = frozen_before
        raise


async def suspend_each(app: Context, listed: list[tuple[str, S]], alive: Callable[[S], bool], target_type: str,
                       kind: str, reason: str, now: int, until: int, writes: Callable[[list[str]], list[Change]],
                       record: Callable[[int], Audit], actor: str | None = None,
                       each: Callable[[str], Audit] | None = None) -> list[tuple[S, int]]:
    """Suspend until ``until`` each of ``listed`` (id, object) that is still ``alive`` once its lock is
    held, never shortening a longer suspension, and store them :data:`TARGETS_PER_WRITE` at a time, each
    write with ``writes(ids)`` (those targets' ends), a ``kind`` sanction by ``actor`` (default: the
    operator) per target, with ``each(id)`` as its own record entry when given (its ``sanction_id`` added
    by the store), and the first with ``record(n)``. Nothing is written when ``writes`` gives nothing.
    Returns the targets suspended, each with the id of its own sanction row: a freeze is one sanction
    per target, so each target's suspension is lifted, or appealed by a group's owner, on its own. A
    write that fails puts memory back for its targets and those after it: it raises what it raised, or
    :class:`PartlyFrozen` when earlier writes were stored."""
    listed = sorted(listed, key=lambda item: item[0])
    async with contextlib.AsyncExitStack() as locks:
        # Under each target's sanction lock, as a suspension and a lift take it: a lift that read
        # the target's sanctions before this freeze's row existed would otherwise set its end from
        # that list after this freeze set it. Taken in one order (by id), after the category's,
        # and nobody else holds two, so no two commands wait for each other.
        for tid, _ in listed:
            await locks.enter_async_context(lock_target(target_type, tid))
        live = [(tid, t) for tid, t in listed if alive(t)]  # decided again now that the locks are held
        first = writes([tid for tid, _ in live[:TARGETS_PER_WRITE]])
        if not first:
            return []
        before = [t.suspended_until for _, t in live]
        for _, t in live:
            t.suspended_until = max(t.suspended_until, until)
        done: list[tuple[S, int]] = []
        # (at least one write: a freeze of a category with nothing live in it stores the category's end)
        for start in range(0, max(len(live), 1), TARGETS_PER_WRITE):
            part = live[start:start + TARGETS_PER_WRITE]
            stored = first if start == 0 else writes([tid for tid, _ in part])
            # (``cause``: a freeze's, which a public account's subject does not carry into a new account)
            rows = [replace(sanction(kind, target_type, tid, reason, now, until, actor=actor), cause="freeze",
                            record=each(tid) if each is not None else None) for tid, _ in part]

            def undo(start: int = start) -> None:  # this write's targets and those after it
                for (_, t), end in zip(live[start:], before[start:], strict=True):
                    t.suspended_until = end

            try:
                results = await apply(app, *stored, *rows, audit=record(len(live)) if start == 0 else None,
                                      undo=undo)
            except asyncio.CancelledError:
                # The write under way is apply's to settle (it is carried out, or undone); the targets
                # after it were never written: memory is put back for them.
                after = start + TARGETS_PER_WRITE
                for (_, t), end in zip(live[after:], before[after:], strict=True):
                    t.suspended_until = end
                if done:
                    raise CancelledPartway() from None
                raise
            except Exception as err:
                if done:
                    raise PartlyFrozen(done, len(live) - len(done)) from err
                raise
            # ``apply`` answers each change in order: the targets' writes, then one sanction id per target.
            done += [(t, int(sid)) for (_, t), sid in zip(part, results[len(stored):], strict=True)]
    return done


async def tell_in_turns(frozen: list[tuple[S, int]], until: int, tell: Callable[[S, int], None]) -> None:
    """``tell(target, sanction_id)`` for each target a freeze suspended, :data:`TOLD_PER_TURN` a turn of
    the loop (10,000 groups' members told in one step held it). The targets' locks are free by now: one
    whose suspension was lifted meanwhile (a ``lift`` or an upheld appeal waiting for its lock during
    the writes, which told its own news) ends before ``until`` and is not told it is suspended."""
    for i, (target, sanction_id) in enumerate(frozen):
        if i and i % TOLD_PER_TURN == 0:
            await asyncio.sleep(0)
        if target.suspended_until >= until:
            tell(target, sanction_id)
