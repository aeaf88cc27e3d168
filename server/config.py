"""Server configuration: a TOML file validated into frozen dataclasses.

Every key is declared once, as a dataclass field built with :func:`setting`
(default, validators, and the TOML kind when it cannot be inferred from the
default). One generic reader walks those declarations, so adding a key is a
one-line change. Validation never stops at the first mistake: every problem is
collected and raised together in one :class:`ConfigError`, so ``qunguan
check-config`` can print them all at once.

Relative paths are relative to ``base_dir``: the config file's folder, or the
working directory when running on built-in defaults.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import os
import re
import ssl
import tomllib
import urllib.parse
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from governance.ids import is_user_id
from governance.public_accounts import (
    DEFAULT_ACCOUNT_LEVELS,
    DEFAULT_READ_CLASSES,
    DEFAULT_SUBSCRIBER_CLASSES,
    AccountLevel,
    ReadClass,
    SubscriberClass,
)
from governance.tiers import (
    DEFAULT_ACTIVITY_CLASSES,
    DEFAULT_CREDIT_LEVELS,
    DEFAULT_SIZE_CLASSES,
    ActivityClass,
    Caps,
    CreditLevel,
    SizeClass,
    caps_going_down,
)
from server.media.sniff import DEFAULT_ALLOWED, KNOWN_TYPES

# --------------------------------------------------------------------------- problems


def url_without_password(url: str) -> str:
    """``url`` with what may be a secret left out, for messages and logs: each URL of a
    comma-separated list (a NATS cluster's) loses the password of its user info (a user info
    with no password is a token, ``nats://TOKEN@host``, shown as ``***``, but a PostgreSQL user
    name is kept) and its query (``?token=``, ``?password=``: shown as ``?...``). A piece between
    commas that starts no url of its own (a comma in a password, a PostgreSQL url's second host) is
    part of the url before it."""
    urls: list[str] = []
    for piece in url.split(","):
        if urls and "://" not in piece:
            urls[-1] += "," + piece
        else:
            urls.append(piece)
    return ",".join(_one_url_shown(u) for u in urls)


def _one_url_shown(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # Everything up to the last @ is user info, whatever it holds: a password with a raw /, ? or # (not
    # percent-encoded) cut at them first was shown whole. A user name shown must look like one.
    userinfo, at, rest = rest.rpartition("@")
    shown = ""
    if at:
        user, colon, _ = userinfo.partition(":")
        plain = user and not any(c in user for c in "/?#@")
        shown = (user if plain and (colon or scheme.startswith("postgres")) else "***") + "@"
        if "?" in userinfo or "#" in userinfo:  # (a query's @ or a raw ? in a password: which, unknown)
            return f"{scheme}://{shown}***"
    rest, query_sep, _ = rest.partition("?")
    rest = rest.partition("#")[0]
    return f"{scheme}://{shown}{rest}{'?...' if query_sep else ''}"


# The last part of a key whose value is a secret when it is given in the config itself (a key, a
# password, a token, a secret), not as a file or an environment variable's name.
_SECRET_KEY = re.compile(r"(^|_)(key|secret|password|token)$")


def shown_value(key: str, value: object) -> str:
    """``value`` as a problem line shows it: a secret one (by its key) hidden, a URL without its
    password. A refused SIGHUP writes the line to the log, check-config to a journal."""
    last = key.rsplit(".", 1)[-1].lower()
    if _SECRET_KEY.search(last) and last != "tls_key":  # (tls_key: the key file's path)
        return "<hidden>"
    if isinstance(value, str) and "://" in value:
        return repr(url_without_password(value))
    return repr(value)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where (dotted key path), what, and why."""

    key: str
    value: object
    why: str

    def __str__(self) -> str:
        if not self.key:  # file-level problem (missing file, bad TOML): value is the file
            return f"{self.value}: {self.why}"
        return f"{self.key} = {shown_value(self.key, self.value)}: {self.why}"


class ConfigError(Exception):
    """The config is invalid; ``problems`` lists every problem found.

    ``valid_part``: when the file was read, a Config of its sections that were valid (the others
    at their defaults), so check-config can also run the checks that need a Config (the identity
    keys) in the same run; None when ``[storage]`` or ``[identity]`` was invalid too."""

    def __init__(self, problems: list[Problem], valid_part: Config | None = None) -> None:
        self.problems = list(problems)
        self.valid_part = valid_part
        super().__init__("\n".join(str(p) for p in self.problems))


class _Context:
    """What the reader carries down the tree: the base folder and the problems so far."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[Problem] = []

    def report(self, key: str, value: object, why: str) -> None:
        self.problems.append(Problem(key, value, why))


# --------------------------------------------------------------------------- kinds

_INVALID = object()  # a conversion failed (its problems are already reported)
REQUIRED: Any = object()  # default for keys that must be given


def _toml_type(value: object) -> str:
    """The TOML name of a value's type, for "expected X, got Y" messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _same(raw: object, key: str, ctx: _Context) -> object:
    return raw


def _same_default(default: object, base_dir: Path) -> object:
    return default


@dataclass(frozen=True)
class Kind:
    """A TOML value kind: which raw values it accepts and how they become Python values."""

    label: str  # "an integer", used in "expected an integer, got a string"
    accepts: Callable[[object], bool]
    convert: Callable[[Any, str, _Context], object] = _same
    # Turns a declared default into its Python value (paths need base_dir).
    default: Callable[[Any, Path], object] = _same_default


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_finite_number(v: object) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


def _resolve(raw: str, base_dir: Path) -> Path:
    return base_dir / raw


def _resolve_optional(raw: str, base_dir: Path) -> Path | None:
    return base_dir / raw if raw else None


INT = Kind("an integer", _is_int)
FLOAT = Kind("a finite number", _is_finite_number, lambda raw, key, ctx: float(raw))
BOOL = Kind("a boolean", lambda v: isinstance(v, bool))
STR = Kind("a string", lambda v: isinstance(v, str))
PATH = Kind(
    "a string (a path)",
    lambda v: isinstance(v, str),
    lambda raw, key, ctx: _resolve(raw, ctx.base_dir),
    _resolve,
)
OPTIONAL_PATH = Kind(  # "" means unset (None)
    "a string (a path, or \"\" for none)",
    lambda v: isinstance(v, str),
    lambda raw, key, ctx: _resolve_optional(raw, ctx.base_dir),
    _resolve_optional,
)

Check = Callable[[Any], "str | list[tuple[str, object, str]] | None"]
"""A validator: None if fine, a reason string, or (key suffix, value, reason) items."""


class _Partial(tuple):  # type: ignore[type-arg]
    """An array with some invalid items (already reported): the others, and where each was.

    Never becomes a config value. Only the list-level checks that can be asked of some of the
    items (:func:`unique`) run on it, naming each item by ``indices``, its place in the file,
    so that check-config reports a duplicate in the same run as a bad item. The other list
    checks (``not_empty``, ``ascending``, ``from_zero``) are skipped: with items missing,
    "the previous item" or "the first item" would be the wrong one.
    """

    indices: tuple[int, ...]

    def __new__(cls, items: Iterable[object], indices: Iterable[int]) -> _Partial:
        made = super().__new__(cls, items)
        made.indices = tuple(indices)
        return made


def str_list(*item_checks: Check) -> Kind:
    """An array of strings, each passing ``item_checks``; becomes a tuple."""

    def convert(raw: list[Any], key: str, ctx: _Context) -> object:
        good: list[int] = []
        for i, item in enumerate(raw):
            at = f"{key}[{i}]"
            if not isinstance(item, str):
                ctx.report(at, item, f"expected a string, got {_toml_type(item)}")
            elif _run_checks(at, item, item, item_checks, ctx):
                good.append(i)
        return tuple(raw) if len(good) == len(raw) else _Partial((raw[i] for i in good), good)

    return Kind("an array of strings", lambda v: isinstance(v, list), convert)


def tables(spec: type, build: Callable[..., object] | None = None) -> Kind:
    """An array of tables whose keys ``spec`` declares; each becomes ``build(**keys)``.

    A table with a bad key is kept, for :func:`unique`, as a namespace of its valid keys."""
    make = build or spec

    def convert(raw: list[Any], key: str, ctx: _Context) -> object:
        items: list[object] = []
        ok = True
        for i, item in enumerate(raw):
            values, good = _read_table(spec, item, f"{key}[{i}]", ctx)
            items.append(make(**values) if good else SimpleNamespace(**values))
            ok = ok and good
        return tuple(items) if ok else _Partial(items, range(len(items)))

    return Kind("an array of tables", lambda v: isinstance(v, list), convert)


@dataclass(frozen=True)
class _Setting:
    kind: Kind
    default: object
    checks: tuple[Check, ...]


_SETTING = "qunguan.setting"
_SECTION = "qunguan.section"
_INFERRED_KINDS = {bool: BOOL, int: INT, float: FLOAT, str: STR}


def setting(default: object = REQUIRED, *checks: Check, kind: Kind | None = None) -> Any:
    """Declare one config key as a dataclass field.

    The kind is inferred from the default (bool, int, float, str; a tuple of
    strings is an array of strings) unless given. ``checks`` run on the
    converted value; ``None`` values (optional keys left out) are not checked.
    """
    if kind is None:
        if isinstance(default, tuple):
            kind = str_list()
        else:
            kind = _INFERRED_KINDS[type(default)]
    meta = {_SETTING: _Setting(kind, default, checks)}
    if default is REQUIRED:
        return field(metadata=meta)
    return field(default=kind.default(default, Path(".")), metadata=meta)


# --------------------------------------------------------------------------- checks


def at_least(n: float) -> Check:
    return lambda v: None if v >= n else f"must be at least {n}"


def above(n: float) -> Check:
    return lambda v: None if v > n else f"must be greater than {n}"


MAX_SHUTDOWN_GRACE_SECONDS = 300  # [server] shutdown_grace_seconds; examples/qunguan.service stops after more


# Credit scores and the points a measure takes: a million, as `credit --delta` at most, so that a
# score stays far from PostgreSQL's 32-bit credit_score columns (±2,147,483,647) after thousands of them.
MAX_SCORE = 1_000_000
# Every integer key: TOML's own range (a signed 64-bit integer), which Python's reader does not enforce.
INT_RANGE = (-(2**63), 2**63 - 1)


def between(lo: int, hi: int) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


def one_of(*choices: str) -> Check:
    listed = ", ".join(repr(c) for c in choices)
    return lambda v: None if v in choices else f"must be one of {listed}"


def matches(pattern: str, what: str) -> Check:
    rx = re.compile(pattern)
    return lambda v: None if rx.fullmatch(v) else f"must be {what}"


def not_empty(v: object) -> str | None:
    return None if len(v) else "must not be empty"  # type: ignore[arg-type]


class unique:  # noqa: N801 - used like the other check factories: unique("name")
    """No two items (or items' ``attr``) are equal. Also runs on a :class:`_Partial` list, where an
    item whose ``attr`` was invalid is left out and each item is named by its place in the file."""

    def __init__(self, attr: str | None = None) -> None:
        self.attr = attr

    def __call__(self, items: tuple[Any, ...]) -> list[tuple[str, object, str]]:
        attr = self.attr
        indices = items.indices if isinstance(items, _Partial) else range(len(items))
        seen: dict[Any, int] = {}
        found = []
        for i, item in zip(indices, items, strict=True):
            v = getattr(item, attr, _INVALID) if attr else item
            if v is _INVALID:
                continue
            if v in seen:
                where = f"[{i}]" + (f".{attr}" if attr else "")
                found.append((where, v, f"duplicate {attr or 'value'} (item [{seen[v]}] has it); each must be unique"))
            seen.setdefault(v, i)
        return found


def ascending(attr: str) -> Check:
    """Items' ``attr`` strictly increases (the governance lookups rely on the order)."""

    def check(items: tuple[Any, ...]) -> list[tuple[str, object, str]]:
        found = []
        for i in range(1, len(items)):
            prev, cur = getattr(items[i - 1], attr), getattr(items[i], attr)
            if not cur > prev:
                why = f"must be greater than the previous item's {attr} ({prev!r}); list them in ascending order"
                found.append((f"[{i}].{attr}", cur, why))
        return found

    return check


def from_zero(attr: str) -> Check:
    """The first item's ``attr`` is 0, so that every count falls in some item (a class list: an
    account below the first threshold would be in no class, and missing from the filing report's
    per-class counts)."""

    def check(items: tuple[Any, ...]) -> list[tuple[str, object, str]]:
        first = getattr(items[0], attr) if items else 0
        why = "must be 0: the first class takes every account below the next one"
        return [] if first == 0 else [(f"[0].{attr}", first, why)]

    return check


def readable_file(path: Path) -> str | None:
    try:
        with open(path, "rb"):
            return None
    except FileNotFoundError:
        return f"file not found: {path}"
    except IsADirectoryError:
        return f"is a directory, not a file: {path}"
    except PermissionError:
        return f"file is not readable: {path}"
    except (OSError, ValueError) as exc:
        return f"cannot open {path}: {exc}"


def not_utf8(data: bytes) -> str | None:
    """Why ``data`` is not UTF-8 text, naming the first bad byte; None when it is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    return None


def read_utf8(path: Path) -> str:
    """A list file's text, as serve reads it: ValueError naming the file when it is not UTF-8."""
    data = path.read_bytes()
    why = not_utf8(data)
    if why is not None:
        raise ValueError(f"{path}: {why}")
    return data.decode("utf-8")


def list_text(text: str | None, path: Path) -> str:
    """A list file's text: as the config's load read and checked it (``text``), or, for a config
    built otherwise, read now (:func:`read_utf8`, naming the file)."""
    return text if text is not None else read_utf8(path)


# The list files (word lists, media lists, reserved names) read by the load under way, path -> bytes:
# each is read once, by its check, and the config keeps the text that was checked (``text``,
# ``reserved_text``), which serve builds its lists from. Read again later, a file changed between
# the two reads would be used unchecked, or fail a load that had passed.
_list_reads: ContextVar[dict[Path, bytes] | None] = ContextVar("_list_reads", default=None)


def _read_list(path: Path) -> bytes:
    reads = _list_reads.get()
    if reads is not None and path in reads:
        return reads[path]
    data = path.read_bytes()
    if reads is not None:
        reads[path] = data
    return data


def _checked_text(values: dict[str, Any], key: str, into: str) -> None:
    """``values[into]``: the text of the list file ``values[key]`` names, as its check read it (no
    entry when the file is unset or was not read: a check named why)."""
    reads = _list_reads.get()
    path = values.get(key)
    if reads is not None and path in reads:
        values[into] = reads[path].decode("utf-8")


def utf8_file(path: Path) -> str | None:
    """A readable file (else ``readable_file`` says why) holds UTF-8 text."""
    try:
        return not_utf8(_read_list(path))
    except (OSError, ValueError):
        return None


def _digest_file(path: Path) -> str | None:
    """A known-file list parses as serve parses it (server/media/lists.py)."""
    from server.media.lists import bad_digest_line

    try:
        data = _read_list(path)
    except (OSError, ValueError):
        return None  # readable_file said why
    return not_utf8(data) or bad_digest_line(data.decode("utf-8"))


MAX_RETENTION_DAYS = 36_500  # a century: past it a cut-off in ms before now leaves the store's integers
# Spans a key gives in seconds or hours, each at most a century too: a moment in ms that far from now
# still fits the store's 64-bit integers (a token's expiry ten quadrillion seconds on failed every login).
MAX_SPAN_SECONDS = MAX_RETENTION_DAYS * 86_400
MAX_SPAN_HOURS = MAX_RETENTION_DAYS * 24


def _retention_days(days: int) -> str | None:
    if days > MAX_RETENTION_DAYS:
        return f"must be at most {MAX_RETENTION_DAYS} (a century)"
    if days >= 184:
        return None
    return (
        "the provisions (Art. 13 of the Group Information Service Provisions) require "
        "keeping logs no less than six months, and 184 days is the longest six-month "
        "span; use 184 or more"
    )


def _run_checks(key: str, raw: object, value: object, checks: Iterable[Check], ctx: _Context) -> bool:
    ok = True
    for check in checks:
        result = check(value)
        if isinstance(result, str):
            ctx.report(key, raw, result)
            ok = False
        elif result:
            for suffix, bad, why in result:
                ctx.report(key + suffix, bad, why)
            ok = False
    return ok


def _cidr(v: str) -> str | None:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return "must be an IP address or a network in CIDR form (10.0.0.0/8, fd00::/8)"
    return None


_HOSTNAME = matches(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*",
                    "a host name in lower case (letters, digits, hyphens, dots), without a port")
_ORIGIN = matches(r"\*|https?://[^/\s?#]+", '"*" or an origin: http:// or https://, a host, an optional :port, no path')

# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    host: str = setting("127.0.0.1")
    port: int = setting(8765, between(0, 65535))  # 0 = pick a free port
    max_frame_bytes: int = setting(1048576, at_least(1024))
    # The largest frame a connection not logged in may send; 0: max_frame_bytes (the contract's one
    # limit for every frame). Each frame is read whole into memory, and the ops open before a login
    # are a few hundred bytes: 65536 holds an address's unauthenticated connections to 64 KiB each.
    max_frame_bytes_before_login: int = setting(0, at_least(0))

    @property
    def frame_bytes_before_login(self) -> int:
        """The largest frame a connection not logged in may send (never more than max_frame_bytes)."""
        limit = self.max_frame_bytes_before_login
        return min(limit, self.max_frame_bytes) if limit else self.max_frame_bytes
    auth_timeout_seconds: float = setting(10.0, above(0))
    # However often it asks (each request restarts auth_timeout_seconds), a connection is closed once it
    # has been this long without a login: from its opening, or from its logout.
    max_unauthenticated_seconds: float = setting(900.0, between(1, 86400), kind=FLOAT)
    # Opening handshakes a second, per client address and in all; those over wait for their
    # turn (server/admission.py) rather than being refused. 0 = no pacing.
    handshakes_per_ip_per_second: float = setting(50.0, at_least(0))
    handshakes_per_second: float = setting(1000.0, at_least(0))
    # From the TCP connection to the upgrade's answer, waiting for the turn included: a
    # connection that takes longer (a slow request, or a long line) is dropped. Each connection
    # draws its own limit between half and all of this (server/admission.py: give_up_at).
    handshake_timeout_seconds: float = setting(60.0, between(1, 600))
    # Connections the kernel queues for accept(); past it new ones are dropped and retried by
    # their clients a second or more later. Capped by net.core.somaxconn.
    listen_backlog: int = setting(2048, between(1, 65535))
    # Outgoing bytes buffered for one connection before a slow reader is closed with 1013.
    max_outbox_bytes: int = setting(1048576, at_least(65536))
    compression: bool = setting(False)  # permessage-deflate
    # How often the event-loop monitor checks that the loop is on time (server/loopmon.py): every tick
    # wakes the loop (about 0.15 ms of CPU each on a VM: 1.5 % of a core at 10 ms, idle or not). A
    # stall over 50 ms is logged with what ran during it; one up to a tick longer may go unseen.
    loop_monitor_tick_ms: float = setting(10.0, between(1, 1000))
    log_level: str = setting("INFO", one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    log_json: bool = setting(False)
    # Origins (scheme://host[:port]) whose pages may open a WebSocket here, besides the
    # server's own; "*" allows any. A handshake with another Origin gets 403 (server/web/).
    allowed_origins: tuple[str, ...] = setting((), kind=str_list(_ORIGIN))
    # The host names clients reach this server by; when set, a request whose Host names another
    # (not an address, not localhost) gets 421: a DNS-rebinding page is not taken as our own.
    hostnames: tuple[str, ...] = setting((), kind=str_list(_HOSTNAME))
    # Reverse proxies / load balancers (CIDRs or addresses) whose X-Forwarded-For, or PROXY
    # protocol header when proxy_protocol = true, names the real client (server/proxy.py).
    trusted_proxies: tuple[str, ...] = setting((), kind=str_list(_cidr))
    proxy_protocol: bool = setting(False)
    # TLS directly on the listener (both or neither); re-read on SIGHUP.
    tls_cert: Path | None = setting("", readable_file, kind=OPTIONAL_PATH)
    tls_key: Path | None = setting("", readable_file, kind=OPTIONAL_PATH)
    # After SIGTERM, /readyz answers 503 this long before connections are closed (examples/qunguan.service
    # gives systemd's stop more time than the longest).
    shutdown_grace_seconds: float = setting(0.0, between(0, MAX_SHUTDOWN_GRACE_SECONDS), kind=FLOAT)


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Prometheus metrics at http://host:port/metrics; off while port is 0."""

    host: str = setting("127.0.0.1")
    port: int = setting(0, between(0, 65535))
    # How often the queue gauges (open and overdue reports, open review items) are read from the store.
    queue_refresh_seconds: float = setting(15.0, between(1, 3600))


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    url: str = setting("sqlite:///qunguan.db")
    # A send is refused (rate_limited, retry_after_ms) while this many writes wait for the writer:
    # a slow or stuck database must not grow the queue, and every sender's wait, without bound.
    max_queued_writes: int = setting(100_000, at_least(0))  # 0: no bound
    # PostgreSQL: the longest the store waits for the database to answer one batch of writes (or one
    # read, or a search index slice), and then to learn what became of a batch cut off at its COMMIT;
    # a database that stops answering (a partition without a reset) must not hold the writer forever.
    command_timeout_seconds: float = setting(30.0, between(1, 3600), kind=FLOAT)
    # PostgreSQL: the longest one write of a batch waits for a lock (a table locked by hand, another
    # node's long migration) before that write alone fails; at most half of command_timeout_seconds.
    lock_timeout_seconds: float = setting(2.0, between(1, 3600), kind=FLOAT)
    # Derived from url and base_dir by parse_config; None for PostgreSQL.
    sqlite_file: Path | None = Path("qunguan.db")

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None when the url names PostgreSQL."""
        return self.sqlite_file


_BROKER_URL = r"(nats|tls)://[^\s,]+"
_BROKER_URLS = rf"({_BROKER_URL}(\s*,\s*{_BROKER_URL})*)?"


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """Several nodes sharing one PostgreSQL store through NATS (server/cluster/); off while broker_url is empty."""

    # One NATS server, or several servers of one NATS cluster, comma-separated: the node connects to
    # any of them and, when that one dies, to another (see broker_urls).
    broker_url: str = setting("", matches(_BROKER_URLS, "empty, or NATS urls (nats://host:port or tls://host:port), "
                                                       "comma-separated for the servers of a NATS cluster"))
    node_id: str = setting("", matches(r"[A-Za-z0-9_-]{0,64}", "up to 64 letters, digits, _ or -"))  # "" = host-port
    name: str = setting("qunguan", matches(r"[A-Za-z0-9_-]{1,32}", "1-32 letters, digits, _ or -"))
    lease_seconds: float = setting(3.0, between(1, 60), kind=FLOAT)
    request_timeout_seconds: float = setting(10.0, between(1, 300), kind=FLOAT)
    # The memory a gateway keeps the files it relays from the home in, for 10 minutes each at most
    # (server/cluster/relay_cache.py); 0: none kept. Used only where [media] path is the node's own.
    media_cache_mb: int = setting(64, between(0, 65536))

    @property
    def enabled(self) -> bool:
        return bool(self.broker_url)

    @property
    def broker_urls(self) -> list[str]:
        """The NATS servers to connect to, in the order written (nats-py tries them in a random order)."""
        return [url.strip() for url in self.broker_url.split(",") if url.strip()]


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    """Platform caps (Art. 8); credit levels may lower or raise them per user."""

    max_members: int = setting(500, at_least(2))
    max_groups_created: int = setting(10, at_least(0))
    max_groups_joined: int = setting(500, at_least(1))
    max_admins: int = setting(10, at_least(0))
    max_text_chars: int = setting(4000, at_least(1))
    # edit_message: how long after sending; 0: never
    edit_window_seconds: int = setting(172800, between(0, MAX_SPAN_SECONDS))
    max_pins: int = setting(10, at_least(0))  # pinned messages per group
    max_invite_links: int = setting(100, at_least(0))  # usable invite links per group at once

    @property
    def caps(self) -> Caps:
        return Caps(self.max_members, self.max_groups_created, self.max_groups_joined, self.max_admins)


@dataclass(frozen=True, kw_only=True)
class RateLimitsConfig:
    """Abuse limits; 0 disables a limit."""

    messages_per_second: float = setting(5.0, at_least(0))
    message_burst: int = setting(20, at_least(0))
    code_requests_per_phone_per_hour: int = setting(5, at_least(0))
    code_requests_per_ip_per_hour: int = setting(100, at_least(0))
    # SMS codes the whole service sends in any hour, whoever asks: the per-phone and per-address
    # limits do not bound a sender spreading over many networks (an IPv6 /48 holds 65,536 /64s), and
    # each code is a message the platform pays for. Set it to the SMS budget.
    code_requests_per_hour: int = setting(10000, at_least(0))
    failed_logins_per_ip_per_hour: int = setting(30, at_least(0))
    # Wrong passwords given to login for one account (whatever the address), in any such window.
    failed_logins_per_account: int = setting(10, at_least(0))
    failed_logins_per_account_window_minutes: int = setting(15, between(1, 1440))
    # login requests naming one account in any hour, whatever their outcome: each costs a password
    # hash (argon2) and a right one stores a login token and a network-log row kept six months; a
    # client holding the password could loop login without end. (Tokens make logins rare.)
    logins_per_account_per_hour: int = setting(60, at_least(0))
    connections_per_ip_per_minute: int = setting(120, at_least(0))
    # WebSocket connections a node holds from one client address (network) that are not logged
    # in: past it, a new one is closed at once with 1013. Each request restarts such a
    # connection's auth timer, so without a cap one address could keep thousands open.
    unauthenticated_connections_per_ip: int = setting(50, at_least(0))
    # Password checks (login, register, delete_account, change_password, reset_password) running at
    # once for one client address: each costs tens of ms of CPU and argon2_memory_kib; a further one
    # is rate_limited.
    password_checks_per_ip: int = setting(3, at_least(0))
    # The limits "per IP" count an IPv6 client by its network of this many bits (an IPv4 one by its
    # address): one home line holds a /64 or more (governance/ratelimit.py: network_key).
    ipv6_prefix_length: int = setting(64, between(32, 128))
    # The three limits per address the contract does not name (connections_per_ip_per_minute,
    # unauthenticated_connections_per_ip, password_checks_per_ip) spare the machine's own addresses
    # (127.0.0.0/8, ::1): a client there is the operator's own tool or a test on the machine, or a proxy
    # whose clients all share its address until trusted_proxies names it, which those limits would hold
    # to one client's share. The contract's limits per address apply to every address.
    spare_loopback: bool = setting(True)
    reports_per_hour: int = setting(20, at_least(0))
    # A reporter with at least 5 resolved reports, most of them rejected, gets this lower limit (P15).
    reports_per_hour_when_mostly_rejected: int = setting(2, at_least(0))
    # appeal requests per user: each goes to the operators' queue and is kept for good, and one
    # rejected may be filed again at once.
    appeals_per_day: int = setting(10, at_least(0))
    mention_all_per_group_per_hour: int = setting(3, at_least(0))  # send with mention_all, per group
    # set_profile with a new display name, per user: each one is announced to every connection online
    # in the user's groups (user_renamed), so it is limited like @all.
    renames_per_hour: int = setting(10, at_least(0))
    # join_group calls that join a group or ask to join one, per user: each join is announced to the
    # group (member_joined) and each request to its managers (join_request), so alternating join and
    # leave_group, or asking to join group after group, is limited.
    joins_per_minute: int = setting(20, at_least(0))
    # Management and account acts (server/handlers/common.py: MANAGING_OPS), per user in any minute: each writes
    # an enforcement-record entry kept for good and most are announced to a whole group.
    managing_per_minute: int = setting(120, at_least(0))
    # Logged-in connections one account holds at once (all of a cluster's: its home counts them).
    # Each holds an outbox of up to server.max_outbox_bytes and takes every event of the account's
    # groups: without a cap one account opened hundreds and held a gigabyte of unread events.
    connections_per_user: int = setting(20, at_least(0))


@dataclass(frozen=True, kw_only=True)
class _SizeClassKeys:
    name: str = setting(REQUIRED, not_empty, kind=STR)
    min_members: int = setting(REQUIRED, at_least(0), kind=INT)
    require_id: bool = setting(False)
    min_credit_level: int = setting(1, at_least(1))


@dataclass(frozen=True, kw_only=True)
class _ActivityClassKeys:
    name: str = setting(REQUIRED, not_empty, kind=STR)
    min_messages_per_day: float = setting(REQUIRED, at_least(0), kind=FLOAT)


_CATEGORY = matches(r"[a-z0-9_]{1,32}", "1 to 32 characters from a-z, 0-9 and _")


@dataclass(frozen=True, kw_only=True)
class GroupsConfig:
    categories: tuple[str, ...] = setting(
        ("family", "friends", "work", "study", "interest", "business", "public_affairs", "other"),
        not_empty,
        unique(),
        kind=str_list(_CATEGORY),
    )
    info_page_min_members: int = setting(100, at_least(1))
    size_classes: tuple[SizeClass, ...] = setting(
        DEFAULT_SIZE_CLASSES, unique("name"), ascending("min_members"), kind=tables(_SizeClassKeys, SizeClass)
    )
    activity_classes: tuple[ActivityClass, ...] = setting(
        DEFAULT_ACTIVITY_CLASSES,
        unique("name"),
        ascending("min_messages_per_day"),
        kind=tables(_ActivityClassKeys, ActivityClass),
    )
    activity_window_days: int = setting(7, at_least(1))
    # After a manager rejects a join request, its user may not ask that group again for this long (0:
    # at once): each request is an event to every manager, and a raid's accounts asked again at once.
    join_request_cooldown_seconds: int = setting(3600, between(0, MAX_SPAN_SECONDS))


@dataclass(frozen=True, kw_only=True)
class ReportsConfig:
    """Complaints (Art. 12): how long one may wait for an operator before it is reported overdue."""

    answer_within_hours: int = setting(24, between(1, MAX_SPAN_HOURS))


@dataclass(frozen=True, kw_only=True)
class RetentionConfig:
    days: int = setting(190, _retention_days)  # Art. 13: no less than six months
    purge_interval_seconds: int = setting(3600, at_least(60))
    purge_batch: int = setting(1000, between(10, 100000))  # rows per purge transaction (messages: the most)


_HTTPS_URL = matches(r"(https://[^/\s?#]+\S*)?", "an https:// URL (TLS is required)")


def _ca_bundle(path: Path) -> str | None:
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        return f"not a PEM bundle of CA certificates: {exc}"
    except OSError:  # (missing, a directory, unreadable: the file check before it says so)
        return None
    return None


@dataclass(frozen=True, kw_only=True)
class IdentityConfig:
    """Real-identity checks (Art. 6) and credential settings."""

    sms_provider: str = setting("console", one_of("console", "file", "http"))
    sms_outbox: Path = setting("sms.jsonl", kind=PATH)
    # sms_provider / id_verifier = "http": signed JSON over HTTPS (server/providers.py, docs/providers.md)
    sms_url: str = setting("", _HTTPS_URL)  # required when sms_provider = "http"
    sms_secret_file: Path | None = setting("", readable_file, kind=OPTIONAL_PATH)
    id_verifier: str = setting("checksum", one_of("checksum", "http"))
    id_verifier_url: str = setting("", _HTTPS_URL)  # required when id_verifier = "http"
    id_verifier_secret_file: Path | None = setting("", readable_file, kind=OPTIONAL_PATH)
    provider_timeout_seconds: float = setting(5.0, above(0), kind=FLOAT)
    provider_retries: int = setting(2, between(0, 10))
    provider_ca_file: Path | None = setting("", readable_file, _ca_bundle, kind=OPTIONAL_PATH)
    require_id_to_post: bool = setting(False)
    require_id_to_create: bool = setting(True)
    max_accounts_per_id: int = setting(1, at_least(1))
    token_ttl_seconds: int = setting(2592000, between(60, MAX_SPAN_SECONDS))
    argon2_time_cost: int = setting(3, between(1, 20))
    # The low end (1024 KiB) exists so test suites can hash quickly; production wants 65536+.
    argon2_memory_kib: int = setting(65536, between(1024, 4194304))
    key_file: Path | None = setting("", kind=OPTIONAL_PATH)
    key_env: str = setting("", matches(r"([A-Za-z_][A-Za-z0-9_]*)?", "an environment variable name"))
    dev_mode: bool = setting(True)  # false: refuse to start without key_file/key_env (no key file made)
    old_key_files: tuple[str, ...] = setting(())  # earlier identity keys, still able to open what they sealed


@dataclass(frozen=True, kw_only=True)
class _CreditLevelKeys:
    min_score: int = setting(REQUIRED, between(-MAX_SCORE, MAX_SCORE), kind=INT)
    max_members: int | None = setting(None, at_least(2), kind=INT)
    max_groups_created: int | None = setting(None, at_least(0), kind=INT)
    max_groups_joined: int | None = setting(None, at_least(0), kind=INT)
    max_admins: int | None = setting(None, at_least(0), kind=INT)


@dataclass(frozen=True, kw_only=True)
class CreditConfig:
    """Credit scores and the levels they map to (Art. 7, 8)."""

    initial_score: int = setting(100, between(-MAX_SCORE, MAX_SCORE))
    # Points taken off a user's score for each kind of violation (Art. 7, 11).
    penalty_blocked_content: int = setting(2, between(0, MAX_SCORE))
    penalty_report_upheld: int = setting(10, between(0, MAX_SCORE))
    penalty_sanction: int = setting(20, between(0, MAX_SCORE))
    levels: tuple[CreditLevel, ...] = setting(
        DEFAULT_CREDIT_LEVELS, not_empty, ascending("min_score"), kind=tables(_CreditLevelKeys, CreditLevel)
    )


@dataclass(frozen=True, kw_only=True)
class WordListConfig:
    """One prohibited-content word list (Art. 10): UTF-8, one term per line."""

    category: str = setting(REQUIRED, not_empty, kind=STR)
    path: Path = setting(REQUIRED, readable_file, utf8_file, kind=PATH)
    action: str = setting(REQUIRED, one_of("block", "review", "flag"), kind=STR)
    text: str | None = field(default=None, repr=False, compare=False)  # the file as the load read it


@dataclass(frozen=True, kw_only=True)
class MediaListConfig:
    """One known-file list (Art. 10): UTF-8, one SHA-256 (hex) per line (server/media/lists.py)."""

    category: str = setting(REQUIRED, not_empty, kind=STR)
    path: Path = setting(REQUIRED, readable_file, _digest_file, kind=PATH)
    action: str = setting(REQUIRED, one_of("block", "review", "flag"), kind=STR)
    text: str | None = field(default=None, repr=False, compare=False)  # the file as the load read it


@dataclass(frozen=True, kw_only=True)
class ContentConfig:
    lists: tuple[WordListConfig, ...] = setting((), kind=tables(WordListConfig))
    media_lists: tuple[MediaListConfig, ...] = setting((), kind=tables(MediaListConfig))


_MIME = one_of(*KNOWN_TYPES)


@dataclass(frozen=True, kw_only=True)
class MediaConfig:
    """Uploads and the files they leave (server/media/, server/handlers/media.py)."""

    path: Path = setting("media", kind=PATH)  # content-addressed files; relative to the config file
    max_bytes: int = setting(20971520, at_least(1))
    allowed_types: tuple[str, ...] = setting(DEFAULT_ALLOWED, unique(), kind=str_list(_MIME))
    url_ttl_seconds: int = setting(3600, between(1, 604800))
    uploads_per_hour: int = setting(60, at_least(0))  # upload_begin per user; 0: no limit
    # The bytes of one user's stored uploads (their media rows); 0: no quota.
    max_bytes_per_user: int = setting(1073741824, at_least(0))
    # an upload no message carries goes after this
    unattached_ttl_seconds: int = setting(86400, between(1, MAX_SPAN_SECONDS))
    cleanup_interval_seconds: int = setting(600, at_least(1))


@dataclass(frozen=True, kw_only=True)
class _AccountLevelKeys:
    min_score: int = setting(REQUIRED, between(-MAX_SCORE, MAX_SCORE), kind=INT)
    publish_interval_seconds: int = setting(0, at_least(0))
    comments: bool = setting(True)


@dataclass(frozen=True, kw_only=True)
class _SubscriberClassKeys:
    name: str = setting(REQUIRED, not_empty, kind=STR)
    min_subscribers: int = setting(REQUIRED, at_least(0), kind=INT)


@dataclass(frozen=True, kw_only=True)
class _ReadClassKeys:
    name: str = setting(REQUIRED, not_empty, kind=STR)
    min_reads: int = setting(REQUIRED, at_least(0), kind=INT)


@dataclass(frozen=True, kw_only=True)
class PublicAccountsConfig:
    """Public accounts (P4-P13): categories, caps, reserved names, account credit levels."""

    categories: tuple[str, ...] = setting(
        ("news", "government", "education", "culture", "lifestyle", "business", "technology", "other"),
        not_empty,
        unique(),
        kind=str_list(_CATEGORY),
    )
    max_per_subject: int = setting(2, at_least(1))  # live accounts per verified person or organisation (P7)
    max_editors: int = setting(5, at_least(0))
    # One name per line (UTF-8): names, and names containing them, only an operator can grant.
    reserved_names: Path | None = setting("", readable_file, utf8_file, kind=OPTIONAL_PATH)
    reserved_text: str | None = field(default=None, repr=False, compare=False)  # the file as the load read it
    initial_credit: int = setting(100, between(-MAX_SCORE, MAX_SCORE))
    levels: tuple[AccountLevel, ...] = setting(
        DEFAULT_ACCOUNT_LEVELS, not_empty, ascending("min_score"), kind=tables(_AccountLevelKeys, AccountLevel)
    )
    max_title_chars: int = setting(128, between(1, 256))
    max_body_chars: int = setting(20000, at_least(1))
    # P7 tiered management: the classes by subscribers and by reads in the activity window.
    subscriber_classes: tuple[SubscriberClass, ...] = setting(
        DEFAULT_SUBSCRIBER_CLASSES, not_empty, unique("name"), ascending("min_subscribers"),
        from_zero("min_subscribers"),
        kind=tables(_SubscriberClassKeys, SubscriberClass),
    )
    read_classes: tuple[ReadClass, ...] = setting(
        DEFAULT_READ_CLASSES, not_empty, unique("name"), ascending("min_reads"), from_zero("min_reads"),
        kind=tables(_ReadClassKeys, ReadClass),
    )

    @functools.cached_property
    def reserved(self) -> tuple[str, ...]:
        """The reserved names (read once per loaded config; SIGHUP loads a new one)."""
        if self.reserved_names is None:
            return ()
        lines = list_text(self.reserved_text, self.reserved_names).splitlines()
        return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _numeric_id(v: str) -> bool:
    return v.isascii() and v.isdigit() and len(v) <= 10 and int(v) < 2**32 - 1


# The longest path a Unix socket can be bound to or reached at on Linux (sun_path: 108 bytes with its NUL).
MAX_SOCKET_PATH_BYTES = 107


def _socket_path(path: Path) -> str | None:
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        return (f"too long for a Unix socket: {size} bytes as an absolute path, at most {MAX_SOCKET_PATH_BYTES}"
                " (choose a shorter path, such as /run/qunguan/admin.sock)")
    return None


def _os_group(v: str) -> str | None:
    if not v or _numeric_id(v):
        return None
    import grp

    try:
        grp.getgrnam(v)
    except (KeyError, ValueError):
        return f"no such OS group {v!r} on this machine (give a group name or a numeric gid)"
    return None


def _os_user(v: str) -> str | None:
    if _numeric_id(v):
        return None
    import pwd

    try:
        pwd.getpwnam(v)
    except (KeyError, ValueError):
        return f"no such OS user {v!r} on this machine (give a user name or a numeric uid)"
    return None


@dataclass(frozen=True, kw_only=True)
class AdminConfig:
    """The operator channel: a Unix socket, private to the server's OS user unless operators are named."""

    socket: Path = setting("qunguan.sock", _socket_path, kind=PATH)
    # With [[operators]]: the socket's group (name or gid; "" = the server's own group), mode 0660.
    socket_group: str = setting("", _os_group, kind=STR)


OPERATOR_ROLES = ("content_safety_officer", "operator", "reviewer")


@dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """One named operator (P5): the person recorded, their role, and the OS account that identifies them."""

    name: str = setting(REQUIRED, not_empty, kind=STR)
    role: str = setting(REQUIRED, one_of(*OPERATOR_ROLES), kind=STR)
    unix_user: str = setting(REQUIRED, not_empty, _os_user, kind=STR)
    uid: int = -1  # derived from unix_user: what the kernel reports for the peer of the operator socket


def _uid_of(user: str) -> int:
    """The uid of an OS user name or numeric uid that ``_os_user`` accepted."""
    if _numeric_id(user):
        return int(user)
    import pwd

    return pwd.getpwnam(user).pw_uid


def _operator(**values: Any) -> OperatorConfig:
    return OperatorConfig(**values, uid=_uid_of(values["unix_user"]))


@dataclass(frozen=True, kw_only=True)
class AuditConfig:
    """The enforcement record's checkpoints: its chain head, kept outside the database."""

    checkpoint_file: Path = setting("audit-checkpoints.jsonl", kind=PATH)
    checkpoint_interval_seconds: float = setting(60.0, at_least(1), kind=FLOAT)


_ARRAY = "qunguan.array"  # a top-level array of tables ([[operators]])


def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={_SECTION: cls})


@dataclass(frozen=True, kw_only=True)
class Config:
    server: ServerConfig = _section(ServerConfig)
    storage: StorageConfig = _section(StorageConfig)
    cluster: ClusterConfig = _section(ClusterConfig)
    limits: LimitsConfig = _section(LimitsConfig)
    rate_limits: RateLimitsConfig = _section(RateLimitsConfig)
    groups: GroupsConfig = _section(GroupsConfig)
    retention: RetentionConfig = _section(RetentionConfig)
    reports: ReportsConfig = _section(ReportsConfig)
    identity: IdentityConfig = _section(IdentityConfig)
    credit: CreditConfig = _section(CreditConfig)
    content: ContentConfig = _section(ContentConfig)
    media: MediaConfig = _section(MediaConfig)
    public_accounts: PublicAccountsConfig = _section(PublicAccountsConfig)
    admin: AdminConfig = _section(AdminConfig)
    audit: AuditConfig = _section(AuditConfig)
    metrics: MetricsConfig = _section(MetricsConfig)
    # [[operators]]: an array of tables at the top level (empty: single-operator mode).
    operators: tuple[OperatorConfig, ...] = field(default=(), metadata={_ARRAY: OperatorConfig})
    base_dir: Path = Path(".")
    source: Path | None = None
    # Keys that are valid but do nothing as the file stands, or that production should not run with
    # (production_warnings): check-config prints each as a "warning:" line (exit 0), serve logs each
    # as a WARNING at start and on reload.
    warnings: tuple[Problem, ...] = ()
    # ("section.key", "QUNGUAN_SECTION_KEY") for each key a variable set (load_config): a problem found
    # after parsing (the identity key, a file the server writes) names the variable, as parsing's do.
    env_sources: tuple[tuple[str, str], ...] = ()

    def naming_variables(self, problems: list[Problem]) -> list[Problem]:
        """``problems``, each about a key a ``QUNGUAN_*`` variable set saying so: an operator whose
        file says one thing looks there, not at the environment."""
        sources = dict(self.env_sources)
        return [_named(p, sources) for p in problems]


def _named(p: Problem, sources: dict[str, str]) -> Problem:
    var = sources.get(p.key.split("[", 1)[0])
    return Problem(p.key, p.value, f"{p.why} (set by {var})") if var else p


# --------------------------------------------------------------------------- cross-key checks
# A finisher sees the keys of its section that were valid (others are absent),
# may report problems spanning several keys, and may add derived fields.

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def _hosts_parse(url: str) -> bool:
    """Whether a postgresql:// url's server part, as a URL parser cuts it (at the first /, ? or #),
    is a list of host[:port]: what the driver reads it as."""
    try:
        netloc = urllib.parse.urlsplit(url).netloc
    except ValueError:  # (a [ or ] outside a host: "Invalid IPv6 URL")
        return False
    for host in netloc.rpartition("@")[2].split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        _, colon, digits = port.rpartition(":")
        if colon and digits and not digits.isdigit():
            return False
    return True


def _finish_storage(values: dict[str, Any], at: str, ctx: _Context) -> bool:
    url = values.get("url")
    if url is None:
        return False
    if url.startswith(_SQLITE):
        rest = url[len(_SQLITE) :]
        if not rest:
            ctx.report(f"{at}.url", url, "names no database file (e.g. sqlite:///qunguan.db)")
            return False
        # sqlite:///name.db is relative to base_dir; sqlite:////abs/name.db keeps its leading "/".
        values["sqlite_file"] = ctx.base_dir / rest
        return True
    for prefix in _POSTGRES:
        if url.startswith(prefix):
            if len(url) == len(prefix):
                ctx.report(f"{at}.url", url, "names no server (e.g. postgresql://user@host/db)")
                return False
            if not _hosts_parse(url):
                # (the driver reads the text after the first /, ? or # as the path: a raw one in the
                # password leaves a server "host:Ab" whose port is part of the password, and its error
                # quoted it at start-up)
                ctx.report(f"{at}.url", url, "the server part is not host[:port][,host[:port]...]: a /, ?, # or @ "
                           "in the user name or password must be percent-encoded (%2F, %3F, %23, %40)")
                return False
            values["sqlite_file"] = None
            return True
    ctx.report(f"{at}.url", url, "must start with sqlite:/// (a file) or postgresql:// or postgres:// (a server)")
    return False


def _finish_identity(values: dict[str, Any], at: str, ctx: _Context) -> bool:
    ok = True
    for chooser, choice, prefix in (("sms_provider", "http", "sms"), ("id_verifier", "http", "id_verifier")):
        if values.get(chooser) != choice:
            continue
        if values.get(f"{prefix}_url") == "":
            ctx.report(f"{at}.{prefix}_url", "", f'required when {chooser} = "{choice}"')
            ok = False
        secret_key = f"{prefix}_secret_file"
        if secret_key in values:  # absent: already reported as unreadable
            secret_file = values[secret_key]
            if secret_file is None:
                ctx.report(f"{at}.{secret_key}", "", f'required when {chooser} = "{choice}"')
                ok = False
            elif len(secret_file.read_bytes().strip()) < 16:
                ctx.report(f"{at}.{secret_key}", str(secret_file), "the shared secret needs at least 16 bytes")
                ok = False
    return ok


def tls_with_proxy_protocol(tls: bool, proxy_protocol: bool) -> str | None:
    """Why TLS on this port and the PROXY protocol cannot go together, or None: checked on a file,
    and on a reload against the TLS that stays on until a restart (server/operations.py)."""
    if tls and proxy_protocol:
        return "a PROXY protocol proxy terminates TLS itself; use tls_cert/tls_key or proxy_protocol, not both"
    return None


def _finish_server(values: dict[str, Any], at: str, ctx: _Context) -> bool:
    cert, key = values.get("tls_cert"), values.get("tls_key")
    if "tls_cert" not in values or "tls_key" not in values:
        return False  # an unreadable file, already reported
    if (cert is None) != (key is None):
        ctx.report(f"{at}.tls_key" if key is None else f"{at}.tls_cert", "", "tls_cert and tls_key go together")
        return False
    if cert is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            ctx.report(f"{at}.tls_cert", str(cert), f"not a usable certificate and key pair: {exc}")
            return False
        if (why := tls_with_proxy_protocol(True, bool(values.get("proxy_protocol")))) is not None:
            ctx.report(f"{at}.proxy_protocol", True, why)
            return False
    if values.get("proxy_protocol") and not values.get("trusted_proxies"):
        ctx.report(f"{at}.proxy_protocol", True, "needs trusted_proxies: the addresses that send the header")
        return False
    return True


def _read_operators(raw: object, ctx: _Context) -> tuple[OperatorConfig, ...]:
    """``[[operators]]``: each a table; names and OS accounts unique (one account identifies one person).

    Uniqueness is checked among every table's valid ``name`` and ``unix_user``, also when another key of
    some table is wrong (its role, say): check-config names every problem at once. A second OS account
    that is the same uid as an earlier one is reported at its ``unix_user``, the key that was written."""
    if not isinstance(raw, list):
        ctx.report("operators", raw, f"expected an array of tables ([[operators]]), got {_toml_type(raw)}")
        return ()
    ops: list[OperatorConfig] = []
    names: dict[str, int] = {}
    uids: dict[int, int] = {}
    ok = True
    for i, item in enumerate(raw):
        at = f"operators[{i}]"
        values, good = _read_table(OperatorConfig, item, at, ctx)
        name, user = values.get("name"), values.get("unix_user")
        if name is not None:
            if is_user_id(name):
                ctx.report(f"{at}.name", name, "has the shape of a user id (u and 16 hex digits); an operator's "
                           "name must not, so that an operator's deletion is never shown as a member's")
                good = False
            if name in names:
                ctx.report(f"{at}.name", name, f"duplicate name (operators[{names[name]}] has it); each "
                           "operator needs their own")
                good = False
            names.setdefault(name, i)
        if user is not None:
            uid = _uid_of(user)
            if uid in uids:
                first = uids[uid]
                ctx.report(f"{at}.unix_user", user, f"duplicate OS account: uid {uid}, as operators[{first}]"
                           ".unix_user; each operator needs their own")
                good = False
            uids.setdefault(uid, i)
        if good:
            ops.append(_operator(**values))
        ok = ok and good
    return tuple(ops) if ok else ()


def _finish_media(values: dict[str, Any], at: str, ctx: _Context) -> bool:
    quota, largest = values.get("max_bytes_per_user"), values.get("max_bytes")
    if quota and largest is not None and quota < largest:
        ctx.report(f"{at}.max_bytes_per_user", quota, f"must be 0 (no quota) or at least max_bytes ({largest}): "
                   "a file max_bytes allows could never be stored")
        return False
    return True


def _finish_list(values: dict[str, Any], at: str, ctx: _Context) -> bool:
    _checked_text(values, "path", "text")
    return True


def _finish_public_accounts(values: dict[str, Any], at: str, ctx: _Context) -> bool:
    _checked_text(values, "reserved_names", "reserved_text")
    return True


_FINISHERS: dict[type, Callable[[dict[str, Any], str, _Context], bool]] = {
    ServerConfig: _finish_server,
    MediaConfig: _finish_media,
    StorageConfig: _finish_storage,
    IdentityConfig: _finish_identity,
    WordListConfig: _finish_list,
    MediaListConfig: _finish_list,
    PublicAccountsConfig: _finish_public_accounts,
}


# --------------------------------------------------------------------------- reader


def _join(at: str, key: object) -> str:
    return f"{at}.{key}" if at else str(key)


def _unknown(key: object, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f"unknown key; did you mean {close[0]!r}?" if close else "unknown key"


def _read_table(spec: type, data: object, at: str, ctx: _Context) -> tuple[dict[str, Any], bool]:
    """Validate one TOML table against ``spec``'s settings.

    Returns the constructor arguments that were valid, and whether everything was.
    """
    if not isinstance(data, dict):
        ctx.report(at, data, f"expected a table, got {_toml_type(data)}")
        return {}, False
    declared = {f.name: f.metadata[_SETTING] for f in fields(spec) if _SETTING in f.metadata}
    ok = True
    for name, raw in data.items():
        if name not in declared:
            ctx.report(_join(at, name), raw, _unknown(name, declared))
            ok = False
    values: dict[str, Any] = {}
    for name, s in declared.items():
        key = _join(at, name)
        if name not in data:
            if s.default is REQUIRED:
                ctx.report(key, None, "required key is missing")
                ok = False
            else:
                values[name] = s.kind.default(s.default, ctx.base_dir)
            continue
        raw = data[name]
        if not s.kind.accepts(raw):
            ctx.report(key, raw, f"expected {s.kind.label}, got {_toml_type(raw)}")
            ok = False
            continue
        if _is_int(raw) and not INT_RANGE[0] <= raw <= INT_RANGE[1]:  # (the store, a float, would fail on it later)
            ctx.report(key, raw, "out of range: an integer must fit in 64 bits (TOML's integers)")
            ok = False
            continue
        value = s.kind.convert(raw, key, ctx)
        if isinstance(value, _Partial):  # some items were bad (reported): check the others for duplicates
            _run_checks(key, raw, value, [c for c in s.checks if isinstance(c, unique)], ctx)
            ok = False
            continue
        if value is _INVALID or (value is not None and not _run_checks(key, raw, value, s.checks, ctx)):
            ok = False
            continue
        values[name] = value
    finish = _FINISHERS.get(spec)
    if finish is not None:
        ok = finish(values, at, ctx) and ok
    return values, ok


def parse_config(data: dict[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate parsed TOML into a Config, or raise ConfigError listing every problem. Each list file
    is read once (:data:`_list_reads`): the config carries the text that was checked."""
    token = _list_reads.set({})
    try:
        return _parse_config(data, base_dir, source)
    finally:
        _list_reads.reset(token)


def _parse_config(data: dict[str, Any], base_dir: Path, source: Path | None) -> Config:
    ctx = _Context(Path(base_dir))
    if not isinstance(data, dict):
        ctx.report("", data, f"expected a table, got {_toml_type(data)}")
        raise ConfigError(ctx.problems)
    sections = {f.name: f.metadata[_SECTION] for f in fields(Config) if _SECTION in f.metadata}
    for name, raw in data.items():
        if name not in sections and name != "operators":
            if isinstance(raw, dict) or isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
                why = _unknown(name, sections).replace("unknown key", "unknown section")  # [name] or [[name]]
            else:
                why = _outside_sections(str(name), sections)
            ctx.report(str(name), raw, why)
    built: dict[str, Any] = {}
    for name, cls in sections.items():
        values, ok = _read_table(cls, data.get(name, {}), name, ctx)
        if ok:
            built[name] = cls(**values)
    cluster, storage = built.get("cluster"), built.get("storage")
    if cluster is not None and storage is not None and cluster.enabled and storage.sqlite_file is not None:
        ctx.report("cluster.broker_url", cluster.broker_url,
                   "a cluster needs a shared store: set storage.url to a postgresql:// url")
    _check_across(built, source, ctx)
    operators = _read_operators(data.get("operators", []), ctx)
    if operators:
        built["operators"] = operators
    if ctx.problems:
        valid = "storage" in built and "identity" in built
        raise ConfigError(ctx.problems, Config(**built, base_dir=ctx.base_dir, source=source) if valid else None)
    cfg = Config(**built, base_dir=ctx.base_dir, source=source)
    return replace(cfg, warnings=warnings_of(cfg))


def warnings_of(cfg: Config) -> tuple[Problem, ...]:
    """What ``cfg`` warns of (``Config.warnings``). A reload computes them again from the config it
    runs, whose restart-only keys and kept operators are the running ones (server/operations.py):
    from the file alone they would say what does not run (a provider the restart would start, a
    socket "private" that the kept operators keep shared)."""
    warnings = []
    if cfg.admin.socket_group and not cfg.operators:
        warnings.append(Problem("admin.socket_group", cfg.admin.socket_group, "has no effect without [[operators]]: "
                                "the socket stays private to the server's OS user (mode 0600)"))
    warnings += production_warnings(cfg.identity) + _unreachable_size_classes(cfg) + _caps_going_down(cfg)
    warnings += _open_brokers(cfg)
    return tuple(warnings)


def _open_brokers(cfg: Config) -> list[Problem]:
    """A broker off this machine reached without credentials: what crosses it (clients' passwords and
    codes, identity numbers, operator commands as the forwarding node names them) is open to whoever
    can reach it (docs/scale-out.md, "What travels over NATS")."""
    found = []
    for url in cfg.cluster.broker_urls:
        try:
            host = urllib.parse.urlsplit(url).hostname or ""
            local = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:  # (not an address: a name; or no host a parser can read)
            local = False
        if "@" not in url and not local:
            found.append(Problem("cluster.broker_url", url, (
                "names no credentials for a broker off this machine: clients' passwords and codes, identity "
                "numbers and operator commands cross it, open to whoever can reach it; give NATS a user and "
                "subject permissions for this service (nats://user:password@host), and TLS (tls://) off a "
                "private network")))
    return found


def _check_across(built: dict[str, Any], source: Path | None, ctx: _Context) -> None:
    """Keys valid alone that do not fit together: the operator socket on another file's path (the
    server replaces a stale socket there, and a slip such as the database's name lost the database
    before it refused), the record's checkpoints written into another file (the database's, whose
    lines are no checkpoints: the record then ran with none, warning at every check), the metrics on
    the server's own port."""
    admin, storage, ident, audit = (built.get(k) for k in ("admin", "storage", "identity", "audit"))
    taken: dict[str, Path | None] = {"the config file": source}
    if storage is not None:
        taken["storage's database"] = storage.sqlite_file
    if ident is not None:
        taken["identity.key_file"] = ident.key_file
        if ident.key_file is None and not ident.key_env and ident.dev_mode and storage is not None:
            # No key named: serve keeps its own beside the SQLite database, or on PostgreSQL in the
            # config file's folder (server/security.py: default_key_file), and refuses a socket there.
            folder = storage.sqlite_file.parent if storage.sqlite_file is not None else ctx.base_dir
            taken["the identity key file (identity.key, made by the first start)"] = folder / "identity.key"
    checkpoints = audit.checkpoint_file if audit is not None else None
    if checkpoints is not None:
        for what, path in taken.items():
            if path is not None and _same_file_key(path) == _same_file_key(checkpoints):
                ctx.report("audit.checkpoint_file", str(checkpoints),
                           f"is {what}: the record's checkpoints need a file of their own")
    if admin is not None:
        taken["audit.checkpoint_file"] = checkpoints
        socket = _same_file_key(admin.socket)
        for what, path in taken.items():
            if path is not None and _same_file_key(path) == socket:
                ctx.report("admin.socket", str(admin.socket), f"is {what}: the operator socket needs a path of its own")
    server, metrics = built.get("server"), built.get("metrics")
    anywhere = ("", "0.0.0.0", "::")
    if (server is not None and metrics is not None and metrics.port and metrics.port == server.port
            and (metrics.host == server.host or metrics.host in anywhere or server.host in anywhere)):
        ctx.report("metrics.port", metrics.port, "is server.port too: give the metrics a port of their own")


def _unreachable_size_classes(cfg: Config) -> list[Problem]:
    """A size class needing a credit level beyond the last of ``credit.levels``: valid (the default
    classes beside two levels of one's own), but no owner could ever reach it, so every group stops
    growing below its ``min_members``. Said, where it used to pass unseen."""
    groups, credit = cfg.groups, cfg.credit
    return [Problem(f"groups.size_classes[{i}].min_credit_level", size.min_credit_level,
                    f"there are only {len(credit.levels)} credit levels (credit.levels): no owner can reach level "
                    f"{size.min_credit_level}, so no group grows to {size.min_members} members ({size.name})")
            for i, size in enumerate(groups.size_classes) if size.min_credit_level > len(credit.levels)]


def _caps_going_down(cfg: Config) -> list[Problem]:
    """A credit level allowing less than the one below it (tiers.caps_going_down): valid, but a
    user who earns credit loses room, which nobody meant; said where it used to pass unseen."""
    return [Problem(f"credit.levels[{n - 1}].{name}", value,
                    f"level {n} allows {value} {name}, fewer than level {n - 1}'s {below} (a level without "
                    f"{name} takes [limits] {name}): set it on the level, or change [limits]")
            for n, name, value, below in caps_going_down(cfg.limits.caps, cfg.credit.levels)]


def _same_file_key(path: Path) -> Path:
    """``path`` made absolute and its folder's links resolved, to compare two keys' files."""
    path = path.absolute()
    return path.parent.resolve() / path.name


_NOT_DEV = "with dev_mode = false (production): "
_SMS_WHERE = {"console": "printed on the server's standard output",
              "file": "appended to identity.sms_outbox with the phone numbers in plain text"}


def production_warnings(ident: IdentityConfig) -> list[Problem]:
    """The development providers in a production config (``dev_mode = false``): valid, but what the
    checks of Art. 6 stand on is then not verified. Warned about, not refused (a staging server may
    run them on purpose)."""
    if ident.dev_mode:
        return []
    found = []
    if ident.id_verifier == "checksum":
        found.append(Problem("identity.id_verifier", ident.id_verifier, _NOT_DEV + (
            "the checksum verifier checks only the ID number's form, check digit and birth date and never "
            "compares the legal name with anything, so any invented number with a valid check digit verifies; "
            "max_accounts_per_id, the blacklist's bar on a person's ID, require_id_to_create and the verified "
            "person behind a public account then rest on numbers nobody checked. Set id_verifier = \"http\" "
            "with id_verifier_url and id_verifier_secret_file: an identity register that confirms the name and "
            "number belong together (docs/providers.md)")))
    if ident.sms_provider in _SMS_WHERE:
        found.append(Problem("identity.sms_provider", ident.sms_provider, _NOT_DEV + (
            f"no code is sent to a phone, each is {_SMS_WHERE[ident.sms_provider]}, so a phone is verified only "
            "if someone passes the codes on. Set sms_provider = \"http\" with sms_url and sms_secret_file: an "
            "SMS gateway (docs/providers.md)")))
    return found


def _outside_sections(name: str, sections: dict[str, type]) -> str:
    """Why a plain key at the top level (above every [section]) is wrong, and which sections have it."""
    owners: dict[str, list[str]] = {}
    for section, cls in sections.items():
        for f in fields(cls):
            if _SETTING in f.metadata:
                owners.setdefault(f.name, []).append(section)
    why = "a key outside any section (keys go under a [section])"
    close = [name] if name in owners else difflib.get_close_matches(name, list(owners), n=1)
    if not close:
        return why
    return why + "; did you mean " + " or ".join(f"[{s}] {close[0]}" for s in owners[close[0]]) + "?"


ENV_PREFIX = "QUNGUAN_"
_TEXT_KINDS = (STR, PATH, OPTIONAL_PATH)


def env_overrides(data: dict[str, Any], environ: dict[str, str] | os._Environ[str],
                  sources: dict[str, str] | None = None) -> list[Problem]:
    """Apply ``QUNGUAN_<SECTION>_<KEY>`` variables over the file's values (secrets, containers).

    String and path keys take the variable's text as it is; other keys read it as
    a TOML value (``8080``, ``true``, ``["10.0.0.0/8"]``). Variables whose section
    is not a config section (``QUNGUAN_URL`` of the terminal client, a key_env
    variable) are not config and are left alone; an unknown key in a known
    section is a problem. ``sources``, when given, gets each key set so and its variable
    (``"server.port": "QUNGUAN_SERVER_PORT"``).
    """
    sections = {f.name: f.metadata[_SECTION] for f in fields(Config) if _SECTION in f.metadata}
    problems = []
    identity = data.get("identity")
    file_key_env = identity.get("key_env") if isinstance(identity, dict) else None
    key_env = environ.get(ENV_PREFIX + "IDENTITY_KEY_ENV", file_key_env)  # the variable holding the key
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or var == key_env:  # the key itself is a secret, not a setting
            continue
        rest = var[len(ENV_PREFIX):].lower()
        if rest == "operators" or rest.startswith("operators_"):
            problems.append(Problem(var, environ[var], "[[operators]] come from the config file only (who may "
                                    "run which command is not taken from the environment); unset it"))
            continue
        section = next((s for s in sorted(sections, key=len, reverse=True) if rest.startswith(s + "_")), None)
        if section is None:
            continue
        key = rest[len(section) + 1:]
        declared = {f.name: f.metadata[_SETTING] for f in fields(sections[section]) if _SETTING in f.metadata}
        if key not in declared:
            problems.append(Problem(var, environ[var], _unknown(key, declared) + f" in [{section}]"))
            continue
        raw: object = environ[var]
        if declared[key].kind not in _TEXT_KINDS:
            try:
                raw = tomllib.loads(f"v = {environ[var]}")["v"]
            except tomllib.TOMLDecodeError:
                pass  # kept as text: the type check names the key and what it expected
        table = data.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = raw
            if sources is not None:
                sources[f"{section}.{key}"] = var
    return problems


def _parse_naming_variables(data: dict[str, Any], base_dir: Path, source: Path | None,
                            sources: dict[str, str]) -> Config:
    """:func:`parse_config`, each problem with a key a variable set naming that variable too: an
    operator whose file says ``port = 8765`` looked there for ``server.port = 'abc'``."""
    env_sources = tuple(sorted(sources.items()))
    try:
        return replace(parse_config(data, base_dir, source), env_sources=env_sources)
    except ConfigError as err:
        valid = replace(err.valid_part, env_sources=env_sources) if err.valid_part is not None else None
        raise ConfigError([_named(p, sources) for p in err.problems], valid) from None


def load_config(path: str | Path | None, environ: dict[str, str] | None = None) -> Config:
    """Read and validate a TOML config file; None means built-in defaults in the working directory.

    ``QUNGUAN_<SECTION>_<KEY>`` variables of ``environ`` (default: the process
    environment) override the file (:func:`env_overrides`).
    """
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}
    if path is None:
        data: dict[str, Any] = {}
        problems = env_overrides(data, env, sources)
        if problems:
            raise ConfigError(problems)
        return _parse_naming_variables(data, Path.cwd(), None, sources)
    path = Path(path).absolute()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError([Problem("", str(path), "config file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", str(path), f"not valid TOML: {exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", str(path), f"not UTF-8: {exc}")]) from None
    except OSError as exc:
        raise ConfigError([Problem("", str(path), f"cannot read: {exc.strerror or exc}")]) from None
    problems = env_overrides(data, env, sources)
    if problems:
        raise ConfigError(problems)
    return _parse_naming_variables(data, path.parent, path, sources)


def file_problems(cfg: Config) -> list[Problem]:
    """Files the server writes as it runs that it could not write: found at start (``serve`` refuses,
    ``check-config`` says so), not by a job that fails at every interval, logged and unseen (the
    record's checkpoints, their tamper evidence, on a read-only /etc under ProtectSystem=strict)."""
    path = cfg.audit.checkpoint_file
    why = None
    try:
        if path.is_dir():
            why = "is a folder: it must name a file"
        elif path.exists():
            why = None if os.access(path, os.W_OK) else "cannot be written by the server's OS user"
        elif not path.parent.is_dir():
            why = f"its folder {path.parent} does not exist"
        elif not os.access(path.parent, os.W_OK):
            why = f"its folder {path.parent} cannot be written by the server's OS user (read-only?)"
    except OSError as err:  # (a folder on the way this user may not enter)
        why = f"cannot be reached: {err.strerror or err}"
    if why is None:
        return []
    return cfg.naming_variables(
        [Problem("audit.checkpoint_file", str(path), why + "; the enforcement record's checkpoints go there")])


def check_config_main(path: str | Path | None) -> int:
    """``qunguan check-config PATH``: print OK and return 0, or print each problem and return 2."""
    from server.security import key_problems

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        # The identity keys too, when [storage] and [identity] were valid: every problem in one run.
        more = key_problems(exc.valid_part) if exc.valid_part is not None else []
        for problem in [*exc.problems, *more]:
            print(problem)
        return 2
    # what serve reads at start: the identity keys (no file is made here), and the files it writes
    problems = key_problems(cfg) + file_problems(cfg)
    if problems:
        for problem in problems:
            print(problem)
        return 2
    for warning in cfg.warnings:
        print(f"warning: {warning}")
    print(f"OK: {path if path is not None else '(built-in defaults)'}")
    return 0


__all__ = [
    "Config",
    "ConfigError",
    "ContentConfig",
    "PublicAccountsConfig",
    "CreditConfig",
    "GroupsConfig",
    "IdentityConfig",
    "LimitsConfig",
    "MediaConfig",
    "MediaListConfig",
    "MetricsConfig",
    "OperatorConfig",
    "Problem",
    "RateLimitsConfig",
    "RetentionConfig",
    "ServerConfig",
    "StorageConfig",
    "WordListConfig",
    "check_config_main",
    "load_config",
    "parse_config",
]
