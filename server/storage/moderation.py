"""Group moderation in the store, backend-neutral: the group-log read every backend provides
(:class:`ModerationReads`, part of the ``Store`` protocol), and loading slow mode, members'
last sends, bans and invite links into memory at start (called by
:func:`server.storage.loading.load_state`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

from governance.moderation import MAX_SLOW_MODE_SECONDS
from server.state import Ban, InviteLink

if TYPE_CHECKING:
    from server.state import State
    from server.storage.loading import Fetch


class GroupLogRow(NamedTuple):
    """One enforcement-record entry about a group, as stored (``detail``: JSON text)."""

    id: int
    ts: int
    actor_type: str
    actor_id: str | None
    action: str
    target_id: str | None
    reason: str
    detail: str


# The columns the backends select for GroupLogRow (the same order as its fields).
GROUP_LOG_COLS = "id, ts, actor_type, actor_id, action, target_id, reason, detail"


class ModerationReads(Protocol):
    async def group_log(self, group_id: str, before_id: int | None, limit: int,
                        hidden_actions: tuple[str, ...]) -> list[GroupLogRow]:
        """Up to ``limit`` record entries of the group, newest first, with ids below ``before_id``
        when given, leaving out the ``hidden_actions``."""
        ...


SLOW_MODE = "SELECT group_id, slow_mode_seconds FROM groups WHERE slow_mode_seconds > 0"
# Each member's latest message of the last MAX_SLOW_MODE_SECONDS (older ones can no longer slow
# anyone): a range of the ts index, a small part of what the activity counts at start read.
LAST_SENDS = "SELECT group_id, sender_id, MAX(ts) FROM messages WHERE ts > ? GROUP BY group_id, sender_id"
BANS = "SELECT group_id, user_id, until, banned_by, reason, created_at FROM bans WHERE until = 0 OR until > ?"
LINKS = ("SELECT code_hash, group_id, created_by, created_at, expires_at, max_uses, uses FROM invite_links"
         " WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
         " AND (max_uses IS NULL OR uses < max_uses)")


async def load_moderation(fetch: Fetch, state: State, now_ms: int) -> None:
    """Slow mode, members' last sends, the bans in force and the usable invite links of every group."""
    groups = state.groups
    for gid, seconds in await fetch(SLOW_MODE):
        groups[gid].slow_mode_seconds = int(seconds)
    for gid, uid, ts in await fetch(LAST_SENDS, now_ms - MAX_SLOW_MODE_SECONDS * 1000):
        g = groups.get(gid)
        m = g.members.get(uid) if g is not None else None
        if m is not None:  # senders who left since are not members now
            m.last_sent_ms = int(ts)
    for gid, uid, until, by, reason, created_at in await fetch(BANS, now_ms):
        groups[gid].bans[uid] = Ban(int(until), by, reason, int(created_at))
    for code_hash, gid, by, created_at, expires_at, max_uses, uses in await fetch(LINKS, now_ms):
        state.invite_links[code_hash] = InviteLink(code_hash, gid, by, int(created_at), expires_at, max_uses,
                                                   int(uses))
        groups[gid].invite_links.add(code_hash)
