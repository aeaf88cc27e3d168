"""The retention purge (G13, P16): remove what is past ``retention.days``, nothing else.

A background job runs every ``retention.purge_interval_seconds``;
``qunguan admin purge`` runs the same code at once. Each table is purged in
batches of ``retention.purge_batch`` rows, each batch its own transaction
through the store's group-commit writer, so the hot path (message appends in
the same writer) waits for at most one small batch, never for the whole purge.

What goes, once its timestamp is past the cutoff (:func:`governance.retention.cutoff_ms`):
  messages (deleted and held ones included), network logs, membership changes,
  resolved reports and decided review items, and the identity data of
  accounts cancelled before the cutoff (not blacklisted ones: a blacklist is
  kept on the identity for good, P13).
What never goes here: the enforcement record (``audit``, a hash chain: removing
  its head would break it; it is the platform's own record of enforcement),
  sanctions, groups (a group id is never reused) and account rows themselves.

Legal hold: nothing of a held group or held user goes, whatever its age.
A group or user is held while
  - an operator hold names it (``qunguan admin hold``) and is not released;
  - an open report names it (a reported message holds its group and its sender);
  - a sanction against it is in force (see :func:`governance.retention.sanction_holds`);
and a message with an open content-review item is held on its own.
The holds are evaluated inside each batch's transaction, so a hold placed
while a purge runs protects everything the following batches would touch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from governance.retention import cutoff_ms
from server import repo
from server.repo import Audit

if TYPE_CHECKING:
    from server.app import App

log = logging.getLogger("qunguan.retention")

# Groups and users under legal hold at :now (named parameters :now and :cutoff).
HELD_GROUPS = """
    SELECT target_id FROM legal_holds WHERE released_at IS NULL AND target_type = 'group'
    UNION SELECT group_id FROM reports WHERE status = 'open' AND group_id IS NOT NULL
    UNION SELECT target_id FROM sanctions WHERE target_type = 'group'
      AND ((expires_at IS NOT NULL AND expires_at > :now) OR (expires_at IS NULL AND starts_at >= :cutoff))
"""
HELD_USERS = """
    SELECT target_id FROM legal_holds WHERE released_at IS NULL AND target_type = 'user'
    UNION SELECT user_id FROM reports WHERE status = 'open' AND user_id IS NOT NULL
    UNION SELECT target_id FROM sanctions WHERE target_type = 'user'
      AND ((expires_at IS NOT NULL AND expires_at > :now) OR (expires_at IS NULL AND starts_at >= :cutoff))
"""

# (name in the report, one batch: a statement touching at most :limit rows)
PURGES: tuple[tuple[str, str], ...] = (
    ("messages", f"""
        DELETE FROM messages WHERE (group_id, seq) IN (
          SELECT group_id, seq FROM messages
          WHERE ts < :cutoff
            AND group_id NOT IN ({HELD_GROUPS})
            AND sender_id NOT IN ({HELD_USERS})
            AND (group_id, seq) NOT IN (SELECT group_id, seq FROM review_queue WHERE status = 'open')
          LIMIT :limit)"""),
    ("membership_log", f"""
        DELETE FROM membership_log WHERE id IN (
          SELECT id FROM membership_log
          WHERE ts < :cutoff
            AND group_id NOT IN ({HELD_GROUPS})
            AND user_id NOT IN ({HELD_USERS})
            AND (actor_id IS NULL OR actor_id NOT IN ({HELD_USERS}))
          LIMIT :limit)"""),
    ("netlog", f"""
        DELETE FROM netlog WHERE id IN (
          SELECT id FROM netlog
          WHERE ts < :cutoff AND (user_id IS NULL OR user_id NOT IN ({HELD_USERS}))
          LIMIT :limit)"""),
    ("reports", f"""
        DELETE FROM reports WHERE report_id IN (
          SELECT report_id FROM reports
          WHERE status != 'open' AND resolved_at < :cutoff
            AND (group_id IS NULL OR group_id NOT IN ({HELD_GROUPS}))
            AND (user_id IS NULL OR user_id NOT IN ({HELD_USERS}))
            AND reporter_id NOT IN ({HELD_USERS})
          LIMIT :limit)"""),
    ("review_queue", f"""
        DELETE FROM review_queue WHERE item_id IN (
          SELECT item_id FROM review_queue
          WHERE status != 'open' AND decided_at < :cutoff
            AND group_id NOT IN ({HELD_GROUPS})
            AND sender_id NOT IN ({HELD_USERS})
          LIMIT :limit)"""),
    # Cancelled accounts (P9): the sealed phone, name and ID number go; the phone
    # and ID hashes are replaced so they can register again; the row (user id,
    # username, the cancelled display name) stays, as messages and records name it.
    ("accounts_erased", f"""
        UPDATE users SET phone_enc = x'', phone_hmac = randomblob(32), id_enc = NULL, id_hmac = NULL,
                         name_enc = NULL, password_hash = ''
        WHERE user_id IN (
          SELECT user_id FROM users
          WHERE deleted_at < :cutoff AND blacklisted_at IS NULL AND length(phone_enc) > 0
            AND user_id NOT IN ({HELD_USERS})
          LIMIT :limit)"""),
)
TABLES = tuple(name for name, _ in PURGES)


def _lock(app: "App") -> asyncio.Lock:
    lock = getattr(app, "_purge_lock", None)
    if lock is None:
        lock = app._purge_lock = asyncio.Lock()  # type: ignore[attr-defined]
    return lock


def _batch(sql: str, params: dict[str, int]) -> Any:
    async def fn(db: Any) -> int:
        cur = await db.execute(sql, params)
        return cur.rowcount

    return fn


async def purge(app: "App", now_ms: int | None = None, actor: str = "system") -> dict[str, int]:
    """Remove what is past retention at ``now_ms`` (default: the app's clock); counts per table.

    One purge at a time; the result is written to the enforcement record when
    anything was removed.
    """
    async with _lock(app):
        now = app.now_ms() if now_ms is None else now_ms
        days = app.cfg.retention.days
        params = {"now": now, "cutoff": cutoff_ms(now, days), "limit": app.cfg.retention.purge_batch}
        removed: dict[str, int] = {}
        for name, sql in PURGES:
            total = 0
            while True:
                n = await app.store.write(_batch(sql, params))
                total += n
                if n < params["limit"]:
                    break
                await asyncio.sleep(0)  # let the hot path in between batches
            removed[name] = total
        if any(removed.values()):
            await app.store.write(repo.change(audit=Audit(
                app.now_ms(), "operator" if actor == "operator" else "system", actor, "purge",
                reason=f"past retention ({days} days)",
                detail={"as_of": now, "cutoff": params["cutoff"], "removed": removed},
            )))
            log.info("purged past retention (cutoff %d): %s", params["cutoff"], removed)
        return removed


async def run_forever(app: "App") -> None:
    """The background job: purge every ``retention.purge_interval_seconds``; errors are logged, not fatal."""
    while True:
        await asyncio.sleep(app.cfg.retention.purge_interval_seconds)
        try:
            await purge(app)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention purge failed; it runs again in %d s", app.cfg.retention.purge_interval_seconds)
