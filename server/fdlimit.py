"""Open files: every connection, the database's files, each upload in progress takes one.

Run out, and the event loop can no longer accept a connection: the client's connect is dropped
before any HTTP answer, and neither the server's log nor its metrics said so (a reviewer's server at
``ulimit -n 256`` took 219 connections and dropped 181 without a line). So at start the soft limit is
raised to the hard one (what systemd's ``LimitNOFILE`` or ``ulimit -Hn`` allows), a low limit is
warned about, and a watch logs a warning while the files open come near the limit; the metrics
carry ``qunguan_process_open_fds`` and ``qunguan_process_max_fds`` (server/metrics.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import resource

from server.logs import Repeats

log = logging.getLogger("qunguan")

LOW = 8192  # fewer open files than this allowed: said at start (each connection takes one)
NEAR = 0.9  # share of the limit past which the watch warns
WATCH_SECONDS = 5.0
_FD_DIR = "/proc/self/fd"
_near = Repeats(every=60.0)


def raise_limit() -> int:
    """Raise the soft limit of open files to the hard limit; the limit in force afterwards. A
    warning when it is still under :data:`LOW`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as err:  # (a hard limit above the kernel's nr_open)
            log.warning("the limit of open files could not be raised from %d to %d: %s", soft, hard, err)
    if soft != resource.RLIM_INFINITY and soft < LOW:
        log.warning("the server may have at most %d files open, and each connection takes one: raise the "
                    "limit (systemd: LimitNOFILE=; a shell: ulimit -n) to serve more than about %d connections",
                    soft, max(soft - 64, 0))
    return soft


def open_files() -> int | None:
    """How many files this process has open now (None where the system does not say: not Linux)."""
    try:
        return len(os.listdir(_FD_DIR))
    except OSError:
        return None


def check(limit: int) -> None:
    """Warn (at most once a minute) while the files open are past :data:`NEAR` of ``limit``."""
    n = open_files()
    if n is None or limit == resource.RLIM_INFINITY or n < NEAR * limit:
        return
    _near.log(log, logging.WARNING, "%d files are open of the %d this process may open: new connections, uploads "
              "and database files are refused once none is left; raise the limit (LimitNOFILE=)", n, limit)


async def watch(limit: int) -> None:
    """The background job: :func:`check` every :data:`WATCH_SECONDS`."""
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        await asyncio.to_thread(check, limit)  # (listing 100,000 descriptors takes about half a second)
