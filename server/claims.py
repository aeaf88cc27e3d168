"""Claims of plain fields in memory that settle right when writes to one field overlap.

A handler claims its change in memory before the write (so that concurrent requests
see it) and takes it back if the write fails. Taking back by "put the old value
back" goes wrong as soon as two writes of the same field are in flight: name X
(over N) then name Y (over X), X's write fails, Y's stands, and restoring N drops Y
from memory although the database holds it; or both fail, and Y's undo puts back
X, which was never stored.

A :class:`FieldClaim` keeps, per object and field, the chain of claims still
waiting for their write, oldest first, and settles each one against it:

* a claim whose write is stored is dropped from the chain; the older ones still
  pending can no longer decide the field (a store writes in order, so theirs came
  before it), so their failure changes nothing in memory;
* a claim whose write failed hands the value it stood on to the next claim up the
  chain, if there is one (that claim now stands on it); the last one puts it back,
  provided the field still holds its own value (something that set the field
  without a claim meanwhile is not undone).

Everything runs on the event loop's thread, from the write's completion (see
``server.handlers.common.commit``), so a chain never changes under a settle.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

__all__ = ["FieldClaim", "Loosening", "OnceStored", "Settles", "Together", "settle_when_done", "turn"]


class Settles(Protocol):
    """A claim in memory told how its write ended (stored or refused)."""

    def settle(self, stored: bool) -> object: ...


def settle_when_done(fut: asyncio.Future[Any], claim: Settles) -> None:
    """Settle ``claim`` from the write's own completion: before whoever awaits ``fut`` wakes up,
    and also when that waiter was cancelled meanwhile (a cancelled write counts as refused)."""
    fut.add_done_callback(lambda f: claim.settle(not f.cancelled() and f.exception() is None))


class _Pending:
    __slots__ = ("before", "value", "outdated")

    def __init__(self, before: Any, value: Any) -> None:
        self.before = before
        self.value = value
        self.outdated = False  # a later claim of the field was stored: this one no longer decides it


# Keyed by the object's id and the field's name. An entry lives only while a claim of it is
# pending, and the claim holds the object meanwhile, so the id cannot be reused under it.
_CHAINS: dict[tuple[int, str], list[_Pending]] = {}


class FieldClaim:
    """Set ``fields`` on ``obj`` now; :meth:`settle` once the write that stores them is decided."""

    __slots__ = ("_obj", "_parts", "_settled")

    def __init__(self, obj: object, fields: Mapping[str, Any]) -> None:
        self._obj = obj
        self._parts: list[tuple[str, _Pending]] = []
        self._settled = False
        for name, value in fields.items():
            pending = _Pending(getattr(obj, name), value)
            _CHAINS.setdefault((id(obj), name), []).append(pending)
            setattr(obj, name, value)
            self._parts.append((name, pending))

    @staticmethod
    def in_flight(obj: object, name: str) -> list[tuple[Any, Any]]:
        """(the value it stood on, the value it set) of each claim of ``obj.name`` still waiting, oldest first."""
        return [(p.before, p.value) for p in _CHAINS.get((id(obj), name), ())]

    def settle(self, stored: bool) -> dict[str, Any]:
        """The write was stored (``stored``) or refused: keep the fields, or take them back.

        Returns the value each field stood on as it settled: what a stored claim replaced,
        or what a refused one put back. Empty when it was settled already."""
        if self._settled:
            return {}
        self._settled = True
        obj = self._obj
        stood_on: dict[str, Any] = {}
        for name, pending in self._parts:
            stood_on[name] = pending.before
            key = (id(obj), name)
            chain = _CHAINS[key]
            at = next(i for i, p in enumerate(chain) if p is pending)
            del chain[at]
            if stored:
                for older in chain[:at]:
                    older.outdated = True
            elif not pending.outdated:
                if at < len(chain):
                    chain[at].before = pending.before
                elif getattr(obj, name) == pending.value:
                    setattr(obj, name, pending.before)
            if not chain:
                del _CHAINS[key]
        return stood_on


class Loosening:
    """Fields whose new values loosen a restriction (an unmute, a group opened to all, slow mode
    shortened), set only once their write is stored: until then every request still meets the
    restriction, so nothing is let through on a change the store may refuse, and a refused write has
    nothing to take back. Claims of the same field made after it (later writes: a store writes in
    order) and still pending stand on its value from then on, so that their refusal puts it back."""

    __slots__ = ("_obj", "_fields")

    def __init__(self, obj: object, fields: Mapping[str, Any]) -> None:
        self._obj = obj
        self._fields = dict(fields)

    def settle(self, stored: bool) -> None:
        if not stored:
            return
        for name, value in self._fields.items():
            chain = _CHAINS.get((id(self._obj), name))
            if chain:
                chain[0].before = value
            else:
                setattr(self._obj, name, value)
        self._fields.clear()  # (settled once)


class Together:
    """Claims stored by one write (a transfer: the group's owner and two members' roles), settled as one."""

    __slots__ = ("_claims",)

    def __init__(self, *claims: Settles) -> None:
        self._claims = claims

    def settle(self, stored: bool) -> None:
        for claim in self._claims:
            claim.settle(stored)


class OnceStored:
    """A change of memory made only once its write is stored, with nothing to take back when it is
    refused (an operator's lift: until it is stored every request still meets the measure)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn

    def settle(self, stored: bool) -> None:
        if stored:
            self._fn()


# One lock per key while anyone holds or waits for it (see :func:`turn`).
_TURNS: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()


def turn(key: Hashable) -> asyncio.Lock:
    """The lock of ``key``: ``async with turn(key)`` waits until no other block holds it, then holds
    it until this block ends. Kept only while someone holds or waits for it.

    For a yes/no claimed in memory before its write (a subscription, an editor's seat): without
    it, a second request about the same thing while the first one's write is pending would
    decide on that claim, answering "already so" for what the store may still refuse, and a
    refused write's undo (setting the old value back) would overwrite a later request's claim.
    Whoever waited decides afresh inside the block: everything it acts on is looked up there.
    The operator's commands take theirs per target the same way (``operator.sanctions.lock_target``)."""
    lock = _TURNS.get(key)
    if lock is None:
        lock = _TURNS[key] = asyncio.Lock()
    return lock


def message_turn(group_id: str, seq: int) -> asyncio.Lock:
    """The lock of one message's state (held, released, rejected, deleted), held from reading it to
    the commit by whatever changes it: the operator's review decision and ``remove-message``, and a
    member's ``delete_message``. A deletion that read the message as held while its release was
    being stored told only its sender, and the group, shown the release, never heard it was gone;
    two deletions at once each told the group."""
    return turn(("message", group_id, seq))
