"""Request handlers: the only place where governance meets storage and fan-out.

A handler is ``async def (ctx, session, request, encoding) -> dict | None | DEFERRED``
where ``request`` is the op's typed structure (:mod:`protocol.messages`); it
raises ``ContractError`` to refuse. ``DEFERRED`` means it replies later itself
(``send`` replies after the group commit). Handlers see the server through
:class:`server.context.Context`, never ``server.app``.
"""

from __future__ import annotations

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
