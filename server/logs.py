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
import sys
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


class PlainFormatter(logging.Formatter):
    """``TIME LEVEL logger message key=value ...``; a traceback, if any, on the lines after."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name} {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
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


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level)
    # websockets logs every failed handshake (a port scanner, a bad client) with a
    # traceback at ERROR/INFO: that is the client's problem, not the operator's.
    logging.getLogger("websockets").setLevel(max(logging.getLevelName(level), logging.WARNING))
