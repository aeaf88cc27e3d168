"""The retention purge (G13, P16): remove what is past ``retention.days``, nothing else.

A background job runs every ``retention.purge_interval_seconds`` (counted from the service's
last purge, which the store remembers: a restart or a new cluster home does not put it off);
``qunguan admin purge`` runs the same code at once, and counts as the service's last purge. Each table is purged in
batches of at most ``retention.purge_batch`` rows, each batch its own transaction
through the store's group-commit writer, so the hot path (message appends in
the same writer) waits for at most one small batch, never for the whole purge.
A batch of messages' size follows how long batches take (:func:`next_batch`).

What goes, once its timestamp is past the cutoff (:func:`governance.retention.cutoff_ms`):
  messages (deleted and held ones included), network logs, membership changes,
  resolved reports and decided review items, and the identity data of
  accounts cancelled before the cutoff (not blacklisted ones: a blacklist is
  kept on the identity for good, P13).
  Login tokens past their own expiry, and what ``ended_logins`` kept of why a login ended (not by the
  period; nothing holds them; they are no record, so the enforcement record does not list them).
Then the media rows (and files) that no message or post carries any more and that
  nobody attached within ``media.unattached_ttl_seconds`` (server/media/cleanup.py).
What never goes here: the enforcement record (``audit``, a hash chain: removing
  its head would break it; it is the platform's own record of enforcement),
  sanctions, groups (a group id is never reused) and account rows themselves.

Legal hold: nothing of a held group or held user goes, whatever its age.
A group or user is held while
  - an operator hold names it (``qunguan admin hold``) and is not released;
  - an open report names it (a reported message holds its group and its sender);
  - a sanction against it is in force, or appealed and the appeal not yet decided (see
    :func:`governance.retention.sanction_holds`);
and a message with an open content-review item is held on its own.
The holds are evaluated inside each batch's transaction, so a hold placed
while a purge runs protects everything the following batches would touch.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from governance.retention import DAY_MS, cutoff_ms
from server.intervals import Schedule
from server.media import cleanup as media_cleanup
from server.metrics import METRICS
from server.storage.changes import PURGE_TABLES, Audit, MessageKey, NetlogKey, Purge, PurgeMessages, PurgeNetlog

if TYPE_CHECKING:
    from server.context import Context

log = logging.getLogger("qunguan.retention")

# What a purge removes, in this order, under these names in its report (the
# statements are the store's: ``PURGES`` in server/storage/sqlite_records.py).
TABLES = PURGE_TABLES
# Removed as they expire, not past retention: said in a purge's report, not in the enforcement record
# (every purge would write one otherwise, giving retention as the reason).
EXPIRED_ONLY = frozenset({"tokens", "ended_logins"})
# The tables that keep what names the authors of kept messages, posts and comments (``Purge.kept``),
# purged after those: their authors are read once, when the first of these comes.
KEPT_BY = frozenset({"netlog", "accounts_erased"})
assert all(TABLES.index(t) > TABLES.index(w) for t in KEPT_BY for w in ("messages", "comments", "posts"))

# What one batch of messages may take. A message send queued behind a purge batch waits for it, and
# what a batch of N messages costs depends on them: SQLite's search index takes each removed text
# apart again to remove it (1,000 messages of about 650 characters took 100 ms a batch on the
# development machine, some batches 500 ms, against 50 ms for 110 characters). The other tables keep
# retention.purge_batch: their batches cost mostly what the holds' sets cost to build, whatever the
# rows (a query-plan review at platform scale measured seconds a batch at 10 rows as at 1,000), so
# smaller ones would only purge less for the same wait.
BATCH_SECONDS = 0.05
FIRST_BATCH = 100  # rows: the messages' first batch (their pages are not in the cache yet)
MIN_BATCH = 10  # rows: the least a batch takes, however slow (retention.purge_batch's own least)


def next_batch(rows: int, took: float, most: int) -> int:
    """The next batch's rows after one of ``rows`` that took ``took`` seconds: in proportion to the
    time when it took longer than :data:`BATCH_SECONDS`, twice as many when it took under half of it,
    else as many; between :data:`MIN_BATCH` and ``most`` (``retention.purge_batch``). The time is
    the batch's whole wait, the writer's queue included: a busy writer makes the purge take smaller
    steps too."""
    if took > BATCH_SECONDS:
        rows = int(rows * BATCH_SECONDS / took)
    elif took < BATCH_SECONDS / 2:
        rows *= 2
    return max(min(rows, most), min(MIN_BATCH, most))


_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(app: Context) -> asyncio.Lock:
    return _LOCKS.setdefault(app, asyncio.Lock())


async def purge(app: Context, now_ms: int | None = None, actor: str = "system") -> dict[str, int]:
    """Remove what is past retention at ``now_ms`` (default: the app's clock); counts per table.

    One purge at a time; the result is written to the enforcement record when
    anything was removed.
    """
    async with _lock(app):
        with app.monitor.job("retention purge"):
            try:
                removed = await _purge(app, now_ms, actor)
            except BaseException:
                METRICS.purge_runs.labels("failed").inc()
                raise
    METRICS.purge_runs.labels("ok").inc()
    for table, n in removed.items():
        METRICS.purged_rows.labels(table).inc(n)
    return removed


async def _purge(app: Context, now_ms: int | None, actor: str) -> dict[str, int]:
    now = app.now_ms() if now_ms is None else now_ms
    days = app.cfg.retention.days
    cutoff, most = cutoff_ms(now, days), app.cfg.retention.purge_batch
    kind = "system" if actor == "system" else "operator"
    removed: dict[str, int] = {}
    started = False  # whether the record says yet that this purge removes rows
    kept: tuple[str, ...] | None = None
    for table in TABLES:
        if table in KEPT_BY and kept is None:  # (after the tables of what people write: see KEPT_BY)
            kept = tuple(await app.store.kept_authors(cutoff))
        total = 0
        after: MessageKey | None = None
        log_after: NetlogKey | None = None
        limit = min(FIRST_BATCH, most) if table == "messages" else most
        while True:
            # The first batch that removes anything writes ``purge_started`` in its own transaction:
            # were the process to die before the closing ``purge`` entry, the record still says
            # which cutoff removed rows, and when.
            opening = None if started or table in EXPIRED_ONLY else Audit(
                app.now_ms(), kind, actor, "purge_started", reason=f"past retention ({days} days)",
                detail={"as_of": now, "cutoff": cutoff})
            if table == "messages":  # (walked on from each batch's last message: PurgeMessages)
                began = time.perf_counter()
                ((n, after),) = await app.store.apply(PurgeMessages(now, cutoff, limit, after, opening))
                done = after is None
                limit = next_batch(limit, time.perf_counter() - began, most)
            elif table == "netlog":  # (walked on likewise, from each batch's last row: PurgeNetlog)
                ((n, log_after),) = await app.store.apply(
                    PurgeNetlog(now, cutoff, limit, kept or (), log_after, opening))
                done = log_after is None
            else:
                (n,) = await app.store.apply(Purge(table, now, cutoff, limit, opening, kept))
                done = n < limit
            started = started or (n > 0 and table not in EXPIRED_ONLY)
            total += n
            if done:
                break
            await asyncio.sleep(0)  # let the hot path in between batches
        removed[table] = total
    if removed.get("accounts_erased"):
        _unlinked_in_memory(app, await app.store.erased_account_keys())
    # Media no message or post carries any more (those of the messages just purged among them).
    # Written with the first removal when no table batch wrote it: no removed row goes unrecorded.
    removed["media"] = await media_cleanup.sweep(app, now, everything=True, opening=None if started else Audit(
        app.now_ms(), kind, actor, "purge_started", reason=f"past retention ({days} days)",
        detail={"as_of": now, "cutoff": cutoff}))
    if any(n for table, n in removed.items() if table not in EXPIRED_ONLY):
        await app.store.apply(audit=Audit(
            app.now_ms(), kind, actor, "purge",
            reason=f"past retention ({days} days)",
            detail={"as_of": now, "cutoff": cutoff, "removed": removed},
        ))
        log.info("purged past retention (cutoff %d): %s", cutoff, removed)
    return removed


def _unlinked_in_memory(app: Context, keys: dict[str, tuple[str, str | None]]) -> None:
    """An erased person's public accounts lose the keyed hash of their ID number in memory as in the
    store, so that a later login verified with the same number is a stranger to them there too (the
    accounts an operator lists for that login, what its blacklisting bars). Nothing else changes
    these keys: the read above is not stale."""
    for aid, (subject, opener) in keys.items():
        if (a := app.state.accounts.get(aid)) is not None:
            a.subject_key, a.opener_key = subject, opener


JOB = "retention"  # its name in the store's record of job runs (see server/intervals.py)
# When the database was last restored from a backup (``qunguan restore``, in the same record): the
# background purge waits for a purge by hand after it (see clock_in_doubt).
RESTORED = "restore"


def purged_by_hand(app: Context) -> None:
    """``qunguan admin purge`` ran as of now (and is recorded as the last purge): the background purge
    goes on from it, said at once, not at its next check an interval later."""
    app.purges_by_hand += 1
    app.purge_refused = None


async def clock_in_doubt(app: Context) -> str | None:
    """Why this node's wall clock cannot be trusted to purge by, or None.

    A purge deletes for good whatever is older than now less ``retention.days``: a clock running
    days ahead (a machine up before its clock was set, a bad step) would delete records under six
    months old. The last purge of the service is the reference: the background job runs only while
    the clock has moved on from it by at most a day, or two intervals if longer. Past that, either
    the service was stopped that long or the clock is wrong, and a person who has checked the clock
    decides, with ``qunguan admin purge`` (which this does not guard).

    The same after a restore from a backup with no purge since: the holds, open reports and
    sanctions made after the backup are not in the restored database, so the first purge would
    delete what they kept (records that may be under investigation) before the operator has put
    them back. A purge by hand says they have."""
    last = await app.store.job_last_run(JOB)
    restored = await app.store.job_last_run(RESTORED)
    if restored is not None and (last is None or last < restored):
        return ("the database was restored from a backup and not purged since: holds, open reports and sanctions "
                "made after the backup are not in it, and what they kept would be purged. Put back those the "
                "restore lost (`qunguan admin verify-audit --checkpoint-file` names the record entries it lost), "
                "then run `qunguan admin purge` once; the background purge goes on after it")
    if last is None:
        return None
    now = app.now_ms()
    allowed = max(DAY_MS, 2 * app.cfg.retention.purge_interval_seconds * 1000)
    if now - last <= allowed:
        return None
    return (f"the clock says {(now - last) / DAY_MS:.1f} days have passed since the service's last purge: "
            "the service was stopped that long, purges failed that long (see the log), or this machine's "
            "clock is ahead. Check the clock, then run `qunguan admin purge` once; the background purge "
            "goes on after it")


async def run_forever(app: Context) -> None:
    """The background job: purge every ``retention.purge_interval_seconds``; errors are logged, not fatal.

    The interval counts from the last purge of the service (on whichever node it ran, or by
    ``qunguan admin purge``): a home that changes, or a node restarted, more often than the
    interval would otherwise never purge, and a purge by hand would be followed by another."""
    due = Schedule(app, JOB, lambda: app.cfg.retention.purge_interval_seconds)
    while True:
        await due.wait()
        try:
            by_hand = app.purges_by_hand
            doubt = await clock_in_doubt(app)
            if doubt is not None and app.purges_by_hand != by_hand:
                continue  # (a purge by hand while the last purge was read: the next check reads it)
            if doubt is not None:
                if app.purge_refused is None:
                    log.error("retention purge not run: %s", doubt)
                app.purge_refused = doubt
                METRICS.purge_runs.labels("refused").inc()
                continue  # (not recorded as run: it asks again an interval later)
            app.purge_refused = None
            # Recorded as of its start, the time it purged by: a clock that jumps ahead while a purge
            # runs (a big one takes minutes) is then in doubt at the next one, not taken as the last.
            started = app.now_ms()
            await purge(app, started)
            await due.ran(started)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention purge failed; it runs again in %d s", app.cfg.retention.purge_interval_seconds)
