"""Network logs (G13): who connected from where and when, logins, code requests.

One row per event in the ``netlog`` table of the same store as the messages,
kept ``retention.days`` and purged with them (:mod:`server.retention`).

A connection that logs in gets two rows when it closes: ``connect`` (stamped with
the time it opened) and ``disconnect``, naming the user last logged in on it (also
when they logged out or cancelled the account before it closed). A connection that closes without ever
logging in gets no row of its own: such connections are counted per address and
written as one ``unauthenticated`` row per address every ``QUIET_FLUSH_SECONDS``
(and at shutdown). Under a flood of connections that never log in (the server
closes each after ``auth_timeout_seconds``, and a flood opens it again) two rows
apiece were thousands of rows a second, whose commits held every message behind
them for seconds. What such a connection did that the log records (a code
request, a failed login) still has its own row, with its address and port.

:func:`record` queues the row for the store's next group-commit batch and returns
at once, so no handler waits for its log line where it writes it. A row queued
while a request is handled, of what the answer says was done (``ANSWERED``),
holds the answer until it is stored (server/answer_writes.py), and a sign-in
keeps its row (``login_ok``, ``auth_ok``) before it answers: a process killed right
after answering a login, a sign-in by token, a registration or a code request cannot
take the row with it (a durability review found logins answered ok with no
``login_ok`` row; a later one, sign-ins by token with no ``auth_ok`` row). That
costs those requests one group commit, never a send. A write that fails is logged
with the event it lost (never silently dropped); the request itself is not failed
for it. A failed guess (a wrong password, a wrong identity number) is counted again
from its row when another process starts serving (server/limits.py): :func:`session_kept`
waits for that row where it is written, before the answer is even made.

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

from server import answer_writes
from server.storage.base import NetlogRow

if TYPE_CHECKING:
    from server.context import Context
    from server.session import Session

log = logging.getLogger("qunguan.netlog")

# The kinds written, for docs and exports.
KINDS = (
    "connect",        # a connection that logged in opened (written when it closes, with the time it
                      # opened): ip, user_id, detail.port, detail.subprotocol
    "disconnect",     # it closed: user_id, detail.code, detail.seconds
    "unauthenticated",  # connections from one address that closed without logging in, counted:
                        # detail.connections, detail.first_opened, detail.last_closed (ms)
    "register",       # an account was created from this address: detail.display_name
    "profile",        # the display name changed: detail.display_name, detail.was
    "login_ok", "login_failed", "login_refused",  # refused: blacklisted or rate-limited
    "auth_ok", "auth_failed", "auth_refused",
    "code_request",   # an SMS code was asked for (written before the provider's answer): detail.phone_hmac (hex)
    "account_deleted",  # detail.display_name: the name it had (it is renamed on cancellation)
    "delete_account_failed", "delete_account_refused",  # refused: rate-limited
    "verify_identity_failed", "verify_identity_refused",  # failed: the number's answer; refused: rate-limited
    "logout",         # detail.everywhere: true when every login of the account ended ([ext])
    "password_changed",  # [ext] change_password: every other login of the account ended
    "password_reset",    # [ext] reset_password (a code to the account's phone): every login of it ended
    "login_unlocked",    # [ext] qunguan admin unlock-login: user_id and/or ip, detail.by (the operator)
    "change_password_failed", "change_password_refused",  # failed: wrong current password; refused: rate-limited
)


QUIET_FLUSH_SECONDS = 60.0

# The rows of what an answer tells the client was done (an account, a code sent, a name changed,
# logins ended): queued while a request is handled, the answer waits for them. A sign-in keeps its row
# itself, before it signs the connection in (accounts.login and accounts.auth: waited for after the
# sign-in, events of the account's groups came before the answer). A sign-in by token (``auth_ok``)
# keeps its row as a login does: the ``login_ok`` row of the login that made the token names another
# connection, maybe days before and from another network, and a connection's own rows are written at
# its close, which a killed process never reaches. Most refusals' rows do not hold their answer, so a
# store that stalls does not stall them too; those of a sign-in do (a wrong guess, whose count matters,
# and a token refused, auth_failed and auth_refused: waited where they are written, session_kept), so a
# process killed right after answering leaves the attempt in the log.
ANSWERED = frozenset(("register", "profile", "code_request", "account_deleted", "logout", "password_changed",
                      "password_reset"))


def record(app: Context, kind: str, user_id: str | None = None, ip: str | None = None, *,
           ts: int | None = None, stored: asyncio.Future[None] | None = None, strict: bool = False,
           **detail: Any) -> None:
    """Queue one network-log row (at ``ts``, default now); never awaits, never raises into the caller.
    ``stored``, if given, is resolved once the row is written or has failed (never with an error, but
    with ``strict``: then a failed write is its exception, for a caller whose effect stands on the row).
    Queued while a request is handled, the request's answer waits for it (server/answer_writes.py)."""
    if kind in ANSWERED and answer_writes.in_request():
        if stored is None:
            stored = asyncio.get_running_loop().create_future()
        answer_writes.answer_waits_for(stored)

    def done(exc: BaseException | None) -> None:
        if strict and exc is not None and stored is not None and not stored.done():
            stored.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        if stored is not None and not stored.done():
            stored.set_result(None)
        if exc is None:
            return
        if isinstance(exc, asyncio.CancelledError):
            log.error("network log %s (user %s, ip %s) was not written: cancelled", kind, user_id, ip)
        else:
            log.error("network log %s (user %s, ip %s) was not written: %r", kind, user_id, ip, exc)

    try:
        row = NetlogRow(app.now_ms() if ts is None else ts, kind, user_id, ip,
                        json.dumps(detail, ensure_ascii=False, separators=(",", ":"), sort_keys=True))
        app.store.log_network(row, done)
    except Exception:
        log.exception("network log %s for %s could not be queued", kind, user_id or ip)
        done(None)


_SESSION_USER: Any = object()


def session(app: Context, sess: Session, kind: str, user_id: Any = _SESSION_USER, *,
            ts: int | None = None, stored: asyncio.Future[None] | None = None, **detail: Any) -> None:
    """A row about one connection: its address, and its user unless one is named (None: no user)."""
    if user_id is _SESSION_USER:
        user_id = sess.user.user_id if sess.user is not None else None
    port = _port(sess)
    if port is not None:
        detail["port"] = port
    record(app, kind, user_id, sess.ip, ts=ts, stored=stored, **detail)


async def session_kept(app: Context, sess: Session, kind: str, user_id: Any = _SESSION_USER, **detail: Any) -> None:
    """:func:`session`, returning once the row is stored (or its write failed, which is logged)."""
    stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    session(app, sess, kind, user_id, stored=stored, **detail)
    await stored


def _port(sess: Session) -> int | None:
    try:
        return sess.remote_port()
    except Exception:
        return None


def closed(app: Context, sess: Session, opened_ms: int, user_id: Any = _SESSION_USER) -> None:
    """A connection closed. ``user_id``: who was logged in, when the session does not know (a
    cluster's gateway); a connection nobody logged in on is only counted (:class:`QuietConnections`)."""
    if user_id is _SESSION_USER:
        user_id = sess.user.user_id if sess.user is not None else None
    if user_id is None:  # logged out or cancelled on this connection before it closed: who it was
        user_id = sess.last_user_id
    now = app.now_ms()
    if user_id is None:
        app.quiet_connections.add(sess.ip, opened_ms, now)
        return
    session(app, sess, "connect", user_id, ts=opened_ms, subprotocol=sess.ws.subprotocol or "msgpack")
    session(app, sess, "disconnect", user_id, code=sess.ws.close_code, seconds=round((now - opened_ms) / 1000, 3))


class QuietConnections:
    """Connections that closed without logging in, counted per address until the next :meth:`flush`."""

    def __init__(self) -> None:
        self._by_ip: dict[str | None, list[int]] = {}  # ip -> [connections, first opened, last closed]

    def add(self, ip: str | None, opened_ms: int, closed_ms: int) -> None:
        entry = self._by_ip.get(ip)
        if entry is None:
            self._by_ip[ip] = [1, opened_ms, closed_ms]
        else:
            entry[0] += 1
            entry[1] = min(entry[1], opened_ms)
            entry[2] = max(entry[2], closed_ms)

    def flush(self, app: Context) -> None:
        """One ``unauthenticated`` row per address counted since the last flush."""
        counted, self._by_ip = self._by_ip, {}
        for ip, (n, first, last) in counted.items():
            record(app, "unauthenticated", None, ip, ts=last, connections=n, first_opened=first, last_closed=last)

    async def run_forever(self, app: Context) -> None:
        while True:
            await asyncio.sleep(QUIET_FLUSH_SECONDS)
            self.flush(app)
