"""The writes a request's answer waits for, though the request made them without waiting.

Some records are queued by a handler and not awaited where they are made: a network-log row of
what the answer says was done (:func:`server.netlog.record`: a registration, a code sent, a name
changed, logins ended), an enforcement-record entry with its credit penalty
(:func:`server.handlers.common.record_penalized`: a blocked text, a flagged reaction, a held
comment). They are written in the store's next group commit. Answered before that commit, a
process killed in between (``kill -9``, a host lost) took them with it while the client held the
answer: a refused text with no ``content_blocked`` entry and no penalty, a flagged reaction with no
``content_flagged`` entry (a durability review). So :meth:`server.app.App.on_frame` opens a scope
per request (:func:`open_scope`), each such write made within it joins it
(:func:`answer_waits_for`), and the answer goes once every one has settled (:func:`settled`): stored,
or failed, which the write's own callback logs. That costs the request one group commit at most,
and only the requests that write such records (refusals of listed words, registrations), never a
send's answer, which its own commit gives, nor a sign-in's (``login``, ``auth``), which keeps its row
before it signs the connection in (server/handlers/accounts.py: login, auth).

What the client is told once such a write is stored (a ``credit`` notice of the penalty) goes after
the answer (:func:`after_answer`): the refusal first, then what it cost, as before. A write made
outside any request (a timer, an operator command) waits for nothing here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

log = logging.getLogger("qunguan")


class Scope:
    """One request's: the writes its answer waits for, and what goes once it is given."""

    __slots__ = ("after", "answered", "writes")

    def __init__(self) -> None:
        self.writes: list[asyncio.Future[Any]] = []
        self.after: list[Callable[[], None]] = []
        self.answered = False

    def answer_given(self) -> None:
        """The answer is queued on the connection (or none will be): run what waited for it, in order."""
        self.answered = True
        after, self.after = self.after, []
        for fn in after:
            try:
                fn()
            except Exception:
                log.exception("what followed an answer failed")


_SCOPE: ContextVar[Scope | None] = ContextVar("answer_writes", default=None)


def answer_waits_for(write: asyncio.Future[Any]) -> None:
    """The answer to the request being handled, if any, goes once ``write`` has settled."""
    scope = _SCOPE.get()
    if scope is not None and not scope.answered:
        scope.writes.append(write)


def in_request() -> bool:
    """Whether a request's answer is being made (:func:`answer_waits_for` would hold it)."""
    scope = _SCOPE.get()
    return scope is not None and not scope.answered


def after_answer(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the answer to the request being handled is given: at once when there is none
    (outside a request, or after its answer: a callback of a write that outlived it)."""
    scope = _SCOPE.get()
    if scope is None or scope.answered:
        fn()
    else:
        scope.after.append(fn)


def open_scope() -> tuple[Scope, Token[Scope | None]]:
    """The scope of the request about to be handled (every frame: a plain set, no generator); closed by
    :func:`close_scope` once its answer is queued or none will be."""
    scope = Scope()
    return scope, _SCOPE.set(scope)


def close_scope(scope: Scope, token: Token[Scope | None]) -> None:
    """Leave ``scope``: its answer counts as given, and what waited for it goes."""
    _SCOPE.reset(token)
    scope.answer_given()


async def settled(scope: Scope) -> None:
    """Once every write the request queued is stored or has failed (never raises: each write's own
    callback logs its failure and retrieves its exception)."""
    if scope.writes:
        await asyncio.wait(list(scope.writes))
