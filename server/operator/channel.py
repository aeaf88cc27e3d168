"""The operator channel: ``qunguan admin`` talks to the running server over a Unix socket.

With no ``[[operators]]`` configured the socket file is created with mode 0600
next to the config, so only the OS user that runs the server (or root) can
open it, and that user acts as the single operator (``operator``, every
command). With ``[[operators]]`` the socket is mode 0660, group
``admin.socket_group``, and each connection is identified by the kernel's peer
credentials (``SO_PEERCRED``: the uid of the connecting process, which it cannot
forge): the uid is mapped to a configured operator, whose role decides which
commands run (:mod:`governance.operators`) and whose name every record entry,
sanction row, export and notice carries. Ordinary chat users never reach the
socket because it is not on the network. One JSON line in, one JSON line
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
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.operators import SINGLE_OPERATOR, refusal
from protocol.errors import ContractError

# One request line at most: room for a rules or agreement text of a few MiB (set-agreement
# sends the files' text), and a bound on what one connection can make the server buffer.
MAX_REQUEST_BYTES = 4 << 20
# A connection has this long to send its request line, and this many may be sending theirs at once
# (each may hold up to MAX_REQUEST_BYTES meanwhile); the commands themselves are not counted.
REQUEST_TIMEOUT = 60.0
MAX_READING = 16

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.operator")

# The modules whose commands register themselves with :func:`command` when imported.
COMMAND_MODULES = ("server.operator.groups_people", "server.operator.platform", "server.operator.records",
                   "server.operator.filing", "server.operator.backup", "server.operator.sanctions",
                   "server.operator.public_accounts", "server.operator.remove_text",
                   "server.operator.report_content", "server.operator.files", "server.operator.lockouts")


class OperatorError(Exception):
    """A refused operator command (bad argument, unknown target): exit 2 with this reason."""


# The exit status of a command that failed inside the server for a reason it did not expect (a bug, a
# database error): not 2, which says the operator's request was wrong, nor 1, verify-audit's finding.
INTERNAL_EXIT = 3


@dataclass(frozen=True, slots=True)
class Operator:
    """Who runs the current command: a configured operator, or the single operator."""

    name: str
    role: str
    uid: int | None = None
    named: bool = False


SOLE = Operator(SINGLE_OPERATOR, "operator")

# The operator of the command being run (each connection is served in its own task).
CURRENT: ContextVar[Operator] = ContextVar("qunguan_operator", default=SOLE)


def forwarded_operator(operators: tuple[Any, ...], sent: Operator) -> Operator | str:
    """On a cluster's home: the operator a gateway says runs a command, as this node's own
    ``[[operators]]`` know them, or why not. With named operators here, only one of them, by uid, name
    and role, is taken: a gateway whose config names none (drifted, or not reloaded) would otherwise
    forward its server user as the single operator, who may run every command."""
    if not operators:
        return sent  # (no roles here: the gateway's, if it has any, only narrow what may run)
    for o in operators:
        if sent.named and o.uid == sent.uid and o.name == sent.name and o.role == sent.role:
            return sent
    who = f"{sent.name} ({sent.role}, uid {sent.uid})" if sent.named else "the single operator"
    return (f"the home node does not know {who} as a named operator: the nodes' [[operators]] differ; "
            "reload every node with the same file")


def current_operator() -> Operator:
    return CURRENT.get()


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux ``SO_PEERCRED``), or None."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


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
        self.shared = False  # the socket was made for named operators: mode 0660, the socket group's
        self._reading = 0  # connections whose request line is still coming (at most MAX_READING)

    def _operators(self) -> tuple[Any, ...]:
        return tuple(self.app.cfg.operators)

    async def start(self) -> None:
        load_commands()
        if self._operators() and not hasattr(socket, "SO_PEERCRED"):
            raise RuntimeError("[[operators]] needs the kernel's peer credentials (SO_PEERCRED, Linux)")
        self._replace_stale_socket()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                           limit=MAX_REQUEST_BYTES)
        except OSError as err:  # (the message names the key and the path: the bare errno said neither)
            raise ValueError(f"admin.socket = {str(self.path)!r}: {err.strerror or err}") from err
        finally:
            os.umask(old)
        self.shared = bool(self._operators())
        if self.shared:
            # Several OS users: the socket's group may connect; who connected is told by the kernel.
            group = self.app.cfg.admin.socket_group
            if group:
                import grp

                gid = int(group) if group.isascii() and group.isdigit() else grp.getgrnam(group).gr_gid
                os.chown(self.path, -1, gid)
            os.chmod(self.path, 0o660)
            log.info("operator socket %s: named operators %s", self.path,
                     ", ".join(f"{o.name} ({o.role}, OS user {o.unix_user})" for o in self._operators()))
        else:
            os.chmod(self.path, 0o600)

    def _replace_stale_socket(self) -> None:
        """Remove a socket a killed server left at the path; refuse anything else there. A slip in
        ``admin.socket`` (the database's name, the key's) used to delete that file to make the socket."""
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ValueError(f"admin.socket = {str(self.path)!r} names a file that is not a socket; refusing "
                             "to replace it (choose a path of its own for the operator socket)")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1)  # (a live server with a full backlog does not answer at once)
        try:  # a local connect is refused by a stale socket, taken by a live one
            probe.connect(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            self.path.unlink(missing_ok=True)  # nobody listens: a killed server's
            return
        except OSError:
            pass  # no answer in time, or not ours to open (another OS user's): a server may be there
        finally:
            probe.close()
        # Another server answers there (one on another database may share the path by mistake):
        # replacing its socket would cut its operators off from it without a word.
        raise ValueError(f"admin.socket = {str(self.path)!r} is the socket of a server that is running; refusing "
                         "to take it (stop that server, or choose a path of its own for this one)")

    def identify(self, uid: int | None) -> Operator | None:
        """The operator a peer uid stands for; None when operators are named and the uid is none of them.

        A socket made for named operators never stands for the single operator: its group may open
        it, and the single operator may run every command (a reload keeps the last named operators
        for that reason: server/operations.py, keep_named_operators)."""
        ops = self._operators()
        if not ops:
            return None if self.shared else SOLE
        for o in ops:
            if uid is not None and o.uid == uid:
                return Operator(o.name, o.role, uid, named=True)
        return None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        else:
            return  # (never made: what is at the path is not ours to remove)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:  # (the stop goes on: its connections' close frames and last commits matter more)
            log.warning("could not remove the operator socket %s: %s", self.path, err)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            uid = peer_uid(writer.get_extra_info("socket"))
            # Who it is before anything is read (a uid the socket's group lets in but no [[operators]]
            # entry names gets its refusal without the server holding up to 4 MiB of its line), and
            # its line within a time: a connection that says nothing holds no descriptor for good.
            who = self.identify(uid)
            if who is None:
                log.warning("operator socket: refused uid %s (not a configured operator)", uid)
                await _turn_away(reader, writer, f"uid {uid} is not a configured operator "
                                 "([[operators]] in the server's config)")
                return
            if self._reading >= MAX_READING:
                await _turn_away(reader, writer, f"{MAX_READING} operator connections are sending their "
                                 "requests already; try again in a moment")
                return
            self._reading += 1
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
            except TimeoutError:
                await _answer(writer, {"ok": False, "error": f"no request within {REQUEST_TIMEOUT:.0f} s"})
                return
            except (ValueError, asyncio.LimitOverrunError):
                await _turn_away(reader, writer, f"the request is over {MAX_REQUEST_BYTES >> 20} MiB")
                return
            finally:
                self._reading -= 1  # (counted while its line comes: a command that runs is the store's to pace)
            CURRENT.set(who)
            cluster = getattr(self.app, "cluster", None)
            if cluster is not None and not cluster.is_home:  # the home node runs it, for the whole service
                reply = await cluster.admin(who, line)
            else:
                reply = await self.run(line)
            await _answer(writer, reply)
        finally:
            writer.close()

    async def run(self, line: bytes) -> dict[str, Any]:
        """Run one request line. A request that is not ``{"cmd": NAME, "args": {...}}`` is malformed and
        a refused command names its reason (both exit 2); anything else a command raises is an internal
        error (logged with its traceback, exit :data:`INTERNAL_EXIT`), never reported as the operator's
        mistake: a ValueError, KeyError or TypeError deep inside a command is a bug, not bad input."""
        try:
            try:
                text = line.decode("utf-8")  # (json.loads would guess UTF-16 or -32 from the first bytes)
            except UnicodeDecodeError:
                raise OperatorError("malformed request: not UTF-8 JSON") from None
            req = json.loads(text)
            if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
                raise OperatorError('malformed request: not {"cmd": NAME, "args": {...}}')
            name, args = req["cmd"], req.get("args", {})  # (args left out: none; [], "" or null: refused)
        except ValueError as err:  # (not JSON)
            return {"ok": False, "error": f"malformed request: {err}"}
        except RecursionError:  # (nested deeper than the JSON reader follows: a RuntimeError, not a ValueError)
            return {"ok": False, "error": "malformed request: nested too deeply"}
        except OperatorError as err:
            return {"ok": False, "error": str(err)}
        try:
            if not isinstance(args, dict):
                raise OperatorError("malformed request: args must be an object")
            fn = COMMANDS.get(name)
            if fn is None:
                raise OperatorError(f"unknown command {name!r}")
            who = CURRENT.get()
            refused = refusal(who.name, who.role, name) if who.named else None
            if refused is not None:
                log.warning("operator %s (%s) refused: %s", who.name, who.role, name)
                raise OperatorError(refused)
            wrong = argument_problem(name, args)
            if wrong is not None:
                raise OperatorError(wrong)
            result = await fn(self.app, args)
        except (OperatorError, ContractError) as err:
            reason = err.reason if isinstance(err, ContractError) else str(err)
            return {"ok": False, "error": reason}
        except Exception:
            log.exception("operator command failed: %s", name)
            return {"ok": False, "error": "internal error; see the server log", "exit": INTERNAL_EXIT}
        return {"ok": True, "lines": result.lines, "exit": result.exit}


def argument_problem(name: str, args: dict[str, Any]) -> str | None:
    """Why ``args`` cannot be command ``name``'s (one line), or None: each argument must be one the command
    declares (in ``qunguan admin``'s parser, :func:`server.operator.cli.arguments`) and of its kind (text,
    a whole number, true or false, one of its choices); null is an argument left out. Every request passes
    here before its command runs, so no command meets a list where it reads a reason, nor a name it does
    not take (which it would ignore: a filter that filters nothing). The commands check the values
    themselves (ranges, ids, targets)."""
    from server.operator.cli import arguments

    declared = arguments().get(name)
    if declared is None:  # (no command of the CLI's: one registered by a test)
        return None
    for key, value in args.items():
        arg = declared.get(key)
        if arg is None:
            takes = ", ".join(a.label for a in declared.values())
            return f"{name} takes no argument {key!r} ({f'it takes {takes}' if takes else 'it takes none'})"
        if value is not None:
            why = arg.problem(value)
            if why is not None:
                return why
    return None


# A listing of tens of thousands of items (a raid's reports or review items, a year of sanctions) is
# made, and written to the operator, in turns of this many lines, the chat served between: made in one
# step, 50,000 reports held every connection 520 ms (their usernames, whether each is overdue, the
# JSON of each); the 23 MB answer of 50,000 review items, encoded in one step, 80-140 ms.
LINES_PER_TURN = 1000


async def _answer(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    """``reply`` as one JSON line; a long listing's ``lines`` encoded and written a turn at a time."""
    try:
        lines = reply.get("lines")
        if not isinstance(lines, list) or len(lines) <= LINES_PER_TURN:
            writer.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
        else:
            rest = json.dumps({k: v for k, v in reply.items() if k != "lines"}, ensure_ascii=False)
            writer.write(f'{rest[:-1]}{", " if len(rest) > 2 else ""}"lines": ['.encode())
            for start in range(0, len(lines), LINES_PER_TURN):
                part = ", ".join(json.dumps(line, ensure_ascii=False) for line in lines[start:start + LINES_PER_TURN])
                writer.write(f'{", " if start else ""}{part}'.encode())
                await writer.drain()
                await asyncio.sleep(0)
            writer.write(b"]}\n")
        await writer.drain()
    except ConnectionError as err:  # (the operator's tool went away before its answer: nothing to undo)
        log.info("operator socket: the client left before its answer was written (%s)", err)


async def _turn_away(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: str) -> None:
    """Refuse a connection in words, then drop the rest of its request line as it comes (bounded in
    bytes and time, never held whole): closed with it unread, the client could meet a reset before
    it reads why."""
    await _answer(writer, {"ok": False, "error": error})
    with contextlib.suppress(Exception):
        await asyncio.wait_for(_discard_line(reader, 16 * MAX_REQUEST_BYTES), 10)


async def _discard_line(reader: asyncio.StreamReader, at_most: int) -> None:
    """Read and drop input up to the end of the current line, EOF, or ``at_most`` bytes."""
    dropped = 0
    while dropped < at_most:
        chunk = await reader.read(1 << 16)
        if not chunk or b"\n" in chunk:
            return
        dropped += len(chunk)
