"""Network logs (G13): who connected from where and when, logins, code requests.

One row per event in the ``netlog`` table of the same store as the messages,
kept ``retention.days`` and purged with them (:mod:`server.retention`).

Writes are fire-and-forget: :func:`record` queues the row for the store's next
group-commit batch and returns at once, so no connection or login ever waits
for its log line. A write that fails is logged with the event it lost (never
silently dropped); the request itself is not failed for it.

Personal data: a phone number is never written here. A code request carries
the phone's keyed hash (``phone_hmac``, the same HMAC the ``users`` table holds),
so an export for a user can match that user's code requests without the number.
Management and operator actions are not duplicated here: they are in the
enforcement record (``audit``), which exports carry alongside.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from server.storage.base import NetlogRow

if TYPE_CHECKING:
    from server.context import Context
    from server.session import Session

log = logging.getLogger("qunguan.netlog")

# The kinds written, for docs and exports.
KINDS = (
    "connect",        # a WebSocket connection opened: ip, detail.port, detail.subprotocol
    "disconnect",     # it closed: user_id (if it had logged in), detail.code, detail.seconds
    "register",       # an account was created from this address
    "login_ok", "login_failed", "login_refused",  # refused: blacklisted or rate-limited
    "auth_ok", "auth_failed", "auth_refused",
    "code_request",   # an SMS code was sent: detail.phone_hmac (hex)
    "account_deleted", "delete_account_failed", "delete_account_refused",  # refused: rate-limited
    "logout",
)


def record(app: Context, kind: str, user_id: str | None = None, ip: str | None = None, **detail: Any) -> None:
    """Queue one network-log row; never awaits, never raises into the caller."""

    def done(exc: BaseException | None) -> None:
        if exc is None:
            return
        if isinstance(exc, asyncio.CancelledError):
            log.error("network log %s (user %s, ip %s) was not written: cancelled", kind, user_id, ip)
        else:
            log.error("network log %s (user %s, ip %s) was not written: %r", kind, user_id, ip, exc)

    try:
        row = NetlogRow(app.now_ms(), kind, user_id, ip,
                        json.dumps(detail, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
        app.store.log_network(row, done)
    except Exception:
        log.exception("network log %s for %s could not be queued", kind, user_id or ip)


_SESSION_USER: Any = object()


def session(app: Context, sess: Session, kind: str, user_id: Any = _SESSION_USER, **detail: Any) -> None:
    """A row about one connection: its address, and its user unless one is named (None: no user)."""
    if user_id is _SESSION_USER:
        user_id = sess.user.user_id if sess.user is not None else None
    port = _port(sess)
    if port is not None:
        detail["port"] = port
    record(app, kind, user_id, sess.ip, **detail)


def _port(sess: Session) -> int | None:
    try:
        return sess.remote_port()
    except Exception:
        return None


def opened(app: Context, sess: Session) -> None:
    session(app, sess, "connect", subprotocol=sess.ws.subprotocol or "msgpack")


def closed(app: Context, sess: Session, opened_ms: int, user_id: Any = _SESSION_USER) -> None:
    """``user_id``: who was logged in, when the session does not know (a cluster's gateway)."""
    session(app, sess, "disconnect", user_id, code=sess.ws.close_code,
            seconds=round((app.now_ms() - opened_ms) / 1000, 3))
