"""The SQLite WAL's fsync, done by a helper process: an ack waits for the disk, not for the GIL.

Why a process. With ``synchronous=FULL`` every commit fsyncs the WAL inside
SQLite, so the commit must run on a thread, and a thread woken while the event
loop is busy waits for the GIL: to start the transaction, between its
statements and to hand the result back. Measured on a busy 2-core machine those
hand-offs took 0.4-0.5 ms of a 1.1 ms commit (docs/benchmark.md, "Small-room
latency"). So the hot connection commits with ``synchronous=NORMAL`` (the rows
reach the WAL file, in the page cache, in about 0.1 ms for a small batch) and
this helper, which has no GIL to share, runs the ``fdatasync``. The loop writes
one byte per request into a pipe and watches the answer pipe with the rest of
its sockets.

Durability is the same as ``FULL``: a batch is settled (acks, events) only once
an ``fdatasync`` of the WAL that began after its ``COMMIT`` has returned. One
sync covers every commit before it, so requests queued while a sync runs share
the next one (group commit at the level of the disk), and the store may commit
the next batch meanwhile instead of waiting (``sqlite.PIPELINE_ROWS``,
``sqlite.MAX_UNSYNCED``).

If the helper dies, the store syncs the WAL on a thread from then on (slower,
as durable), the batch waiting at that moment included. If ``fdatasync`` itself
fails, the store takes no more writes and the server exits with status 74
(``SqliteStore._sync_failed``): every write waiting or queued fails (``internal``
for a ``send``), none is acknowledged. The rows may be stored all the same: a
retried ``send`` with the same ``client_msg_id`` finds its copy after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("qunguan.store")

Synced = Callable[[BaseException | None], None]

_HELPER = Path(__file__).with_name("wal_sync_helper.py")  # its protocol: that file's docstring


class SyncFailed(OSError):
    """``fdatasync`` of the WAL failed: the writes waiting on it are not known to be on disk."""


class HelperLost(SyncFailed):
    """The helper is gone; the store syncs on a thread from now on."""


class WalSyncer:
    """Requests an fdatasync of one WAL file and calls back, in order, once each is done."""

    def __init__(self, wal_path: Path) -> None:
        self.wal_path = wal_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[Synced] = deque()  # one entry per request sent, oldest first
        self._buf = b""
        self.syncs = 0  # fdatasyncs the helper ran
        self.failed = False  # set for good once the helper is lost

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_HELPER), str(self.wal_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert self._proc.stdout is not None and self._proc.stdin is not None
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._loop.add_reader(self._proc.stdout.fileno(), self._on_answer)

    @property
    def usable(self) -> bool:
        return self._proc is not None and not self.failed

    def request(self, synced: Synced) -> None:
        """Call ``synced(None)`` once an fdatasync begun after this call has returned."""
        assert self._proc is not None and self._proc.stdin is not None
        self._waiting.append(synced)
        try:
            os.write(self._proc.stdin.fileno(), b"s")
        except OSError as err:
            self._lose(HelperLost(f"the WAL sync helper is gone: {err}"))

    def _on_answer(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            data = os.read(self._proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError as err:
            self._lose(HelperLost(f"the WAL sync helper is gone: {err}"))
            return
        if not data:
            self._lose(HelperLost("the WAL sync helper exited"))
            return
        buf = self._buf + data
        whole = len(buf) - len(buf) % 4
        self._buf = buf[whole:]
        for i in range(0, whole, 4):
            n = int.from_bytes(buf[i:i + 4], "little", signed=True)
            self.syncs += 1
            failure = SyncFailed("fdatasync of the WAL failed") if n < 0 else None
            for _ in range(abs(n)):
                if self._waiting:
                    _call(self._waiting.popleft(), failure)

    def _lose(self, err: HelperLost) -> None:
        if not self.failed:
            log.error("%s; syncing the WAL on a thread from now on", err)
        self.failed = True
        self._stop_reading()
        while self._waiting:
            _call(self._waiting.popleft(), err)

    def _stop_reading(self) -> None:
        if self._loop is not None and self._proc is not None and self._proc.stdout is not None:
            try:
                self._loop.remove_reader(self._proc.stdout.fileno())
            except (ValueError, OSError):
                pass

    async def close(self) -> None:
        """Wait for the syncs in flight, then end the helper."""
        while self._waiting and not self.failed:
            await asyncio.sleep(0.001)
        self._stop_reading()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        try:
            await asyncio.get_running_loop().run_in_executor(None, proc.wait, 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def fdatasync_file(path: Path) -> None:
    """What the helper does, on the calling thread (the fallback once the helper is lost)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _call(synced: Synced, err: BaseException | None) -> None:
    try:
        synced(err)
    except Exception:
        log.exception("post-sync callback failed")
