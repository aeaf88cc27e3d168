"""The enforcement record outside the database: sealing old entries, checkpoints, verification.

The record itself lives in the store (``audit``), each entry chained with a
keyed MAC (:mod:`governance.audit`). This module keeps what the store cannot
vouch for by itself:

- at start, entries written before the key existed get their MACs
  (:class:`~server.storage.changes.SealRecord`), after their unkeyed chain is
  checked;
- a background job appends the chain head to ``audit.checkpoint_file`` (one
  JSON line: ts, count, last_id, mac) every ``audit.checkpoint_interval_seconds``
  (counted from its last run on any node) when the record grew, and once more at
  shutdown; a tail removed from the database no longer matches the last line;
- :func:`verify` checks the record against the key and every checkpoint (the
  file's, and those handed in from export manifests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from governance.audit import GENESIS, Checkpoint, Finding
from governance.audit import verify as verify_chain
from server.intervals import Schedule
from server.storage.changes import SealRecord

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.record")

SEAL_BATCH = 1000


async def seal(ctx: Context) -> int:
    """Give every entry without a MAC its MAC (in batches); returns how many were sealed."""
    total = 0
    while True:
        [result] = await ctx.store.apply(SealRecord(SEAL_BATCH))
        n = int(result)
        total += n
        if n < SEAL_BATCH:
            break
    if total:
        log.info("sealed %d enforcement-record entries with the record key", total)
    return total


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file (a line that does not parse, or is not UTF-8, is skipped and
    logged: one damaged line must not hide the others). No file: none. A file that cannot be read
    raises OSError."""
    out: list[Checkpoint] = []
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return out
    for n, line in enumerate(lines, start=1):
        try:
            d = json.loads(line.decode("utf-8"))  # (UnicodeDecodeError is a ValueError)
            out.append(Checkpoint(int(d["ts"]), int(d["count"]), int(d["last_id"]), str(d["mac"])))
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d is not a checkpoint; skipped", path, n)
    return out


def _append(path: Path, cp: Checkpoint) -> None:
    line = (json.dumps(cp.as_dict(), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


async def current_head(ctx: Context) -> Checkpoint:
    count, last_id, mac = await ctx.store.audit_head()
    return Checkpoint(ctx.now_ms(), count, last_id, mac or GENESIS)


async def checkpoint(ctx: Context, last: Checkpoint | None = None) -> Checkpoint:
    """Append the chain head to the checkpoint file unless it is the same as ``last``."""
    with ctx.monitor.job("record checkpoint"):
        cp = await current_head(ctx)
    if last is not None and (cp.count, cp.mac) == (last.count, last.mac):
        return last
    await asyncio.get_running_loop().run_in_executor(None, _append, ctx.cfg.audit.checkpoint_file, cp)
    return cp


JOB = "record_checkpoint"  # its name in the store's record of job runs (see server/intervals.py)


async def run_checkpoints(ctx: Context) -> None:
    """The background job: a checkpoint every ``audit.checkpoint_interval_seconds`` when the record grew.

    The interval is the service's, like the purge's: it counts from the last checkpoint run on
    any node (the store remembers it), so a node that starts or becomes the home writes one when
    it is due, not a whole interval after its start (a home that changes more often than the
    interval would otherwise never write one), nor one at every start. The line goes to this
    node's ``audit.checkpoint_file`` (the same file on shared storage in a cluster: see
    docs/scale-out.md); it is compared with that file's last line, read (off the event loop) before
    the first checkpoint and again after a failed one, inside the job's guard: a file that cannot
    be read is logged and tried again at the next interval, and never ends the job."""
    last: Checkpoint | None = None
    known = False  # whether ``last`` is the file's last line
    due = Schedule(ctx, JOB, lambda: ctx.cfg.audit.checkpoint_interval_seconds)
    while True:
        await due.wait()
        try:
            if not known:
                files = await asyncio.to_thread(read_checkpoints, ctx.cfg.audit.checkpoint_file)
                last, known = (files[-1] if files else None), True
            last = await checkpoint(ctx, last)
            await due.ran()
        except asyncio.CancelledError:
            raise
        except Exception:
            known = False
            log.exception("writing an enforcement-record checkpoint failed; trying again later")


async def verify(ctx: Context, extra: list[Checkpoint] | None = None) -> Finding:
    entries = await ctx.store.audit_entries()
    checkpoints = read_checkpoints(ctx.cfg.audit.checkpoint_file) + (extra or [])
    return verify_chain(entries, ctx.vault.record_key(), checkpoints)
