"""Running it in production: SIGHUP reload, readiness, TLS, the access log.

The App owns the state; this module holds the logic so that app.py stays a
composition root:

- :func:`reload` (SIGHUP): re-read the config file (and ``QUNGUAN_*``
  variables) and apply every key that can change at run time; an invalid new
  config is refused whole, with one log line, and the old one stays. Keys that
  need a restart keep their old values and are named in the log.
- :class:`Readiness`: ``/readyz``'s answer, kept current by a background probe
  of the store (the handshake path never awaits), plus hooks for more checks
  (a cluster's broker).
- :func:`tls_context`: one ``ssl.SSLContext`` for the listener, whose
  certificate :func:`reload` loads again in place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from governance.posting import overdue_before
from server import logs, proxy, sdnotify
from server.config import Config, ConfigError, load_config, tls_with_proxy_protocol, warnings_of
from server.content import build_filter
from server.intervals import wait_interval
from server.media.lists import build_media_lists
from server.metrics import METRICS
from server.security import key_problems

if TYPE_CHECKING:
    from server.app import App
    from server.session import Session

log = logging.getLogger("qunguan")
access_log = logging.getLogger("qunguan.access")

# Keys read once at start (the listener, the store, providers, key store, the metrics
# endpoint): a new value in the file is logged and takes effect at the next restart.
RESTART_KEYS = (
    "server.host", "server.port", "server.listen_backlog", "server.handshake_timeout_seconds",
    "server.max_frame_bytes", "server.max_frame_bytes_before_login", "server.compression",
    "server.log_json", "server.loop_monitor_tick_ms",
    "server.tls_cert", "server.tls_key",  # TLS on/off; a new certificate is reloaded
    "storage.url", "storage.command_timeout_seconds", "storage.lock_timeout_seconds",
    "cluster.broker_url", "cluster.node_id", "cluster.name", "cluster.lease_seconds", "cluster.request_timeout_seconds",
    "cluster.media_cache_mb",
    "groups.activity_window_days",
    "rate_limits.ipv6_prefix_length",  # the windows counted so far are keyed by it; a restart counts them again
    "identity.sms_provider", "identity.sms_outbox", "identity.sms_url", "identity.sms_secret_file",
    "identity.id_verifier", "identity.id_verifier_url", "identity.id_verifier_secret_file",
    "identity.provider_timeout_seconds", "identity.provider_retries", "identity.provider_ca_file",
    "identity.argon2_time_cost", "identity.argon2_memory_kib",
    "identity.key_file", "identity.key_env", "identity.dev_mode", "identity.old_key_files",
    "admin.socket", "admin.socket_group",  # the socket's group and mode are set when it is made
    "audit.checkpoint_file",
    "metrics.host", "metrics.port",
    "media.path",
)
# tls_cert/tls_key paths are restart keys only when TLS is switched on or off: with TLS
# on, the files they name are read again on every reload (a renewed certificate).
# Keys the config computes from a restart key (not set in the file): kept with it, so the running
# config never pairs the running value of a key with what a new value would derive from it
# (storage.sqlite_file names the database the server has open: backup refuses to write over it).
DERIVED_KEYS = {"storage.url": ("storage.sqlite_file",)}

PROBE_INTERVAL = 2.0  # seconds between store probes
PROBE_TIMEOUT = 3.0
STALE_AFTER = 3 * PROBE_INTERVAL + PROBE_TIMEOUT  # no successful probe for this long: not ready


def _get(cfg: Config, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(cfg, section), key)


def _keep(fresh: Config, old: Config, dotted: str) -> Config:
    section, key = dotted.split(".")
    kept = dataclasses.replace(getattr(fresh, section), **{key: _get(old, dotted)})
    return dataclasses.replace(fresh, **{section: kept})


def merge_restart_keys(old: Config, fresh: Config) -> tuple[Config, list[str]]:
    """``fresh`` with every restart-only key set back to its running value; and the keys that differed."""
    tls_on = old.server.tls_cert is not None
    changed = []
    for key in RESTART_KEYS:
        if key in ("server.tls_cert", "server.tls_key") and tls_on and _get(fresh, key) is not None:
            continue  # a new certificate path with TLS still on: reloaded in place
        if _get(old, key) != _get(fresh, key):
            changed.append(key)
            for kept in (key, *DERIVED_KEYS.get(key, ())):
                fresh = _keep(fresh, old, kept)
    return fresh, changed


def keep_named_operators(old: Config, fresh: Config) -> tuple[Config, bool]:
    """``fresh`` with the running ``[[operators]]`` when it names none and the running config names
    some; and whether it did.

    Named operators make the operator socket 0660 for ``admin.socket_group``, and only a restart
    makes it private (0600) again. With no operator named, whoever opens the socket is the single
    operator with every command: dropping the list by reload would make every member of that group
    a full operator. So that change waits for a restart, like the socket's other settings; adding,
    removing or changing operators while at least one stays named applies at once."""
    if old.operators and not fresh.operators:
        return dataclasses.replace(fresh, operators=old.operators), True
    return fresh, False


def tls_context(cfg: Config) -> ssl.SSLContext | None:
    s = cfg.server
    if s.tls_cert is None or s.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(s.tls_cert, s.tls_key)
    return ctx


def reload(app: App) -> bool:
    """SIGHUP: apply the config file's run-time keys, or keep everything as it was. True when applied."""
    sdnotify.reloading()
    try:
        return _reload(app)
    finally:
        sdnotify.ready()


def _reload(app: App) -> bool:
    old = app.cfg
    try:
        fresh = load_config(old.source) if old.source is not None else load_config(None)
        # The identity keys wait for a restart, but the file must name keys that restart can read
        # (as check-config, and the unit's ExecReload, require): refused now, not at the next start.
        if (problems := key_problems(fresh)):
            raise ConfigError(problems)
        fresh, needs_restart = merge_restart_keys(old, fresh)
        fresh, kept_operators = keep_named_operators(old, fresh)
        fresh = dataclasses.replace(fresh, warnings=warnings_of(fresh))  # (of what runs, not of the file alone)
        # The file alone may pass by turning TLS off, which waits for a restart, and the PROXY
        # protocol on, which would apply now: judged as the server would run it.
        if (why := tls_with_proxy_protocol(fresh.server.tls_cert is not None, fresh.server.proxy_protocol)):
            raise ValueError(f"server.proxy_protocol: {why} (TLS stays on until a restart)")
        content = build_filter(fresh)
        media_lists = build_media_lists(fresh)
        if fresh.public_accounts.reserved_names is not None:
            _ = fresh.public_accounts.reserved  # parsed now, from the text the load read and checked
        if app.ssl_context is not None and fresh.server.tls_cert is not None and fresh.server.tls_key is not None:
            # load into a scratch context first: a bad pair must not half-replace the live one
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(fresh.server.tls_cert,
                                                                               fresh.server.tls_key)
    except ConfigError as err:
        METRICS.reloads.labels("refused").inc()
        log.error("config not reloaded, the running one stays: %s", "; ".join(str(p) for p in err.problems))
        return False
    except (OSError, ValueError, UnicodeDecodeError, ssl.SSLError) as err:
        METRICS.reloads.labels("refused").inc()
        log.error("config not reloaded, the running one stays: %s", err)
        return False
    if app.ssl_context is not None and fresh.server.tls_cert is not None and fresh.server.tls_key is not None:
        app.ssl_context.load_cert_chain(fresh.server.tls_cert, fresh.server.tls_key)
    app.cfg = fresh
    app.content = content
    app.media.lists = media_lists
    apply_rate_limits(app)
    logs.set_level(fresh.server.log_level)
    app.trusted = proxy.parse_networks(fresh.server.trusted_proxies)
    app.connection_class.trusted = app.trusted
    app.connection_class.proxy_protocol = fresh.server.proxy_protocol
    METRICS.reloads.labels("applied").inc()
    for warning in fresh.warnings:
        log.warning("config: %s", warning)
    if kept_operators:
        log.error("config reloaded, but not the removal of every [[operators]] table: the named operators (%s) "
                  "stay until a restart. Without named operators whoever can open the operator socket runs every "
                  "command, and the socket stays shared with its group (mode 0660) until a restart makes it "
                  "private to the server's user again", ", ".join(o.name for o in fresh.operators))
    if needs_restart:
        log.warning("config reloaded; these keys changed but keep their running values until a restart: %s",
                    ", ".join(needs_restart))
    else:
        log.info("config reloaded")
    return True


def apply_rate_limits(app: App) -> None:
    """Point the rate-limit counters at the current ``[rate_limits]``; message buckets start afresh."""
    rl = app.cfg.rate_limits
    app.codes_per_phone.limit = rl.code_requests_per_phone_per_hour
    app.codes_per_ip.limit = rl.code_requests_per_ip_per_hour
    app.codes_per_service.limit = rl.code_requests_per_hour
    app.logins_per_account.limit = rl.logins_per_account_per_hour
    app.failed_logins_per_ip.limit = rl.failed_logins_per_ip_per_hour
    app.failed_codes_per_ip.limit = rl.failed_logins_per_ip_per_hour
    app.failed_logins_per_user.limit = rl.failed_logins_per_ip_per_hour
    app.failed_logins_per_account.limit = rl.failed_logins_per_account
    app.failed_logins_per_account.window = rl.failed_logins_per_account_window_minutes * 60.0
    app.connections_per_ip.limit = rl.connections_per_ip_per_minute
    app.pre_auth.limit = rl.unauthenticated_connections_per_ip
    app.connections_per_ip.spare_loopback = app.pre_auth.spare_loopback = rl.spare_loopback
    app.passwords.in_flight.spare_loopback = rl.spare_loopback
    app.passwords.in_flight.limit = rl.password_checks_per_ip
    app.handshakes.set_rates(app.cfg.server.handshakes_per_ip_per_second, app.cfg.server.handshakes_per_second)
    app.reports_per_user.limit = rl.reports_per_hour
    app.reports_when_mostly_rejected.limit = rl.reports_per_hour_when_mostly_rejected
    app.appeals_per_user.limit = rl.appeals_per_day
    app.mention_all_per_group.limit = rl.mention_all_per_group_per_hour
    app.renames_per_user.limit = rl.renames_per_hour
    app.joins_per_user.limit = rl.joins_per_minute
    app.managing_per_user.limit = rl.managing_per_minute
    for user in app.state.users.values():
        user.bucket = None  # rebuilt from the new rate and burst at the user's next send


class Readiness:
    """Whether the server can take traffic: store writable (probed), not shutting down, extra checks."""

    def __init__(self, probe: Callable[[], Any]) -> None:
        self._probe = probe
        self.stopping = False
        self.last_ok = 0.0
        self.last_error = "the store has not been probed yet"
        # More conditions (a cluster's broker): each returns None when fine, else why not.
        self.checks: list[Callable[[], str | None]] = []
        # Worked out at each scrape, as /readyz is at each request: set by the probe only, it lagged
        # /readyz by up to a probe interval (a shutdown's grace, a gateway without a home node).
        # (On the metrics server's thread: why_not only reads flags and times.)
        METRICS.ready.set_function(lambda: 0.0 if self.why_not() is not None else 1.0)

    def why_not(self) -> str | None:
        """Every reason that holds, the extra checks' (a cluster's broker) before the store's."""
        if self.stopping:
            return "shutting down"
        whys = [why for check in self.checks if (why := check()) is not None]
        if time.monotonic() - self.last_ok > STALE_AFTER:
            # Not the store's own error text: /readyz is on the public port, and a driver's message can name
            # internal hosts, addresses, database users or file paths. probe_once logs it for the operator.
            whys.append("store not writable" if self.last_ok else "store not probed yet")
        return "; ".join(whys) or None

    async def probe_once(self) -> None:
        try:
            await asyncio.wait_for(self._probe(), PROBE_TIMEOUT)
        except Exception as err:  # the store's own error, or the timeout (whose text is empty)
            why = str(err) or type(err).__name__
            if self.last_error == "" or time.monotonic() - self.last_ok <= STALE_AFTER:
                log.warning("store probe failed: %s", why)
            self.last_error = why
        else:
            if self.last_error and self.last_ok:
                log.info("store probe succeeds again")
            self.last_ok = time.monotonic()
            self.last_error = ""

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            await self.probe_once()


async def refresh_queue_gauges(app: App) -> None:
    """Report and review queue depths for the metrics, every ``metrics.queue_refresh_seconds``
    (only runs when metrics are served)."""
    while True:
        try:
            reports, overdue, reviews = await app.store.queue_depths(
                overdue_before(app.now_ms(), app.cfg.reports.answer_within_hours))
            METRICS.open_reports.set(reports)
            METRICS.overdue_reports.set(overdue)
            METRICS.open_reviews.set(reviews)
        except Exception as err:
            log.debug("queue gauges not refreshed: %s", err)
        await wait_interval(lambda: app.cfg.metrics.queue_refresh_seconds)


def access(sess: Session, opened: float, expected: bool) -> None:
    """The access-log line of one closed connection."""
    ws = sess.ws
    access_log.info(
        "connection closed",
        extra={
            "ip": sess.ip,
            "peer": ws.remote_address[0] if ws.remote_address else None,
            "subprotocol": ws.subprotocol or "msgpack",
            # (a gateway's connection has no user object: the home logged it in, and said who)
            "user_id": sess.user.user_id if sess.user is not None else sess.last_user_id,
            "seconds": round(time.monotonic() - opened, 3),
            "code": ws.close_code,
            "reason": ws.close_reason or None,
            "clean": expected,
        },
    )
