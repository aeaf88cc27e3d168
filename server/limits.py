"""The SMS codes and the security rate limits of the service, read back when a process starts serving.

A single node's restart, or another node taking over as home in a cluster, used to start
with no outstanding codes (a code just sent no longer worked) and with empty windows for
the limits on code requests and failed logins (a fresh hour of password guesses). Now:

- every code issued is also written to the store as a MAC (``sms_codes``, see
  :mod:`governance.codes`) and dropped when used or voided; the live ones are read back;
- the windows of ``code_requests_per_phone_per_hour``, ``code_requests_per_ip_per_hour``,
  ``code_requests_per_hour`` (the whole service's) and ``failed_logins_per_ip_per_hour`` (per
  address, that is per network: governance/ratelimit.py, and per account for ``delete_account`` and
  ``verify_identity``; wrong SMS codes per address in a window of their own), and of
  ``failed_logins_per_account`` (``login``'s wrong passwords, for an account or for a name no account
  has, by its keyed hash), are rebuilt from the network log's rows of the last hour, which every code
  request and failed login writes anyway (a partial index keeps the read cheap). The log has each
  full address; the counters key it by its network as they count it, with the
  ``ipv6_prefix_length`` of this start;
- ``appeals_per_day`` is rebuilt from the appeals stored in the last day.
- ``mention_all_per_group_per_hour`` is rebuilt from the messages of the last hour that mentioned
  everyone (their own partial index).

A code's count of wrong guesses is not kept: after a takeover it may be guessed five more
times, within its five minutes. The other windows (reports, sends, renames) start empty, as
before; docs/scale-out.md says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from server.logs import Repeats
from server.metrics import METRICS
from server.storage import changes as ch

if TYPE_CHECKING:
    from server.app import App
    from server.context import Context

log = logging.getLogger("qunguan")

SERVICE_WIDE = "service"  # the one key of a counter over the whole service (codes_per_service)
_SMS_BUDGET_SPENT = Repeats(60.0)  # (this process's warnings: at most one a minute)


def warn_sms_budget(ctx: Context) -> None:
    """Say that ``code_requests_per_hour`` refused a code: nobody can register or reset a password
    while it does, so an operator must hear of it (at most once a minute, and on the metric)."""
    METRICS.rate_limited("code_requests_per_hour")
    _SMS_BUDGET_SPENT.log(log, logging.WARNING, "rate_limits.code_requests_per_hour (%d) reached: SMS codes are "
                          "refused to everyone until the oldest of the hour leaves the window",
                          ctx.cfg.rate_limits.code_requests_per_hour)


async def restore(app: App) -> None:
    """Read back the live codes and the last hour of limited events (at start, or on becoming home)."""
    now_ms = app.now_ms()
    for phone_key, mac, expires_at in await app.store.live_codes(now_ms):
        app.codes.restore(phone_key, mac, expires_at / 1000)
    counters = (app.codes_per_phone, app.codes_per_ip, app.codes_per_service, app.failed_logins_per_ip,
                app.failed_codes_per_ip, app.failed_logins_per_user, app.failed_logins_per_account)
    window_ms = int(max(c.window for c in counters) * 1000)
    mono = time.monotonic()  # the counters run on the monotonic clock; the log on the wall clock
    for ts, kind, user_id, ip, detail in await app.store.limited_events(now_ms - window_ms):
        at = mono - max(0, now_ms - ts) / 1000  # (a row stamped by a node whose clock runs ahead: now)
        if kind == "code_request":
            app.codes_per_service.hit(SERVICE_WIDE, at)
            phone_key = json.loads(detail).get("phone_hmac")
            if phone_key:
                app.codes_per_phone.hit(phone_key, at)
            if ip:
                app.codes_per_ip.hit(ip, at)
            continue
        if kind == "password_reset":  # (the guesses before it lock the account no more: accounts.reset_password)
            if user_id:
                app.failed_logins_per_account.forget(user_id)
            continue
        if kind == "login_unlocked":  # (an operator's unlock-login: server/operator/lockouts.py)
            if user_id:
                app.failed_logins_per_account.forget(user_id)
                app.failed_logins_per_user.forget(user_id)
            if ip:
                app.failed_logins_per_ip.forget(ip)
                app.failed_codes_per_ip.forget(ip)
            continue
        if kind == "code_failed":
            if ip:
                app.failed_codes_per_ip.hit(ip, at)
            continue
        if ip:
            app.failed_logins_per_ip.hit(ip, at)
        if kind in ("delete_account_failed", "verify_identity_failed", "change_password_failed") and user_id:
            app.failed_logins_per_user.hit(user_id, at)
        elif kind == "login_failed":
            if user_id:
                app.failed_logins_per_account.hit(user_id, at)
            elif name_key := json.loads(detail or "{}").get("name_hmac"):  # a name no account has
                app.failed_logins_per_account.hit(("name", name_key), at)
    appeals = app.appeals_per_user  # (a day of them: the appeals themselves are kept for good)
    for user_id, created_at in await app.store.appeals_since(now_ms - int(appeals.window * 1000)):
        appeals.hit(user_id, mono - max(0, now_ms - created_at) / 1000)
    everyone = app.mention_all_per_group  # (an hour of @all per group, whoever sent them)
    for group_id, ts in await app.store.mention_all_since(now_ms - int(everyone.window * 1000)):
        everyone.hit(group_id, mono - max(0, now_ms - ts) / 1000)


async def keep_code(ctx: Context, phone_key: str) -> None:
    """Store the code just issued for ``phone_key`` (before it is sent: a code the store does not
    have would not survive a takeover)."""
    pending = ctx.codes.pending(phone_key)
    if pending is not None:
        mac, expires_at = pending
        await ctx.store.apply(ch.PutCode(phone_key, mac, int(expires_at * 1000)))


def consume_code(ctx: Context, phone_key: str, code: str) -> bool:
    """Check a code and use it up (in memory, no await); a code used or voided by it is dropped
    from the store too."""
    return _try_code(ctx, phone_key, code, use=True)


def check_code(ctx: Context, phone_key: str, code: str) -> bool:
    """Check a code and leave it outstanding when right (see ``CodeBook.check``); a wrong one
    counts as a guess, and a code it voids is dropped from the store too."""
    return _try_code(ctx, phone_key, code, use=False)


def spend_code_attempt(ctx: Context, phone_key: str) -> None:
    """A right code whose op was refused all the same: one of its attempts is spent
    (``CodeBook.spend_attempt``); a code it voids is dropped from the store too."""
    before = ctx.codes.pending(phone_key)
    ctx.codes.spend_attempt(phone_key)
    _dropped(ctx, phone_key, before)


def _try_code(ctx: Context, phone_key: str, code: str, use: bool) -> bool:
    before = ctx.codes.pending(phone_key)
    now = ctx.now_ms() / 1000
    ok = ctx.codes.consume(phone_key, code, now) if use else ctx.codes.check(phone_key, code, now)
    _dropped(ctx, phone_key, before)
    return ok


def _dropped(ctx: Context, phone_key: str, before: tuple[bytes, float] | None) -> None:
    if before is not None and ctx.codes.pending(phone_key) is None:
        ctx.store.apply(ch.DropCode(phone_key, before[0])).add_done_callback(_log_failure)


def _log_failure(fut: asyncio.Future[list[Any]]) -> None:
    exc = fut.exception() if not fut.cancelled() else None
    if exc is not None:
        log.warning("a used SMS code could not be dropped from the store (it expires anyway): %r", exc)
