"""A real server process on a free port, and helpers to drive it with the client library."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from client_demo.client import Client
from tests.e2e import zygote

ROOT = Path(__file__).resolve().parents[2]
_phones = itertools.count(int(time.time() * 1000) % 10_000_000)
_ids = itertools.count(1)

# The test servers' config: cheap password hashing, no rate limits (a test of one sets it), and the
# loop monitor ticking every 100 ms, not 10: each tick wakes the process, which cost an idle test
# server 2 % of a core (several run at once in every test process, through the whole suite).
FAST_CONFIG = """
[server]
port = 0
auth_timeout_seconds = {auth_timeout}
loop_monitor_tick_ms = 100
[identity]
sms_provider = "file"
sms_outbox = "sms.jsonl"
argon2_time_cost = 1
argon2_memory_kib = 1024
require_id_to_create = {require_id_to_create}
[rate_limits]
code_requests_per_phone_per_hour = 0
code_requests_per_ip_per_hour = 0
code_requests_per_hour = 0
logins_per_account_per_hour = 0
failed_logins_per_ip_per_hour = 0
failed_logins_per_account = 0
connections_per_ip_per_minute = 0
unauthenticated_connections_per_ip = 0
password_checks_per_ip = 0
messages_per_second = 0
joins_per_minute = {joins_per_minute}
managing_per_minute = 0
"""


@functools.cache
def migrated_sqlite() -> Path:
    """A SQLite database with the server's schema and no rows, made once per test process by the
    server's own migrations, for each SQLite server's directory to start from a copy of (as each
    PostgreSQL one starts from a copy of a template): a server then applies no migration, a tenth of
    a second of its start-up's CPU, in a suite that starts hundreds. The migrations from an empty
    file are still run by the store's own tests (tests/server)."""
    import atexit

    from server.storage.sqlite import SqliteStore
    from tests.pgtools import run_sync

    folder = tempfile.mkdtemp(prefix="qg-schema-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "qunguan.db"

    async def migrate() -> None:
        store = SqliteStore(path)
        await store.open()
        await store.close()

    run_sync(migrate())  # (a loop of its own: callable from a running one)
    assert not [p for p in path.parent.iterdir() if p != path], "the closed store left files beside it"
    return path


class ServerProcess:
    """A server process. ``backend``: "sqlite" (qunguan.db in ``workdir``) or "postgresql" (a database
    on the machine's PostgreSQL with the schema and no rows in it, taken here and given back by
    :meth:`cleanup`)."""

    # How the interpreter is told to run the server: ``python -m server serve --config ...`` (a test may
    # run it with ``-c CODE`` to put a fault into the real process: its sys.argv is then
    # ``["-c", "serve", "--config", ...]``, as ``server.cli.main`` reads it).
    LAUNCH: tuple[str, ...] = ("-m", "server")

    def __init__(self, workdir: Path, extra_config: str = "", backend: str = "sqlite", **fmt: Any) -> None:
        self.dir = workdir
        self.config = workdir / "qunguan.toml"
        self.backend = backend
        self.pg_db: str | None = None
        self.pg_url = ""
        storage = ""
        if backend == "postgresql":
            from tests import pgtools

            self.pg_db, self.pg_url = pgtools.create_migrated_db()
            # (lock_timeout_seconds: tests that hold a table (tests/e2e/store_hold.py) keep the writes
            # touching it waiting for seconds; a write is to wait for them, not fail alone)
            storage = f'\n[storage]\nurl = "{self.pg_url}"\nlock_timeout_seconds = 15\n'
        elif backend != "sqlite":
            raise ValueError(f"no backend {backend!r}")
        elif "[storage]" not in extra_config and not (workdir / "qunguan.db").exists():
            shutil.copyfile(migrated_sqlite(), workdir / "qunguan.db")
        # joins_per_minute: off, as the other limits above (tests join many groups with one user in a row);
        # a test of the limit sets it (``joins_per_minute=2``).
        params = {"auth_timeout": 10.0, "require_id_to_create": "false", "joins_per_minute": 0, **fmt}
        self.config.write_text(FAST_CONFIG.format(**params) + extra_config + storage, encoding="utf-8")
        self.proc: subprocess.Popen | zygote.ForkedServer | None = None
        self.url = ""
        self.port = 0
        self.output: list[str] = []

    def start(self) -> ServerProcess:
        self.url = ""
        argv = ["serve", "--config", str(self.config)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if self.LAUNCH == ServerProcess.LAUNCH and zygote.enabled():
            self.proc = zygote.shared(ROOT, env).fork(argv, self.dir, env)
        else:
            self.proc = subprocess.Popen(
                [sys.executable, *self.LAUNCH, *argv], cwd=self.dir,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            )
        # This process's own list and event: the previous process's reader may still be at its
        # pipe's end after a restart, and must not mark this one as exited (or add its lines here).
        self.output = []
        self._listening = threading.Event()
        self._drained = threading.Event()
        threading.Thread(target=self._drain, args=(self.proc, self.output, self._listening, self._drained),
                         daemon=True).start()
        if not self._listening.wait(60):  # a loaded CI machine: migrations alone took seconds
            self.proc.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        if not self.url:
            raise RuntimeError("server exited:\n" + "".join(self.output))
        return self

    def _drain(self, proc: subprocess.Popen | zygote.ForkedServer, output: list[str],
               listening: threading.Event, drained: threading.Event) -> None:
        """Read the server's output for its whole life, so the pipe never fills."""
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if ("listening on ws://" in line or "listening on wss://" in line) and proc is self.proc:
                self.url = line.split("listening on ", 1)[1].strip()
                self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
                listening.set()
        listening.set()
        drained.set()

    def exit_status(self, timeout: float) -> int | None:
        """The server's exit status once it has exited (None if it still runs after ``timeout``),
        with all it wrote in :attr:`output`: its last lines may still be in the pipe, on their way
        to the reading thread, when the process is already gone."""
        assert self.proc is not None
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._drained.wait(5)
        return status

    async def logged(self, *needles: str, timeout: float = 10.0) -> bool:
        """Whether a line with any of ``needles`` has reached :attr:`output` within ``timeout``: a
        line the server logged just before it answered may still be on its way through the pipe
        (read by a thread) when the test has the answer."""
        deadline = time.monotonic() + timeout
        while True:
            if any(n in line for line in list(self.output) for n in needles):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    async def stopped(self) -> None:
        """:meth:`stop` from an async test: the server's close frames reach clients whose event
        loop keeps running, so it need not wait out its 2 s ``close_timeout`` for each."""
        await asyncio.to_thread(self.stop)

    async def cleaned_up(self) -> None:
        """:meth:`cleanup` from an async test (see :meth:`stopped`)."""
        await asyncio.to_thread(self.cleanup)

    def cleanup(self) -> None:
        """Stop the server and give back its PostgreSQL database (if it has one), to be emptied or dropped."""
        self.stop()
        if self.pg_db is not None:
            from tests import pgtools

            pgtools.release_db(self.pg_db)  # (emptied for the next test, on a thread of its own)
            self.pg_db = None

    def db_rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of one statement on the server's database, whichever backend (``?`` placeholders).

        Also for writes (a test tampering with the records as someone with database access could).
        """
        if self.backend == "postgresql":
            from tests import pgtools

            return pgtools.query(self.pg_url, sql, *params)
        import sqlite3

        con = sqlite3.connect(self.dir / "qunguan.db", timeout=10, isolation_level=None)
        try:
            return [tuple(r) for r in con.execute(sql, params).fetchall()]
        finally:
            con.close()

    async def admin(self, *args: str) -> tuple[int, str, str]:
        """Run ``qunguan admin --config ... ARGS`` as the operator would; (exit code, stdout, stderr)."""
        if zygote.enabled():
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            argv = ["admin", "--config", str(self.config), *args]
            return await asyncio.to_thread(zygote.shared(ROOT, env).run, argv, self.dir, env, 30)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "admin", "--config", str(self.config), *args,
            cwd=self.dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    def last_code(self, phone: str) -> str:
        code = None
        for line in (self.dir / "sms.jsonl").read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["phone"] == phone:
                code = entry["code"]
        assert code is not None, f"no code sent to {phone}"
        return code

    async def client(self, encoding: str = "msgpack") -> Client:
        return await Client.connect(self.url, encoding=encoding)

    async def register(self, c: Client, name: str, display_name: str) -> str:
        """Register ``name`` (password ``password123``) on connection ``c`` with a new phone and the
        code sent to it, as the registration form does; the phone."""
        phone = new_phone()
        await c.request("request_code", phone=phone)
        await c.request("register", username=name, password="password123", phone=phone,
                        code=self.last_code(phone), display_name=display_name)
        return phone

    async def user(self, name: str | None = None, *, verify_id: bool = False,
                   encoding: str = "msgpack") -> Client:
        """A registered, logged-in client (optionally with a verified identity)."""
        n = next(_ids)
        name = name or f"user{n}"
        c = await self.client(encoding)
        phone = await self.register(c, name, name.title())
        await c.login(name, "password123")
        c.username = name  # type: ignore[attr-defined]
        c.phone = phone  # type: ignore[attr-defined]
        if verify_id:
            await c.request("verify_identity", legal_name="张三", id_number=new_id_number())
        return c


def new_phone() -> str:
    return f"139{next(_phones) % 100_000_000:08d}"


_id_serial = itertools.count(int(time.time()) % 900 + 1)


def new_id_number(birth: str = "19900101") -> str:
    from governance.identity import id_check_char

    serial = next(_id_serial) % 1000
    first17 = f"110105{birth}{serial:03d}"
    return first17 + id_check_char(first17)


async def open_group(owner: Client, **kw: Any) -> str:
    args = {"name": "tea room", "category": "friends", "join_policy": "open", **kw}
    return (await owner.request("create_group", **args))["group_id"]


async def close_all(*clients: Client) -> None:
    for c in clients:
        await c.close()


async def restart(srv: ServerProcess, *clients: Client) -> list[Client]:
    """Stop and start the server (after a test changed the database as an operator's tool would, or
    to show that something holds across a restart); returns the clients logged in again on new
    connections (each registered with the password ``password123``)."""
    await close_all(*clients)
    await srv.stopped()
    srv.start()
    fresh = []
    for c in clients:
        n = await srv.client()
        await n.login(c.username, "password123")  # type: ignore[attr-defined]
        n.username = c.username  # type: ignore[attr-defined]
        fresh.append(n)
    return fresh


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))


async def closed_by_server(c: Client, timeout: float = 5.0) -> tuple[int | None, str | None]:
    """Waits for the server to close ``c``; its close code and reason."""
    deadline = time.monotonic() + timeout
    while not c.closed and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert c.closed, "still open"
    return c.ws.close_code, c.ws.close_reason
