"""Lookups shared by the group handlers: each raises the contract's error when it fails."""

from __future__ import annotations

from typing import Any

from governance.tiers import Caps, caps_for, credit_level
from protocol.errors import ContractError
from protocol.events import user_obj
from server.state import Group, Member, User


def live_group(app, gid: str) -> Group:
    g = app.state.groups.get(gid)
    if g is None or g.dissolved_at is not None:
        raise ContractError("not_found", f"no group {gid}")
    if g.closed_at is not None:
        raise ContractError("group_closed", f"group {gid} was closed by the platform: {g.closed_reason}")
    return g


def member_of(g: Group, user: User) -> Member:
    m = g.members.get(user.user_id)
    if m is None:
        raise ContractError("not_member", f"you are not a member of group {g.group_id}")
    return m


def level_of(app, user: User) -> int:
    return credit_level(user.credit_score, app.cfg.credit.levels)


def caps_of(app, user: User) -> Caps:
    return caps_for(level_of(app, user), app.cfg.limits.caps, app.cfg.credit.levels)


def group_max_members(app, g: Group) -> int:
    """A group's member cap follows its owner's credit level (Art. 7, 8)."""
    return caps_of(app, app.state.users[g.owner_id]).max_members


def user_view(app, uid: str, role: str) -> dict[str, Any]:
    u = app.state.users.get(uid)
    return user_obj(uid, u.display_name if u else "", role)


def penalize(user: User, points: int) -> tuple[str, tuple] | None:
    """Lower a user's credit (the level follows); returns the statement that stores it."""
    if points <= 0:
        return None
    user.credit_score -= points
    return ("UPDATE users SET credit_score = ? WHERE user_id = ?", (user.credit_score, user.user_id))


def owned_count(app, user: User) -> int:
    groups = app.state.groups
    return sum(1 for gid in user.groups if groups[gid].owner_id == user.user_id)
