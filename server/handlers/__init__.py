"""Request handlers: the only place where governance meets storage and fan-out.

A handler is ``async def (app, session, request, encoding) -> dict | None | DEFERRED``;
it raises ``ContractError`` to refuse. ``DEFERRED`` means it replies later itself
(``send`` replies after the group commit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

if TYPE_CHECKING:
    from protocol.codec import Encoding
    from protocol.requests import Request
    from server.app import App
    from server.session import Session

Handler = Callable[["App", "Session", "Request", "Encoding"], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}
DEFERRED = object()


def handler(op: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[op] = fn
        return fn

    return register


def load_all() -> dict[str, Handler]:
    from server.handlers import accounts, agreement, groups, management, messages, reports  # noqa: F401

    return HANDLERS
