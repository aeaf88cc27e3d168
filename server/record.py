"""The enforcement record outside the database: sealing old entries, checkpoints, verification.

The record itself lives in the store (``audit``), each entry chained with a
keyed MAC (:mod:`governance.audit`), and the store keeps the last entry appended
(its head row, and this process's memory of what it appended last). This module
keeps what the store cannot vouch for by itself:

- entries written before the record had a key get their MACs only when an operator
  runs ``qunguan admin seal-record`` (:func:`seal`, :class:`~server.storage.changes.SealRecord`):
  only the record's unsealed beginning, after its unkeyed chain is checked, and not
  once a checkpoint has seen the record sealed. Never at start or takeover: someone
  who can write the database can strip every MAC and make any record look like an
  unsealed beginning, and only a person who knows the database predates the keyed
  record may say it is one. At start and takeover an entry without a MAC is logged
  (:func:`report_unsealed`) and named by ``verify-audit``;
- a background job appends the chain head to ``audit.checkpoint_file`` (one
  JSON line: ts, count, last_id, mac) every ``audit.checkpoint_interval_seconds``
  (counted from its last run on any node) when the record grew, and once more at
  shutdown; a tail removed from the database no longer matches the last line;
- :func:`verify` checks the record against the key and every head it knows: the
  file's checkpoints, those handed in from export manifests, the database's head
  row and the last entry this server appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from governance.audit import GENESIS, Checkpoint, Finding, parse_checkpoints
from governance.audit import verify as verify_chain
from server.intervals import Schedule
from server.storage.changes import SealRecord

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.record")

async def report_unsealed(ctx: Context) -> int | None:
    """At start and when a cluster node becomes the home: log the first entry without a MAC, if any;
    returns it (None when every entry has its MAC). Nothing is ever sealed here (module docstring):
    ``SealRecord(None)`` only looks."""
    [(_, left)] = await ctx.store.apply(SealRecord(None))
    if left is not None:
        log.error("enforcement-record entry %d has no mac and is not sealed: verify-audit names it. If this "
                  "database predates the keyed record (entries written before the record had a key), run "
                  "`qunguan admin seal-record` once; otherwise the entry was written or had its mac stripped "
                  "outside the server, and must not be sealed", left)
        return int(left)
    return None


@dataclass(frozen=True, slots=True)
class Sealed:
    """What :func:`seal` did: how many entries it sealed, the first entry still without a MAC (None:
    none), and whether a checkpoint had seen the record sealed (then nothing is sealed)."""

    sealed: int
    left: int | None
    checkpointed: bool


async def seal(ctx: Context) -> Sealed:
    """``seal-record``: give the record's unsealed beginning (entries written before the record had a
    key) its MACs, under the rules of :func:`governance.audit.sealable`.

    The checkpoint file is read only when some entry has no MAC: whether a checkpoint names an entry
    (saw the record sealed) decides whether the store may seal at all. A file that cannot be read
    raises OSError, and nothing is sealed."""
    [(_, left)] = await ctx.store.apply(SealRecord(None))
    if left is None:
        return Sealed(0, None, False)
    lines = await asyncio.to_thread(read_checkpoints, ctx.cfg.audit.checkpoint_file)
    checkpointed = any(cp.last_id > 0 for cp in lines)
    [(sealed, left)] = await ctx.store.apply(SealRecord(checkpointed))
    if sealed:
        log.warning("sealed %d enforcement-record entries with the record key (seal-record)", sealed)
    return Sealed(int(sealed), left, checkpointed)


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file (a line that is not one by :func:`governance.audit.parse_checkpoints`,
    the rule ``verify-audit --checkpoint-file`` reads a file by too, is skipped and logged: one damaged
    line must not hide the others). No file: none. A file that cannot be read
    raises OSError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out, bad = parse_checkpoints(data)
    for n, why in bad:
        log.warning("%s line %d is not a checkpoint (%s); skipped", path, n, why)
    return out


def _append(path: Path, cp: Checkpoint) -> None:
    """One whole line, or none: a write the disk cut short (full) is taken back and raised, so the
    next line is not glued onto a torn one (both were then unreadable) nor is this one counted
    written. A file that does not end a line (torn by a crash) gets the newline it lacks first."""
    line = (json.dumps(cp.as_dict(), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])  # (raises ENOSPC once nothing more fits)
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


async def current_head(ctx: Context) -> Checkpoint:
    """The chain head to write down (checkpoints, export manifests): the record's last entry, or the
    last entry appended (the database's head row, this server's memory) when the record no longer
    reaches it, so that the removal outlives a restart and whatever else is changed in the database."""
    # The heads first, then the record: an entry appended in between only makes the record go past
    # them (read the other way round, that entry would look removed).
    tips = (ctx.store.record_head_known(), await ctx.store.record_head_row())
    count, last_id, mac = await ctx.store.audit_head()
    cp = Checkpoint(ctx.now_ms(), count, last_id, mac or GENESIS)
    for tip in tips:
        if tip is not None and tip[0] > cp.last_id and tip[1] is not None:
            log.error("the enforcement record ends at entry %d, but entry %d was appended: entries were removed "
                      "from its end", cp.last_id, tip[0])
            cp = Checkpoint(cp.ts, tip[0], tip[0], tip[1])
    return cp


async def checkpoint(ctx: Context, last: Checkpoint | None = None) -> Checkpoint | None:
    """Append the chain head to the checkpoint file unless it is the same as ``last``, or has no MAC
    (then nothing is written: ``last`` is returned)."""
    with ctx.monitor.job("record checkpoint"):
        cp = await current_head(ctx)
    if last is not None and (cp.count, cp.mac) == (last.count, last.mac):
        return last
    if last is not None and last.last_id > cp.last_id:
        # (Said once: the line appended next is the file's last.)
        log.error("the audit checkpoint file %s names entry %d, but the record ends at entry %d: entries were "
                  "lost or removed, and verify-audit says so until the file is moved aside. After restoring a "
                  "backup by hand, stop the server and move the file aside (`qunguan restore` does that; "
                  "docs/operations.md, Backup)", ctx.cfg.audit.checkpoint_file, last.last_id, cp.last_id)
    if cp.last_id > 0 and cp.mac == GENESIS:
        # The record's head has no MAC (an unsealed beginning waiting for seal-record): a line would
        # say "sealed" to seal-record, which then refuses, and name a mac the sealed head never has.
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


ROW = "the last entry appended, as the database's head row (audit_head) names it"
KNOWN = "the last entry this server appended"


async def verify(ctx: Context, extra: list[Checkpoint] | None = None) -> Finding:
    """The record against its key and every head known: the checkpoint file's lines, ``extra`` (export
    manifests), the database's head row and the last entry this server appended (a tail removed while
    it runs is caught even before a checkpoint saw it, and with the head row moved back too)."""
    # Every head is read before the entries: an entry appended while they are read goes past the
    # heads, whereas a head read after them could name an entry the read did not see yet.
    known = ctx.store.record_head_known()
    row = await ctx.store.record_head_row()
    heads = await asyncio.to_thread(read_checkpoints, ctx.cfg.audit.checkpoint_file) + (extra or [])
    entries = await ctx.store.audit_entries()
    now = ctx.now_ms()
    if known is not None:
        heads.append(Checkpoint(now, known[0], known[0], known[1] or "", source=KNOWN))
    if row is not None:
        heads.append(Checkpoint(now, row[0], row[0], row[1] or "", source=ROW))
    found = verify_chain(entries, ctx.vault.record_key(), heads)
    if found.whole and row is None:
        return Finding(False, len(entries), len(entries) + 1,
                       "the database's head row (audit_head) is gone: entries may have been removed from the end")
    return found


# -- heads sent ahead of a verify-audit ------------------------------------------------------------
# ``verify-audit --checkpoint-file`` of a file of years sends its heads in several requests (the socket and
# a cluster's NATS message take a few MiB each: server/operator/cli.py, HEAD_BATCH_BYTES). Each but the
# last is kept here under a token the CLI drew, and the last verifies once against all of them: the record
# is read once, not once a batch (a record of millions of entries takes seconds to read and check).
STAGED_HEADS_MAX = 1_000_000  # heads kept at once, all tokens together (about 250 MB): decades of hourly lines
STAGED_HEADS_PER_OPERATOR = STAGED_HEADS_MAX // 4  # one operator's share: others keep room for their checks
STAGED_SECONDS = 600.0  # a token not added to for this long is dropped (its CLI gave up or died)


@dataclass
class StagedHeads:
    """Record heads sent ahead of the request that verifies against them, by the sender's token, each
    token its operator's (``owner``): :data:`STAGED_HEADS_MAX` bounds them all, and
    :data:`STAGED_HEADS_PER_OPERATOR` one operator's, so one cannot fill the room and make everyone
    else's check fail, nor take another's heads."""

    # token -> (when last added to, its heads, its operator)
    by_token: dict[str, tuple[float, list[Checkpoint], str]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def _expire(self, now: float) -> None:
        for old in [t for t, (at, _, _) in self.by_token.items() if now - at > STAGED_SECONDS]:
            del self.by_token[old]

    def add(self, token: str, heads: list[Checkpoint], owner: str = "") -> int:
        """Keep ``heads`` under ``token``; returns how many it holds now. Raises ValueError past
        :data:`STAGED_HEADS_MAX` or ``owner``'s share (nothing is kept then, and the token is dropped),
        or for a token another operator holds."""
        now = self.clock()
        self._expire(now)
        _, kept, holder = self.by_token.get(token, (now, [], owner))
        if holder != owner:
            raise ValueError("that token is another operator's")
        held = sum(len(hs) for _, hs, who in self.by_token.values() if who == owner)
        everyone = sum(len(hs) for _, hs, _ in self.by_token.values())
        most = STAGED_HEADS_PER_OPERATOR
        if held + len(heads) > most or everyone + len(heads) > STAGED_HEADS_MAX:
            self.by_token.pop(token, None)
            raise ValueError(f"more than {most if held + len(heads) > most else STAGED_HEADS_MAX} record heads "
                             "sent ahead at once: give fewer checkpoint files at once")
        kept.extend(heads)
        self.by_token[token] = (now, kept, owner)
        return len(kept)

    def take(self, token: str, owner: str = "") -> list[Checkpoint]:
        """The heads ``owner`` kept under ``token`` (none if it is unknown, expired or another's),
        forgotten here; those of other tokens that expired are dropped too (a CLI killed halfway
        leaves its heads behind)."""
        now = self.clock()
        at, heads, holder = self.by_token.get(token, (0.0, [], owner))
        if holder != owner:
            return []
        self.by_token.pop(token, None)
        self._expire(now)
        return heads if now - at <= STAGED_SECONDS else []
