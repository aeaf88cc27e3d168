"""Logging: one line per event on stderr, plain or JSON (``[server] log_json``).

Context travels as ``extra=`` fields (``rid``, ``op``, ``user_id``, ``outcome``,
``ip``, ``code``, ...): the plain format appends them as ``key=value``, the JSON
format makes them keys of the object. Stdlib only.

Loggers: ``qunguan.*`` (the server), ``qunguan.access`` (one line per closed
connection), ``websockets.*`` (the library: handshake failures at INFO and
below, which are a client's problem).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

# Attributes every LogRecord has; anything else was passed in ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _time(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., <extras>, "exc": ...}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in _extras(record).items():
            out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


# What a plain line must not carry raw: a line break would start a line of its own (one that could
# pose as another event), a space or "=" or quote would make a value read as more fields.
_UNSAFE = re.compile(r'[\x00-\x20\x7f-\x9f\u2028\u2029="\\]')
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_C1 = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def _field(value: object) -> str:
    """A ``key=value`` value: as it is, or, when it holds anything :data:`_UNSAFE`, a JSON string
    (quoted, escaped). Values come from clients too (a close reason, an address header)."""
    text = str(value)
    return _quoted(text) if _UNSAFE.search(text) else text


def _quoted(text: str) -> str:
    """``text`` as a JSON string, its characters kept but every control character (C1 and the
    Unicode line separators too, which JSON leaves as they are) escaped."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


class PlainFormatter(logging.Formatter):
    """``TIME LEVEL logger message key=value ...``, one line per event; a traceback, if any, on the
    lines after. Line breaks and control characters in the message are escaped, values with
    spaces, quotes or ``=`` quoted: text a client chose cannot forge a line or a field."""

    def format(self, record: logging.LogRecord) -> str:
        message = _BREAKS.sub(lambda m: _quoted(m.group())[1:-1], record.getMessage())
        line = f"{_time(record)} {record.levelname} {record.name} {message}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_field(v)}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level: str, as_json: bool) -> None:
    """Configure the root logger once: one handler on stderr."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else PlainFormatter())
    root.addHandler(handler)
    set_level(level)


# Libraries whose own logging below WARNING is not the operator's to read, whatever log_level says.
# websockets logs every failed handshake (a port scanner, a bad client) with a traceback at
# ERROR/INFO: that is the client's problem. The others would write what privacy.md keeps out of
# the log: aiosqlite logs each statement with its parameters at DEBUG (message texts, password
# hashes, names), httpx and httpcore each provider request's URL with its query at INFO and DEBUG.
QUIET_LIBRARIES = ("websockets", "aiosqlite", "asyncpg", "nats", "httpx", "httpcore")


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.WARNING))


class Repeats:
    """A warning that can repeat fast while something stays out of reach (the database, the
    broker): logged the first time, then at most once every ``every`` seconds, saying how many
    times it happened since the line before. After :meth:`clear` (it is over), the next is
    logged at once."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._logged_at: float | None = None
        self._since = 0  # occurrences not logged since the last line

    def log(self, logger: logging.Logger, level: int, msg: str, *args: Any) -> bool:
        """Log ``msg % args`` unless a line was logged less than ``every`` seconds ago; True if logged."""
        now = self.clock()
        last = self._logged_at
        if last is not None and now - last < self.every:
            self._since += 1
            return False
        if self._since:
            msg += " (%d more times in the %.0f s before, not logged)"
            args = (*args, self._since, now - last if last is not None else 0.0)
        logger.log(level, msg, *args)
        self._logged_at, self._since = now, 0
        return True

    def clear(self) -> None:
        self._logged_at, self._since = None, 0
