"""Request handlers: the only place where governance meets storage and fan-out.

A handler is ``async def (ctx, session, request, encoding) -> dict | None | DEFERRED``
where ``request`` is the op's typed structure (:mod:`protocol.messages`); it
raises ``ContractError`` to refuse. ``DEFERRED`` means it replies later itself
(``send`` replies after the group commit). Handlers see the server through
:class:`server.context.Context`, never ``server.app``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocol.codec import Encoding
    from server.context import Context
    from server.session import Session

Handler = Callable[["Context", "Session", Any, "Encoding"], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}
DEFERRED: Any = object()


def handler(op: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[op] = fn
        return fn

    return register


def one_at_a_time(lock_of: Callable[[Any], asyncio.Lock]) -> Callable[[Handler], Handler]:
    """Run the handler holding ``lock_of(request)`` (``server.claims.turn``, ``message_turn``) from its
    first check to its commit, so that requests about the same thing take turns: each decides on
    what the one before it stored or left, never on its claim. The handler looks at its caller's
    account again first (``still_active``): it may have waited."""
    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def in_turn(ctx: Context, sess: Session, req: Any, enc: Encoding) -> Any:
            async with lock_of(req):
                return await fn(ctx, sess, req, enc)
        return in_turn
    return wrap


def load_all() -> dict[str, Handler]:
    from server.handlers import (  # noqa: F401
        accounts,
        agreement,
        appeals,
        groups,
        held_texts,
        management,
        media,
        message_actions,
        messages,
        moderation,
        posts,
        public_accounts,
        reading,
        reports,
    )

    return HANDLERS
