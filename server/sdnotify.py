"""systemd's readiness protocol (``Type=notify``): one datagram to ``$NOTIFY_SOCKET``.

``READY=1`` once the server listens, ``RELOADING=1`` + ``MONOTONIC_USEC`` then
``READY=1`` around a SIGHUP reload, ``STOPPING=1`` at shutdown, ``STATUS=`` in
between, and ``EXTEND_TIMEOUT_USEC`` while a long start goes on (:func:`extending`:
the store's migrations after an upgrade). Without ``$NOTIFY_SOCKET`` (not under
systemd) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator

log = logging.getLogger("qunguan.sdnotify")


def notify(*fields: str) -> bool:
    """Send ``KEY=value`` lines; True when a notify socket took them."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):  # an abstract socket
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall("\n".join(fields).encode())
    except OSError as err:
        log.warning("could not notify systemd at %s: %s", path, err)
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1")


@contextlib.asynccontextmanager
async def extending(status: str, every: float = 10.0, by: float = 30.0) -> AsyncIterator[None]:
    """While the body runs, every ``every`` seconds ask systemd for ``by`` seconds more to start
    (``EXTEND_TIMEOUT_USEC``) and say why (``STATUS=``). Without it a migration longer than the
    unit's ``TimeoutStartSec`` (an upgrade's full-text index over millions of messages) was killed
    and rolled back at every restart, and the upgrade never finished (an upgrade reviewer's find).
    A quick body sends nothing."""
    if not os.environ.get("NOTIFY_SOCKET"):
        yield
        return

    async def tick() -> None:
        while True:
            await asyncio.sleep(every)
            notify(f"EXTEND_TIMEOUT_USEC={int(by * 1_000_000)}", f"STATUS={status}")

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
