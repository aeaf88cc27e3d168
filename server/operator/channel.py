"""The operator channel: ``qunguan admin`` talks to the running server over a Unix socket.

The socket file is created with mode 0600 next to the config, so only the OS
user that runs the server (or root) can open it; ordinary chat users never
reach it because it is not on the network. One JSON line in, one JSON line
out: ``{"cmd": NAME, "args": {...}}`` → ``{"ok": true, "lines": [...], "exit": 0}``
or ``{"ok": false, "error": "one-line reason"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol.errors import ContractError

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.operator")

# The modules whose commands register themselves with :func:`command` when imported.
COMMAND_MODULES = ("server.operator.groups_people", "server.operator.platform", "server.operator.records")


class OperatorError(Exception):
    """A refused operator command (bad argument, unknown target): exit 2 with this reason."""


@dataclass
class Result:
    lines: list[str] = field(default_factory=list)
    exit: int = 0


Command = Callable[["Context", dict[str, Any]], Awaitable[Result]]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


def load_commands() -> None:
    """Import the command modules (each registers its commands)."""
    for name in COMMAND_MODULES:
        importlib.import_module(name)


class OperatorChannel:
    def __init__(self, app: Context, path: Path) -> None:
        self.app = app
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        load_commands()
        if self.path.exists():
            self.path.unlink()  # a stale socket from a killed server
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            reply = await self.run(line)
            writer.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    async def run(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            name, args = req["cmd"], req.get("args") or {}
            fn = COMMANDS.get(name)
            if fn is None:
                raise OperatorError(f"unknown command {name!r}")
            result = await fn(self.app, args)
        except (OperatorError, ContractError) as err:
            reason = err.reason if isinstance(err, ContractError) else str(err)
            return {"ok": False, "error": reason}
        except (ValueError, KeyError, TypeError) as err:
            return {"ok": False, "error": f"malformed request: {err}"}
        except Exception:
            log.exception("operator command failed")
            return {"ok": False, "error": "internal error; see the server log"}
        return {"ok": True, "lines": result.lines, "exit": result.exit}
