"""Groups: create, info, join, leave, members, my_groups (Art. 8)."""

from __future__ import annotations

from typing import Any

from governance.ids import new_group_id
from governance.retention import DAY_MS
from governance.tiers import activity_class, check_size_class, size_class
from protocol.errors import ContractError
from protocol.events import event
from server import repo
from server.fanout import publish
from server.handlers import handler
from server.handlers.common import (
    caps_of,
    group_max_members,
    level_of,
    live_group,
    member_of,
    owned_count,
    user_view,
)
from server.state import Group, Member, User

JOIN_POLICIES = ("open", "approval", "invite")


def validate_group_name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= 64 or any(not ch.isprintable() for ch in name):
        raise ContractError("bad_request", "a group name is 1 to 64 printable characters")
    return name


def validate_category(app, category: str) -> str:
    if category not in app.cfg.groups.categories:
        raise ContractError(
            "bad_request", f"category must be one of: {', '.join(app.cfg.groups.categories)}"
        )
    return category


def validate_join_policy(policy: str) -> str:
    if policy not in JOIN_POLICIES:
        raise ContractError("bad_request", "join_policy must be open, approval or invite")
    return policy


@handler("create_group")
async def create_group(app, sess, req, enc) -> dict[str, Any]:
    user: User = sess.user
    name = validate_group_name(req.args["name"])
    category = validate_category(app, req.args["category"])
    policy = validate_join_policy(req.args["join_policy"])
    if user.create_revoked:
        raise ContractError("forbidden", "the platform has revoked your right to create groups")
    if app.cfg.identity.require_id_to_create and not user.id_verified:
        raise ContractError("verification_required", "creating a group needs a verified identity")
    caps = caps_of(app, user)
    if owned_count(app, user) >= caps.max_groups_created:
        raise ContractError(
            "create_cap_reached", f"you may own at most {caps.max_groups_created} groups at your credit level"
        )
    if len(user.groups) >= caps.max_groups_joined:
        raise ContractError("join_cap_reached", f"you may be in at most {caps.max_groups_joined} groups")
    check_size_class(
        1, app.cfg.groups.size_classes, owner_level=level_of(app, user), owner_id_verified=user.id_verified
    )
    groups = app.state.groups
    gid = new_group_id(app.randbelow)
    while gid in groups:  # every id ever issued stays in memory and in the store
        gid = new_group_id(app.randbelow)
    now = app.now_ms()
    g = Group(gid, name, category, policy, user.user_id, now)
    g.members[user.user_id] = Member("owner", 0)
    groups[gid] = g
    user.groups.add(gid)
    try:
        await app.store.write(repo.insert_group(g, now))
    except Exception:
        del groups[gid]
        user.groups.discard(gid)
        raise
    g.online.update(user.sessions)
    return {"group_id": gid}


def info(app, g: Group, member: bool = True) -> dict[str, Any]:
    """The info map; non-members of a public (large) group do not see the announcement."""
    window = app.cfg.groups.activity_window_days
    today = app.now_ms() // DAY_MS
    recent = sum(n for day, n in g.daily.items() if day > today - window)
    size = size_class(len(g.members), app.cfg.groups.size_classes)
    activity = activity_class(recent, window, app.cfg.groups.activity_classes)
    return {
        "group_id": g.group_id,
        "name": g.name,
        "category": g.category,
        "member_count": len(g.members),
        "max_members": group_max_members(app, g),
        "owner": user_view(app, g.owner_id, "owner"),
        "join_policy": g.join_policy,
        "announcement": g.announcement if member else "",
        "created_at": g.created_at,
        "mute_all": g.mute_all,
        "size_class": size.name if size else None,
        "activity_class": activity.name if activity else None,
    }


@handler("group_info")
async def group_info(app, sess, req, enc) -> dict[str, Any]:
    g = live_group(app, req.args["group_id"])
    member = sess.user.user_id in g.members
    if not member and len(g.members) < app.cfg.groups.info_page_min_members:
        raise ContractError("not_member", "this group's information is visible to its members only")
    return info(app, g, member)


def check_room(app, g: Group, user: User) -> None:
    """The group's member cap and the user's joined-groups cap (both follow credit levels)."""
    cap = group_max_members(app, g)
    if len(g.members) >= cap:
        raise ContractError("member_cap_reached", f"group {g.group_id} is full ({cap} members)")
    joined_cap = caps_of(app, user).max_groups_joined
    if len(user.groups) >= joined_cap:
        raise ContractError("join_cap_reached", f"{user.display_name} may be in at most {joined_cap} groups")


async def admit(app, g: Group, user: User, action: str, actor: str | None,
                audit: repo.Audit | None = None) -> None:
    """Check every cap, add ``user`` to ``g`` in memory and store, announce it.

    The checks and the in-memory insert happen with no await in between, so
    concurrent joins can never overshoot a cap.
    """
    uid = user.user_id
    if uid in g.members:
        return
    check_room(app, g, user)
    owner = app.state.users[g.owner_id]
    check_size_class(
        len(g.members) + 1,
        app.cfg.groups.size_classes,
        owner_level=level_of(app, owner),
        owner_id_verified=owner.id_verified,
    )
    now = app.now_ms()
    g.members[uid] = Member("member", g.last_seq)
    user.groups.add(g.group_id)
    g.join_requests.pop(uid, None)
    g.invited.discard(uid)
    try:
        await app.store.write(
            repo.change(then=repo.add_member(g.group_id, uid, "member", now, g.last_seq, action, actor),
                        audit=audit)
        )
    except Exception:
        g.members.pop(uid, None)
        user.groups.discard(g.group_id)
        raise
    g.online.update(user.sessions)
    publish(g.online, event("member_joined", group_id=g.group_id, user=user_view(app, uid, "member")))


@handler("join_group")
async def join_group(app, sess, req, enc) -> dict[str, Any]:
    g = live_group(app, req.args["group_id"])
    user: User = sess.user
    if user.user_id in g.members:
        return {"status": "joined"}
    if g.join_policy == "open" or user.user_id in g.invited:
        await admit(app, g, user, "join", user.user_id)
        return {"status": "joined"}
    if g.join_policy == "invite":
        raise ContractError("forbidden", "this group is joined by invitation only")
    from server.handlers.management import request_to_join

    await request_to_join(app, g, user)
    return {"status": "pending"}


async def remove(app, g: Group, uid: str, action: str, actor: str | None,
                 audit: repo.Audit | None = None) -> None:
    """Take ``uid`` out of ``g`` in memory and store."""
    user = app.state.users[uid]
    m = g.members.pop(uid)
    user.groups.discard(g.group_id)
    g.online.difference_update(user.sessions)
    try:
        await app.store.write(
            repo.change(then=repo.remove_member(g.group_id, uid, app.now_ms(), action, actor), audit=audit)
        )
    except Exception:
        g.members[uid] = m
        user.groups.add(g.group_id)
        g.online.update(user.sessions)
        raise


@handler("leave_group")
async def leave_group(app, sess, req, enc) -> None:
    g = live_group(app, req.args["group_id"])
    m = member_of(g, sess.user)
    if m.role == "owner":
        raise ContractError("forbidden", "the owner must transfer ownership or dissolve the group first")
    await remove(app, g, sess.user.user_id, "leave", sess.user.user_id)
    publish(g.online, event("member_left", group_id=g.group_id, user_id=sess.user.user_id))
    return None


@handler("members")
async def members(app, sess, req, enc) -> dict[str, Any]:
    g = live_group(app, req.args["group_id"])
    member_of(g, sess.user)
    return {"members": [user_view(app, uid, m.role) for uid, m in g.members.items()]}


@handler("my_groups")
async def my_groups(app, sess, req, enc) -> dict[str, Any]:
    groups = app.state.groups
    uid = sess.user.user_id
    out = []
    for gid in sorted(sess.user.groups):
        g = groups[gid]
        if g.alive:
            out.append({"group_id": gid, "name": g.name, "role": g.members[uid].role})
    return {"groups": out}
