"""Building the in-memory caches from the store, the same way for every backend.

A backend hands :func:`load_state` one function that runs a query with at most
one parameter (``?`` in the SQL below; the backend rewrites it to its own
placeholder) and returns the rows. The queries are plain SQL both SQLite and
PostgreSQL accept.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any

from governance.retention import DAY_MS
from server.state import NOTHING, PLATFORM_NOTICES_KEPT_MS, ClosedGroup, Group, Member, PlatformNotice, State, User
from server.storage.media import load_media
from server.storage.moderation import load_moderation
from server.storage.public import load_accounts

Fetch = Callable[..., Awaitable[list[Any]]]  # fetch(sql, *params) -> rows

USERS = ("SELECT user_id, username, username_key, display_name, credit_score,"
         " id_verified_at IS NOT NULL, created_at, blacklisted_at IS NOT NULL, deleted_at IS NOT NULL,"
         " powers_suspended_until, create_revoked_at IS NOT NULL FROM users")
GROUPS = ("SELECT group_id, name, category, join_policy, owner_id, created_at, announcement,"
          " mute_all, last_seq, dissolved_at, closed_at, closed_reason, suspended_until FROM groups")
# Memory holds the live groups; of the ended ones, only what answers for a closing (State.retire).
LIVE_GROUPS = GROUPS + " WHERE dissolved_at IS NULL AND closed_at IS NULL"
CLOSED_GROUPS = "SELECT group_id, closed_reason, dissolved_at IS NOT NULL FROM groups WHERE closed_at IS NOT NULL"
# The memberships of live groups, and the member ids of closed ones (ClosedGroup). An ended group's
# rows stay for the reports and exports that name its members, and a service's ended groups only
# grow, so the database leaves them out: a walk of the groups looking up each one's members by the
# primary key's first column (SQLite), or a hash of the live groups probed by the members (PostgreSQL).
# Measured (docs/benchmark.md, "Loading the state"): the query about 6 % slower on SQLite when no group
# has ended (within the noise of a whole load on PostgreSQL), three to four times faster when three in
# four rows are an ended group's. (READ_MARKERS is not joined: its key's columns are in the other order.)
LIVE_MEMBERS = ("SELECT m.group_id, m.user_id, m.role, m.joined_seq, m.muted_until FROM groups g"
                " JOIN members m ON m.group_id = g.group_id WHERE g.dissolved_at IS NULL AND g.closed_at IS NULL")
CLOSED_MEMBERS = ("SELECT m.group_id, m.user_id FROM groups g JOIN members m ON m.group_id = g.group_id"
                  " WHERE g.closed_at IS NOT NULL")
ENDED_GROUP = GROUPS + " WHERE group_id = ? AND (dissolved_at IS NOT NULL OR closed_at IS NOT NULL)"
GROUP_MEMBERS = "SELECT user_id, role, joined_seq, muted_until FROM members WHERE group_id = ?"
# How many groups ended: (closed by the platform, dissolved by their owners and not closed since).
ENDED_COUNTS = ("SELECT COALESCE(SUM(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END), 0),"
                " COALESCE(SUM(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END), 0)"
                " FROM groups WHERE dissolved_at IS NOT NULL OR closed_at IS NOT NULL")
# Each group's messages per day after a day (server/storage/activity.py: kept by the writer).
DAILY = "SELECT group_id, day, messages FROM group_daily WHERE day > ?"
JOIN_REQUESTS = "SELECT group_id, user_id, ts FROM join_requests"
CATEGORY_FREEZES = "SELECT category, until FROM category_freezes WHERE until > ?"
ACCOUNT_CATEGORY_FREEZES = "SELECT category, until FROM account_category_freezes WHERE until > ?"
INVITATIONS = "SELECT group_id, user_id, inviter_id FROM invitations"
PINS = "SELECT group_id, seq, pinned_at FROM group_pins ORDER BY pinned_at, seq"
# Read as they are: the markers of memberships that ended are skipped here, not by a join with
# members in the database (the two keys are in a different column order, so a join of two tables of
# a row per membership was hashed and spilled: 0.77 s against 0.11 s at a million).
READ_MARKERS = "SELECT group_id, user_id, seq FROM read_state"
# Each group's highest seq a message review names (see _seq_floor).
REVIEWED_SEQS = "SELECT group_id, MAX(seq) FROM review_queue WHERE seq IS NOT NULL GROUP BY group_id"
# The last day's ids, read in slices of ID_CHUNK in ts order from a bound (the ts index), so
# a takeover never holds a day of rows at once; a millisecond is never split between slices.
ID_CHUNK = 100_000
RECENT_IDS = ("SELECT group_id, sender_id, client_msg_id, seq, ts FROM messages"
              f" WHERE ts >= ? AND client_msg_id IS NOT NULL ORDER BY ts LIMIT {ID_CHUNK}")
# The platform's notices still kept for those not connected when they went out (read through a
# partial index: SQLite migration 51, PostgreSQL 49).
PLATFORM_NOTICES = ("SELECT ts, reason, detail, actor_id FROM audit WHERE action = 'platform_notice' AND ts >= ?"
                    " ORDER BY ts, id")
IDS_AT = "SELECT group_id, sender_id, client_msg_id, seq, ts FROM messages WHERE ts = ? AND client_msg_id IS NOT NULL"


async def load_state(fetch: Fetch, now_ms: int, activity_window_days: int) -> State:
    """The whole in-memory state.

    A group's next seq follows the highest one the store names, not only its messages
    (``groups.last_seq``): a seq is handed out before its message is stored, and a member who
    joined, a read marker or a review item stored meanwhile names it even when the message's write
    then failed (a database outage). After a restart that seq must not go to another message: it
    would be read already, before a member's join point, or under review as someone else's."""
    state = State()
    # The three loops below run once per user, group and membership: a takeover of a large service
    # waits for them (docs/benchmark.md, "Loading the state"), so they look up nothing twice.
    users, by_username, groups = state.users, state.by_username, state.groups
    for row in await fetch(USERS):
        uid = row[0]
        users[uid] = User(uid, row[1], row[3], row[4], bool(row[5]), row[6], bool(row[7]), bool(row[8]),
                          row[9], bool(row[10]))
        by_username[row[2]] = uid
    for row in await fetch(LIVE_GROUPS):
        groups[row[0]] = _group(row)
    for gid, uid, role, joined_seq, muted_until in await fetch(LIVE_MEMBERS):
        g = groups.get(gid)
        if g is None:  # (a load does not race writes, but a row it did not expect must not stop it)
            continue
        g.members[uid] = Member(role, joined_seq, muted_until)
        if joined_seq > g.joined_high:
            g.joined_high = joined_seq
        user = users[uid]
        joined = user.groups
        if joined is NOTHING:  # (User.add_group, without its calls)
            user.groups = {gid}
        else:
            joined.add(gid)  # type: ignore[attr-defined]  # (a set of its own once not NOTHING)
        if joined_seq > g.last_seq:
            g.last_seq = joined_seq  # (see _seq_floor)
    closed_rows = await fetch(CLOSED_GROUPS)
    closed_members: dict[str, set[str]] = {gid: set() for gid, _, _ in closed_rows}
    for gid, uid in await fetch(CLOSED_MEMBERS):
        if (closed := closed_members.get(gid)) is not None:
            closed.add(uid)
    for gid, reason, dissolved in closed_rows:
        state.closed[gid] = ClosedGroup(gid, reason, frozenset(closed_members[gid]), bool(dissolved))
    for gid, uid, seq in await fetch(READ_MARKERS):
        marked = state.groups.get(gid)
        member = marked.members.get(uid) if marked is not None else None
        if marked is None or member is None:
            continue  # (a marker kept from a membership that ended)
        member.read_seq = seq
        if seq > marked.last_seq:
            marked.last_seq = seq
    for gid, seq in await fetch(REVIEWED_SEQS):
        reviewed = state.groups.get(gid)
        if reviewed is not None and seq > reviewed.last_seq:
            reviewed.last_seq = int(seq)
    for g in groups.values():  # (every message the store holds at a load is durable)
        g.stored_seq = g.last_seq
    for gid, day, n in await fetch(DAILY, now_ms // DAY_MS - activity_window_days):
        if (counted := groups.get(gid)) is not None:
            counted.daily[int(day)] = int(n)
    for category, until in await fetch(CATEGORY_FREEZES, now_ms):
        state.category_frozen_until[category] = int(until)
    for gid, uid, ts in await fetch(JOIN_REQUESTS):  # (an ended group's are dropped with its end)
        if (requested := groups.get(gid)) is not None:
            requested.join_requests[uid] = ts
    for gid, uid, inviter_id in await fetch(INVITATIONS):
        if (inviting := groups.get(gid)) is not None:
            inviting.invited[uid] = inviter_id
    for gid, seq, pinned_at in await fetch(PINS):
        if (pinning := groups.get(gid)) is not None:  # (a dissolved group's pins stay: the retention purge's)
            pinning.pinned.append(seq)
            pinning.last_pinned_at = max(pinning.last_pinned_at, int(pinned_at))
    await load_sent_ids(fetch, state, now_ms - DAY_MS + 1)
    await load_accounts(fetch, state)
    for category, until in await fetch(ACCOUNT_CATEGORY_FREEZES, now_ms):
        state.account_category_frozen_until[category] = int(until)
    await load_media(fetch, state)
    await load_moderation(fetch, state, now_ms)
    for ts, text, detail, by in await fetch(PLATFORM_NOTICES, now_ms - PLATFORM_NOTICES_KEPT_MS):
        to = json.loads(detail or "{}")
        state.platform_notices.append(PlatformNotice(int(ts), text, to.get("category"), bool(to.get("accounts")), by))
    return state


def _group(row: Any) -> Group:
    return Group(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8], row[9], row[10],
                 row[11], row[12])


async def ended_group(fetch: Fetch, group_id: str) -> Group | None:
    """A dissolved or closed group as the store holds it, with the members it had when it ended (a
    copy: memory keeps no ended group, State.retire), or None for a group that is live or unknown."""
    rows = await fetch(ENDED_GROUP, group_id)
    if not rows:
        return None
    g = _group(rows[0])
    for uid, role, joined_seq, muted_until in await fetch(GROUP_MEMBERS, group_id):
        g.members[uid] = Member(role, joined_seq, muted_until)
    return g


async def load_sent_ids(fetch: Fetch, state: State, since: int) -> None:
    """The client_msg_ids stored from ``since`` on, as digests (a retry of one is confirmed by
    reading its row): slice by slice, each slice ending before its last millisecond, which
    starts the next one."""
    add, bound = state.sent_ids.add_older_rows, since
    while True:
        rows = await fetch(RECENT_IDS, bound)
        if len(rows) < ID_CHUNK:  # the last slice
            add(rows)
            return
        last = rows[-1][4]
        if last == bound:  # a whole slice in one millisecond: read that millisecond at once
            add(await fetch(IDS_AT, bound))
            bound += 1
            continue
        end = len(rows)
        while rows[end - 1][4] == last:  # the rows of the last millisecond start the next slice
            end -= 1
        add(islice(rows, end))
        bound = last
