"""Test servers forked from a process that has imported the server already (a "zygote").

The suite starts well over a thousand ``python -m server serve`` processes. Each spent most of its
start-up CPU before it read its config: the interpreter's own start and importing the server's modules
(about 0.4 s of a 0.6 s start on the CI machine, several seconds under the suite's load). A zygote, one
per test process, imports those modules once and forks a server per request; the fork runs
``server.cli.main`` exactly as ``python -m server`` would, in its own process, with the test's
working directory, environment and argv, its output on a pipe the test reads. What a test sees is the
same: a separate server process that it can signal, kill and wait for, whose exit status it gets.

The protocol on the zygote's Unix socket, one connection per server:

- the test sends one JSON line ``{"argv": [...], "cwd": "...", "env": {...}}`` with the process's
  stdin (/dev/null), stdout and stderr (the write ends of the test's pipes) as ``SCM_RIGHTS``;
- the zygote answers ``{"pid": N}`` with a pidfd of that process (``SCM_RIGHTS``), through which
  the test signals it, and, when that process has ended, ``{"status": S}`` (a ``subprocess``
  return code: negative for a signal), then closes the connection.

The zygote is single-threaded (a fork copies only the forking thread, so no lock is ever held by a
thread the child lacks): one selector loop over the listening socket and a wake-up pipe for SIGCHLD.
A fork dies with the zygote (``PR_SET_PDEATHSIG``), and the zygote with its test process.

What a fork shares with its siblings, unlike fresh interpreters: the string hash seed, the umask
and limits, and what the interpreter read from the environment at the zygote's start. No test
depends on those; ``QUNGUAN_TEST_ZYGOTE=0`` gives each process its own.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import importlib
import json
import os
import pkgutil
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

PR_SET_PDEATHSIG = 1  # prctl(2)


def _preload() -> None:
    """Import every module of the server (but ``__main__``), so that a fork only reads its config and
    runs: a fork imported the storage backends, their drivers and the operator's commands anew, each
    time. With the freeze in :func:`serve`, a SQLite server's start and stop went from 0.13 to 0.08 s
    of CPU (measured on 2026-12-05)."""
    import server

    for module in pkgutil.walk_packages(server.__path__, "server."):  # (the handlers among them)
        if not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
    from server.storage import search_fold

    search_fold.fold_table()  # (each store's open builds it once a process: before the forks, here)
    from server.cli import _build_parser
    from server.config import load_config

    _build_parser()  # (cached: a fork parses its argv with it)
    load_config(None)  # (compiles the settings' patterns into re's cache, which a fork inherits)
    import encodings.idna  # noqa: F401 - (what the server's first lookup of a host name imports)

    import uvloop  # noqa: F401


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked process: become the server the request names; never returns."""
    status = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote gone: gone too
        for target, fd in enumerate(fds):  # stdin, stdout, stderr
            os.dup2(fd, target)
        os.closerange(3, 65536)  # the zygote's sockets, pipes and selector: as Popen's close_fds
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import server
        from server.cli import main

        sys.argv = [str(Path(server.__file__).parent / "__main__.py"), *request["argv"]]
        status = main(request["argv"])
    except SystemExit as exit_:  # as the interpreter ends on one: a code, or its text on stderr
        if isinstance(exit_.code, int) or exit_.code is None:
            status = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            status = 1
    except BaseException:  # noqa: BLE001 - shown on the test's pipe as python would
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        try:  # what the interpreter does at its end: join the threads left, run the exit functions
            threading._shutdown()  # type: ignore[attr-defined]
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _take(conn: socket.socket, children: dict[int, socket.socket]) -> None:
    """One request: read it (its line may come in parts, its descriptors with the first), fork."""
    conn.setblocking(True)
    line, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    try:
        while not line.endswith(b"\n"):
            more = conn.recv(1 << 16)
            if not more:
                raise ValueError("the request ended before its line did")
            line += more
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, fds)
    finally:
        for fd in fds:
            os.close(fd)
    children[pid] = conn
    # With a pidfd of the fork: a signal sent through it reaches that process or fails, never
    # another one given the same pid after this one was reaped (see ForkedServer.send_signal).
    pidfd = os.pidfd_open(pid)  # (not reaped yet: this loop alone reaps, and it is here)
    try:
        reply = json.dumps({"pid": pid}).encode() + b"\n"
        sent = socket.send_fds(conn, [reply], [pidfd])
        conn.sendall(reply[sent:])
    finally:
        os.close(pidfd)


def serve(path: str) -> None:
    """The zygote's loop: fork a server per connection, report each one's end; return when the test
    process that started it has gone (its stdin, a pipe from that process, ends)."""
    _preload()
    # Everything imported so far moves to the collector's permanent generation, in the zygote, before
    # any fork. A server's start collects everything and freezes it (server/gcpolicy.py): in a fork,
    # that full pass walked every object the zygote made and so copied nearly all of its memory,
    # page by page (a quarter of a forked server's start-up CPU). Frozen here, the pass skips them.
    gc.collect()
    gc.freeze()
    try:
        _loop(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _loop(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, socket.socket] = {}
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                try:
                    _take(conn, children)
                except (OSError, ValueError) as err:  # that request fails alone (its test is told by EOF)
                    print(f"zygote: a request failed: {err!r}", file=sys.stderr, flush=True)
                    if conn not in children.values():
                        conn.close()
            else:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                while children:
                    try:
                        pid, raw = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    conn = children.pop(pid, None)
                    if conn is not None:
                        status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
                        try:
                            conn.sendall(json.dumps({"status": status}).encode() + b"\n")
                        except OSError:
                            pass
                        conn.close()


class ForkedServer:
    """A server forked by the zygote, with the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, conn: socket.socket, pid: int, pidfd: int, stdout: IO[str], stderr: IO[str] | None = None,
                 read: bytes = b"") -> None:
        self._conn = conn
        self.pid = pid
        self._pidfd = pidfd
        self.stdout = stdout
        self.stdin = None
        self.stderr = stderr
        self.returncode: int | None = None
        self._lock = threading.Lock()
        self._buffer = read  # (what came after the pid: the status line, or its start)

    def _read_status(self, timeout: float | None) -> None:
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return  # another thread waits for the end already
        try:
            if self.returncode is not None:
                return
            self._conn.settimeout(timeout)
            try:
                while b"\n" not in self._buffer:
                    chunk = self._conn.recv(4096)
                    if not chunk:  # the zygote went away, and its servers with it (PR_SET_PDEATHSIG)
                        self.returncode = -signal.SIGKILL
                        self._conn.close()
                        return
                    self._buffer += chunk
            except (TimeoutError, BlockingIOError):
                return
            self.returncode = int(json.loads(self._buffer.split(b"\n", 1)[0])["status"])
            self._conn.close()
        finally:
            self._lock.release()

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._pidfd)

    def poll(self) -> int | None:
        self._read_status(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read_status(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(["qunguan serve"], timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """``sig`` to the process, if it has not been reaped. Sent through its pidfd, not its pid:
        between the zygote reaping it and this test reading its status, the pid may already name
        another process."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """This test process's zygote, started on first use and stopped at exit."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.path = f"/tmp/qunguan-zygote-{os.getpid()}-{time.monotonic_ns()}.sock"
        # Its stderr in a file, not the test process's: under xdist a worker's stderr is lost, and
        # what the zygote printed about a request it dropped is what explains the test's failure.
        self.log = Path(self.path).with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", f"from tests.e2e.zygote import serve; serve({self.path!r})"],
                cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the test servers' zygote did not start")

    def fork(self, argv: list[str], cwd: Path, env: dict[str, str], *, stderr_apart: bool = False) -> ForkedServer:
        """Run ``python -m server ARGV`` as a fork; its stderr goes to its stdout's pipe, or, with
        ``stderr_apart``, to a pipe of its own (:attr:`ForkedServer.stderr`)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if stderr_apart else (-1, out_w)
        stdin = os.open(os.devnull, os.O_RDONLY)
        pidfds: list[int] = []
        request = json.dumps({"argv": argv, "cwd": str(cwd), "env": env}).encode() + b"\n"
        try:
            conn = self._hand_over(request, [stdin, out_w, err_w])
        except BaseException:
            for fd in {stdin, out_w, err_w, out_r, err_r} - {-1}:
                os.close(fd)
            raise
        try:
            reply = b""
            while b"\n" not in reply:
                chunk, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                pidfds += fds
                if not chunk:
                    raise RuntimeError(f"the test servers' zygote could not start the process; {self.said()}")
                reply += chunk
            if len(pidfds) != 1:
                raise RuntimeError("the test servers' zygote sent no pidfd of the process")
        except BaseException:
            conn.close()
            for fd in pidfds:
                os.close(fd)
            for fd in {out_r, err_r} - {-1}:
                os.close(fd)
            raise
        finally:
            for fd in {stdin, out_w, err_w}:
                os.close(fd)
        first, rest = reply.split(b"\n", 1)
        return ForkedServer(conn, int(json.loads(first)["pid"]), pidfds[0], open(out_r, encoding="utf-8"),
                            open(err_r, encoding="utf-8") if stderr_apart else None, rest)

    def _hand_over(self, request: bytes, fds: list[int]) -> socket.socket:
        """A connection to the zygote that has taken ``request`` with ``fds``. Tried twice: once (in
        a CI run, under load) the zygote closed a connection before the request was all sent
        (EPIPE), so it had read no whole request and started nothing, and a second try is safe."""
        for attempt in (1, 2):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.path)
                sent = socket.send_fds(conn, [request], fds)
                conn.sendall(request[sent:])
                return conn
            except OSError as err:
                conn.close()
                status = self.proc.poll()
                if attempt == 2 or status is not None:
                    state = "running" if status is None else f"gone (status {status})"
                    raise RuntimeError(f"the test servers' zygote did not take a request ({err!r}; it is "
                                       f"{state}); {self.said()}") from err
                print(f"zygote: a request was not taken ({err!r}); trying again", file=sys.stderr, flush=True)
        raise AssertionError("unreachable")

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
        """``python -m server ARGV`` to its end, as ``subprocess.run`` with both outputs captured:
        (exit code, stdout, stderr)."""
        process = self.fork(argv, cwd, env, stderr_apart=True)
        stdout, stderr = process.stdout, process.stderr
        assert stderr is not None
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.append(stderr.read()), daemon=True)
        reader.start()
        timed_out = threading.Event()

        def kill() -> None:  # as a timed-out subprocess.run: killed
            if process.poll() is None:
                timed_out.set()
                process.kill()

        overdue = threading.Timer(timeout, kill)
        overdue.start()
        try:
            out = stdout.read()
            reader.join()
            status = process.wait()
        finally:
            overdue.cancel()
            stdout.close()
            stderr.close()
        if timed_out.is_set():  # (as asyncio.wait_for of the fresh-interpreter path)
            raise TimeoutError(f"python -m server {' '.join(argv)} ran over {timeout} s")
        return status, out, "".join(err)

    def said(self) -> str:
        """The end of what the zygote wrote on its stderr, for an error about it."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")[-2000:].strip()
        except OSError as err:
            return f"its stderr could not be read ({err!r})"
        return f"its stderr ends: {text}" if text else "its stderr is empty"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for path in (self.path, self.log):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


_shared: Zygote | None = None
_starting = threading.Lock()


def enabled() -> bool:
    """Whether test servers are forked from a zygote (``QUNGUAN_TEST_ZYGOTE=0`` starts each afresh)."""
    return os.environ.get("QUNGUAN_TEST_ZYGOTE", "1") != "0"


def shared(root: Path, env: dict[str, str]) -> Zygote:
    """This test process's zygote (started at first use, stopped at its exit)."""
    global _shared
    with _starting:  # (servers and admin commands start from several threads)
        if _shared is None or _shared.proc.poll() is not None:
            _shared = Zygote(root, env)
            atexit.register(_shared.close)
        return _shared
