"""Removing media nothing carries any more, and what unfinished uploads leave behind.

A media row goes when no message and no post carries it and either it was never
attached and is older than ``media.unattached_ttl_seconds``, or it was last
attached more than ``ATTACH_GRACE_MS`` ago. Two passes find the rows:

- the frequent one (:func:`run_forever`, every ``media.cleanup_interval_seconds``)
  looks only at uploads never attached, from memory: unattached uploads older than
  the TTL; it also drops idle unfinished uploads and stray temp files;
- the retention purge (:func:`sweep` with ``everything=True``, from
  ``server/retention.py``) asks the store for every row nothing carries, so the
  rows of messages and posts it just purged go in the same run.

Neither removes a file: only the orphan sweep (:func:`sweep_orphans`, part of the
frequent pass, at most once per ``uploads.ORPHAN_GRACE_S``) does, once the database
shows no row naming the file and the file was last placed more than that grace ago.
A node deciding from its own memory that a row was a file's last could be wrong:
on a cluster, a home that lost its lease without noticing yet may delete its row
while the new home stores the same bytes again (a new row naming the same
content-addressed file); unlinking then would leave the new row naming nothing.
The sweep asks the database, and ``place`` makes a file new again whenever an upload
names it, so a file the new home just stored again is left for its row.
The sweep also removes nothing from a folder bound to another database, nor from an unbound
one whose files predate the database (:mod:`server.media.binding`); the gauge
``qunguan_media_sweep_refused`` is 1 while the last sweep refused (and from start, for a folder
marked as another database's: :func:`check_marker`).

No race with ``send`` or ``publish``: a row is chosen only if memory says it was
not attached lately (attaching stamps ``last_used`` in the same step as the
check), chosen rows are marked ``removing`` (attaching one is then refused)
before the delete is handed to the store, and the delete itself re-checks in its
transaction that nothing carries the row.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import TYPE_CHECKING

from server.intervals import Schedule, job_ran
from server.media import binding, uploads
from server.media.service import UPLOAD_IDLE_MS
from server.metrics import METRICS
from server.storage.changes import Audit, DeleteMedia

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.media")

YIELD_EVERY = 16  # orphan removals between two yields to the loop
BATCH = 500  # media ids per delete
# An attached row nothing carries is left alone this long after it was last attached: the
# message or post naming it may still be on its way to the store.
ATTACH_GRACE_MS = 10 * 60 * 1000


async def sweep(ctx: Context, now_ms: int | None = None, everything: bool = False,
                opening: Audit | None = None) -> int:
    """Remove media rows nothing carries and nobody used within the TTL; how many rows. Their files
    stay for the orphan sweep (:func:`sweep_orphans`). ``opening``: a record entry to write with
    the first removal (the retention purge's ``purge_started``, when nothing else wrote it)."""
    now = ctx.now_ms() if now_ms is None else now_ms
    cutoff = now - ctx.cfg.media.unattached_ttl_seconds * 1000
    index = ctx.state.media
    removed = 0
    if not everything:
        ids = [e.media_id for e in index.entries.values() if not e.attached and e.last_used < cutoff]
        for i in range(0, len(ids), BATCH):
            n, opening = await _remove(ctx, ids[i:i + BATCH], now, cutoff, opening)
            removed += n
        return removed
    after = ""
    while True:
        ids = await ctx.store.uncarried_media(cutoff, after, BATCH)
        if not ids:
            return removed
        after = ids[-1]
        n, opening = await _remove(ctx, ids, now, cutoff, opening)
        removed += n
        if len(ids) < BATCH:
            return removed


async def _remove(ctx: Context, ids: list[str], now: int, cutoff: int,
                  opening: Audit | None) -> tuple[int, Audit | None]:
    """Remove those of ``ids`` not used lately (never attached: before ``cutoff``; attached: more
    than ``ATTACH_GRACE_MS`` ago) that the store finds nothing carries; how many, and ``opening``
    unless it was written with them."""
    index = ctx.state.media
    chosen = []
    for media_id in ids:  # no await from here to the apply: the marks are the claim
        e = index.get(media_id)
        if e is None:
            chosen.append(media_id)  # a row memory never had (written by another process): the store decides
        elif not e.removing and e.last_used < (now - ATTACH_GRACE_MS if e.attached else cutoff):
            e.removing = True
            chosen.append(media_id)
    if not chosen:
        return 0, opening
    try:
        (removed,) = await ctx.store.apply(DeleteMedia(tuple(chosen)), audit=opening)
        gone = set(removed)
    finally:
        for media_id in chosen:
            e = index.get(media_id)
            if e is not None:
                e.removing = False
    for media_id in gone:
        index.remove(media_id)  # the file stays: the orphan sweep removes it once no row names it
    if gone:
        log.info("removed %d media rows nothing carries any more (their files go with the orphan sweep)", len(gone))
    return len(gone), None


ORPHANS_JOB = "media_orphans"  # the orphan sweep's name in the store's record of job runs


async def sweep_orphans(ctx: Context, grace_s: float = uploads.ORPHAN_GRACE_S) -> int:
    """Remove the finished files on disk that no media row names, once placed more than ``grace_s``
    ago; how many.

    What leaves them: an upload whose row could not be written (its undo removes no file: on a
    cluster's home that lost the database it cannot know whether a row another node wrote names
    the same content-addressed file), a crash between placing a file and writing its row. The
    store answers which files rows name (every node's rows, not this node's memory); this node's
    index and the uploads it is placing keep theirs too. The grace covers a row still on its way:
    ``place`` makes a file new again each time an upload names it (server/media/uploads.py), and
    the age is looked at again, with the index, right before the unlink (no await in between)."""
    root = ctx.cfg.media.path
    index = ctx.state.media
    removed = 0
    if ctx.store.fenced_out:  # another node serves the database: nothing shared goes on this one's word
        return 0
    if not await binding.bound(ctx):  # the folder is another database's: none of its rows are known here
        METRICS.media_sweep_refused.set(1)
        return 0
    METRICS.media_sweep_refused.set(0)
    for folder in await asyncio.to_thread(uploads.folders, root):
        candidates = await asyncio.to_thread(uploads.orphans_in, root, folder, grace_s)
        for i in range(0, len(candidates), BATCH):
            batch = candidates[i:i + BATCH]
            named = await ctx.store.referenced_media_files(batch)
            for n, sha in enumerate(batch):
                if n and n % YIELD_EVERY == 0:
                    # The removals are file-system calls on the loop (each file's checks and its
                    # removal with no await between); other work runs between every few of them.
                    await asyncio.sleep(0)
                if (sha not in named and not index.file_in_use(sha) and not ctx.store.fenced_out
                        and uploads.remove_if_old(root, sha, grace_s)):
                    removed += 1
    if removed:
        log.info("removed %d media files no row names (older than %d s)", removed, grace_s)
    return removed


async def _orphans_when_due(ctx: Context) -> None:
    """The orphan sweep reads every file's age: it runs once per ``ORPHAN_GRACE_S`` for the whole
    service (its last run in the store's record of job runs), not at every cleanup. A last run more
    than that in the future was stamped by a clock that ran ahead, and the record keeps the latest
    time, so this run's own stamp cannot replace it: waited for, it stopped the sweep for as long
    as the clock had been ahead (a day for a day). Until real time reaches it, the sweep is paced by
    this process's own last sweep instead."""
    last = await ctx.store.job_last_run(ORPHANS_JOB)
    grace_ms = uploads.ORPHAN_GRACE_S * 1000
    since = ctx.now_ms() - last if last is not None else None
    if since is not None and 0 <= since < grace_ms:
        return
    if since is not None and since < 0:
        swept = ctx.orphans_swept_at
        if since > -grace_ms or (swept is not None and time.monotonic() - swept < uploads.ORPHAN_GRACE_S):
            return
    await sweep_orphans(ctx)
    ctx.orphans_swept_at = time.monotonic()
    await job_ran(ctx, ORPHANS_JOB)


def drop_idle_uploads(ctx: Context, now_ms: int) -> int:
    """Forget unfinished uploads nobody wrote to for a while; remove their temp files."""
    svc = ctx.media
    idle = svc.idle_uploads(now_ms)
    for u in idle:
        svc.drop_upload(u)
        if not u.lock.locked():  # a write in flight closes nothing; the temp sweep gets its file later
            u.discard()
    return len(idle)


async def tidy(ctx: Context) -> None:
    """One run of the frequent pass: idle uploads, stray temp files, unattached uploads past the TTL."""
    dropped = drop_idle_uploads(ctx, ctx.now_ms())
    live = list(ctx.media.uploads)
    strays = await asyncio.to_thread(uploads.sweep_temp, ctx.cfg.media.path, live, UPLOAD_IDLE_MS / 1000)
    if dropped or strays:
        log.info("dropped %d idle uploads, removed %d stray temp files", dropped, strays)
    await sweep(ctx)
    await _orphans_when_due(ctx)


JOB = "media_cleanup"  # its name in the store's record of job runs (see server/intervals.py)
PROCESS_START = time.time()  # (imported as the server starts, before it serves)


async def check_marker(ctx: Context) -> None:
    """At start (or promotion): a folder marked as another database's shows in
    ``qunguan_media_sweep_refused`` (and the log) at once, not only at the next sweep, which may
    be an hour away. A folder with no marker yet is left to the sweep, which decides whether to
    bind it (that reads every file's age)."""
    try:
        if await asyncio.to_thread(binding.read_marker, ctx.cfg.media.path) is not None:
            METRICS.media_sweep_refused.set(0 if await binding.bound(ctx) else 1)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("could not compare the media folder's marker with the database; the sweep does")
    await check_files_there(ctx)


SAMPLE = 20  # files the database names, looked for at start


async def check_files_there(ctx: Context) -> None:
    """A database whose files are all missing from the folder (a backup restored without its media
    folder, a mistyped ``[media] path``) is said at start, not found one 404 at a time."""
    root = ctx.cfg.media.path
    shas = list({e.sha256 for e in itertools.islice(ctx.state.media.entries.values(), SAMPLE * 4)})[:SAMPLE]
    if not shas:
        return
    there = await asyncio.to_thread(lambda: sum(uploads.media_file(root, sha).is_file() for sha in shas))
    if not there:
        log.warning("the [media] path folder %s holds none of the %d files looked for of the %d uploads the "
                    "database names: was it restored with the database? Until they are there each such picture "
                    "and file answers 404 (docs/operations.md, Backup)", root, len(shas), len(ctx.state.media))


async def run_forever(ctx: Context) -> None:
    """The background job: :func:`tidy` every ``media.cleanup_interval_seconds``; errors are logged.
    The interval counts from its last run on any node (see :class:`server.intervals.Schedule`)."""
    due = Schedule(ctx, JOB, lambda: ctx.cfg.media.cleanup_interval_seconds)
    await check_marker(ctx)
    if not ctx.cfg.cluster.enabled:  # (a cluster's nodes may share the folder: another may be uploading)
        # A restart forgets every unfinished upload: their temp files go now rather than after the
        # idle wait (on a full disk, what a crash left of one kept writes failing until then). Only
        # files last written before this process began: an upload begun meanwhile is this one's.
        try:
            strays = await asyncio.to_thread(uploads.sweep_temp, ctx.cfg.media.path, list(ctx.media.uploads),
                                             time.time() - PROCESS_START)
        except Exception:  # (best effort: the folder unreadable says so at each sweep, and stops nothing)
            log.warning("the temp files of uploads unfinished before the start could not be removed", exc_info=True)
        else:
            if strays:
                log.info("removed %d temp files of uploads unfinished before the start", strays)
    while True:
        await due.wait()
        try:
            with ctx.monitor.job("media cleanup"):
                await tidy(ctx)
            await due.ran()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("media cleanup failed; it runs again in %d s", ctx.cfg.media.cleanup_interval_seconds)
