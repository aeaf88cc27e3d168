"""Group moderation in the store, backend-neutral: the group-log read every backend provides
(:class:`ModerationReads`, part of the ``Store`` protocol), and loading slow mode, members'
last sends, bans and invite links into memory at start (called by
:func:`server.storage.loading.load_state`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from governance.moderation import MAX_MUTE_SECONDS, MAX_SLOW_MODE_SECONDS
from governance.shown_text import KINDS as SHOWN_TEXT_KINDS
from server.state import Ban, InviteLink, Member

if TYPE_CHECKING:
    from server.state import Group, State
    from server.storage.loading import Fetch


# The review queue's items for names and announcements (``changes.QueueShownText``) and the
# operator's compare-and-set on the field (``changes.SetShownText``), ``?`` placeholders (the
# PostgreSQL backend numbers them).
QUEUE_SHOWN_TEXT = (
    "INSERT INTO review_queue (kind, group_id, account_id, sender_id, action, category, term, created_at,"
    " item_text, expect_text) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_LIVE_GROUP = "dissolved_at IS NULL AND closed_at IS NULL"
# kind -> (table, column, key column, what must hold of the row besides)
_SHOWN_TEXT_FIELDS = {
    "group_name": ("groups", "name", "group_id", _LIVE_GROUP),
    "announcement": ("groups", "announcement", "group_id", _LIVE_GROUP),
    "display_name": ("users", "display_name", "user_id", "deleted_at IS NULL"),
    "account_name": ("accounts", "name", "account_id", "closed_at IS NULL"),
    "account_intro": ("accounts", "intro", "account_id", "closed_at IS NULL"),
}
assert set(_SHOWN_TEXT_FIELDS) == set(SHOWN_TEXT_KINDS)
_HELD_KINDS = "kind IN (" + ", ".join(f"'{k}'" for k in SHOWN_TEXT_KINDS) + ")"


# The held ones (``review``) waiting for a decision, one author's (``my_held_texts``), newest first;
# parameters: the author, the item id to list below, the page size. Found by the open held texts'
# index (review_queue_held: few rows) and sorted, not walked down review_queue_open for the order
# (``+item_id``: SQLite took every open item of the queue, a raid's held messages too, 37 ms at 100,000).
HELD_TEXTS_BY = (
    "SELECT item_id, kind, group_id, account_id, item_text, created_at FROM review_queue"
    f" WHERE sender_id = ? AND status = 'open' AND action = 'review' AND {_HELD_KINDS} AND item_id < ?"
    " ORDER BY +item_id DESC LIMIT ?"
)
HELD_TEXT_COLS = ("item_id", "kind", "group_id", "account_id", "text", "created_at")
# ``changes.WithdrawHeldText``: the author closes their own held text while it still waits; parameters:
# when, the item id, the author.
WITHDRAW_HELD_TEXT = (
    "UPDATE review_queue SET status = 'withdrawn', decided_at = ? WHERE item_id = ? AND sender_id = ?"
    f" AND status = 'open' AND action = 'review' AND {_HELD_KINDS}"
)

# The column a held text's review item names its field's owner by, for ``SupersedeHeldTexts``.
_HELD_TEXT_TARGET = {"group_name": "group_id", "announcement": "group_id", "display_name": "sender_id",
                     "account_name": "account_id", "account_intro": "account_id"}
assert set(_HELD_TEXT_TARGET) == set(SHOWN_TEXT_KINDS)


def supersede_held_texts_sql(kind: str) -> str:
    """The ``UPDATE`` of ``changes.SupersedeHeldTexts`` for ``kind``; parameters: when, ``kind``, the
    group, user or account id. Returns each closed item's id and author."""
    return ("UPDATE review_queue SET status = 'withdrawn', decided_at = ?, note = 'superseded'"
            f" WHERE kind = ? AND {_HELD_TEXT_TARGET[kind]} = ? AND status = 'open' AND action = 'review'"
            " RETURNING item_id, sender_id")


def set_shown_text_sql(kind: str, with_name_key: bool = False) -> str:
    """The ``UPDATE`` of ``SetShownText`` for ``kind``; parameters: the new value, (``with_name_key``,
    an account's name: its new ``name_key``,) the group, user or account id, the value the field must
    still hold."""
    table, column, key, live = _SHOWN_TEXT_FIELDS[kind]
    also = ", name_key = ?" if with_name_key else ""
    return f"UPDATE {table} SET {column} = ?{also} WHERE {key} = ? AND {column} = ? AND {live}"


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

    async def held_texts_by(self, sender_id: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        """The group names, announcements, display names and public accounts' names and introductions
        ``sender_id`` set that the word lists hold and that still wait for an operator (keys:
        ``HELD_TEXT_COLS``), newest first, ids below ``before``."""
        ...


SLOW_MODE = "SELECT group_id, slow_mode_seconds FROM groups WHERE slow_mode_seconds > 0"
# Each member's latest message of the last MAX_SLOW_MODE_SECONDS (older ones can no longer slow
# anyone): a range of the ts index, a small part of what the activity counts at start read.
# (The upper bound, past any time, is for SQLite's planner: a range open on one side it takes for a
# quarter of the table and scans the whole, 338 ms at 5 million messages; closed, it reads the index.)
LAST_SENDS = ("SELECT group_id, sender_id, MAX(ts) FROM messages WHERE ts > ? AND ts < 4611686018427387904"
              " GROUP BY group_id, sender_id")
# The group mutes of the last MAX_MUTE_SECONDS, oldest first (a later one, an unmute included,
# replaces an earlier): those of people no longer in the group bind them again if they rejoin. A
# transfer of the group to someone (the owner's, or the platform's handover of a blacklisted owner's
# group) ended their mute: nobody may mute the owner (changes.TransferOwner).
MUTES = ("SELECT group_id, target_id, ts, detail, action FROM audit WHERE ts > ? AND ts < 4611686018427387904"
         " AND ((action = 'mute' AND actor_type = 'user') OR action = 'transfer_owner') ORDER BY id")
BANS = ("SELECT group_id, user_id, until, banned_by, reason, created_at, of_admin FROM bans"
        " WHERE until = 0 OR until > ?")
LINKS = ("SELECT code_hash, group_id, created_by, created_at, expires_at, max_uses, uses, note FROM invite_links"
         " WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
         " AND (max_uses IS NULL OR uses < max_uses)")


def _load_departed_mutes(groups: dict[str, Group], rows: list[Any], now_ms: int) -> dict[tuple[str, str], Member]:
    """The mutes in force of people who left (or were removed from) a live group since: the
    latest ``mute`` entry of each decides (``until`` in its detail; older entries only have
    ``seconds``), or a later ``transfer_owner`` to them, which ended it."""
    latest: dict[tuple[str, str], int] = {}
    for gid, uid, ts, detail, action in rows:
        if action == "transfer_owner":  # (made them the owner: unmuted)
            latest[(gid, uid)] = 0
            continue
        facts = json.loads(detail) if detail else {}
        seconds = int(facts.get("seconds") or 0)
        latest[(gid, uid)] = int(facts.get("until") or (ts + seconds * 1000 if seconds else 0))
    out: dict[tuple[str, str], Member] = {}
    for (gid, uid), until in latest.items():
        g = groups.get(gid)
        if g is not None and g.alive and uid not in g.members and until > now_ms:
            out[(gid, uid)] = Member("member", 0, until)
    return out


async def load_moderation(fetch: Fetch, state: State, now_ms: int) -> None:
    """Slow mode, members' last sends, the bans in force and the usable invite links of every group."""
    groups = state.groups  # (live groups: what an ended group had goes with it, but a closed one's links)
    for gid, seconds in await fetch(SLOW_MODE):
        if (slowed := groups.get(gid)) is not None:
            slowed.slow_mode_seconds = int(seconds)
    departed = _load_departed_mutes(groups, await fetch(MUTES, now_ms - MAX_MUTE_SECONDS * 1000), now_ms)
    for gid, uid, ts in await fetch(LAST_SENDS, now_ms - MAX_SLOW_MODE_SECONDS * 1000):
        g = groups.get(gid)
        if g is None:
            continue
        m = g.members.get(uid)
        if m is None and g.alive:  # a sender who left since: slow mode still counts it if they rejoin
            m = departed.setdefault((gid, uid), Member("member", 0))
        if m is not None:
            m.last_sent_ms = int(ts)
    for (gid, uid), m in departed.items():
        groups[gid].departed[uid] = m
    for gid, uid, until, by, reason, created_at, of_admin in await fetch(BANS, now_ms):
        if (banning := groups.get(gid)) is not None:
            banning.bans[uid] = Ban(int(until), by, reason, int(created_at), bool(of_admin))
    for code_hash, gid, by, created_at, expires_at, max_uses, uses, note in await fetch(LINKS, now_ms):
        linked = groups.get(gid)
        if linked is None and ((closed := state.closed.get(gid)) is None or closed.dissolved):
            continue  # (a dissolved group's link is as unknown as the group: not_found)
        state.invite_links[code_hash] = InviteLink(code_hash, gid, by, int(created_at), expires_at, max_uses,
                                                   int(uses), note=note or None)
        if linked is not None:
            linked.invite_links.add(code_hash)
