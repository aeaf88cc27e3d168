"""Owner and admin powers (Art. 8, 9: who builds a group answers for it; who manages it too).

Every op asks :mod:`governance.permissions` whether the actor's role may act on
the target's role, writes the change with its enforcement-record entry in one
transaction, then tells the group.
"""

from __future__ import annotations

from typing import Any

from governance import permissions as perm
from governance.tiers import check_size_class
from protocol.errors import ContractError
from protocol.events import event
from server import repo
from server.fanout import publish
from server.handlers import handler
from server.handlers.common import (
    caps_of,
    level_of,
    live_group,
    member_of,
    owned_count,
    user_view,
)
from server.handlers.groups import (
    admit,
    check_room,
    remove,
    validate_category,
    validate_group_name,
    validate_join_policy,
)
from server.repo import Audit
from server.state import Group, Member, User

MAX_MUTE_SECONDS = 30 * 86400


def _actor_role(app, g: Group, user: User) -> perm.Role:
    role = perm.Role(member_of(g, user).role)
    if role is not perm.Role.MEMBER and user.powers_suspended_until > app.now_ms():
        raise ContractError("forbidden", "your management powers are suspended by the platform")
    return role


def _target(app, g: Group, uid: str) -> tuple[User, Member]:
    user = app.state.users.get(uid)
    m = g.members.get(uid)
    if user is None or m is None:
        raise ContractError("not_found", f"{uid} is not a member of group {g.group_id}")
    return user, m


def _targeted(app, sess, req, op: str) -> tuple[Group, User, str, User, Member]:
    """The common start of an op on one member: the group, the actor, the target; permission checked."""
    g = live_group(app, req.args["group_id"])
    actor = sess.user
    uid = req.args["user_id"]
    role = _actor_role(app, g, actor)
    target, m = _target(app, g, uid)
    perm.check(op, role, perm.Role(m.role))
    return g, actor, uid, target, m


def _audit(app, actor: User, action: str, g: Group, target: str | None = None, **detail: Any) -> Audit:
    return Audit(app.now_ms(), "user", actor.user_id, action, g.group_id, target, detail=detail or None)


def _to_managers(app, g: Group) -> list:
    users = app.state.users
    return [s for uid, m in g.members.items() if m.role != "member" for s in users[uid].sessions]


def _to_user(app, uid: str) -> set:
    u = app.state.users.get(uid)
    return u.sessions if u else set()


# -- join verification -----------------------------------------------------------
async def request_to_join(app, g: Group, user: User) -> None:
    """``approval`` policy: record the request and tell the owner and admins."""
    if user.user_id not in g.join_requests:
        now = app.now_ms()
        g.join_requests[user.user_id] = now
        await app.store.write(
            repo.change(
                ("INSERT OR REPLACE INTO join_requests VALUES (?, ?, ?)", (g.group_id, user.user_id, now))
            )
        )
    publish(_to_managers(app, g), event("join_request", group_id=g.group_id, user=user_view(app, user.user_id, "member")))


@handler("join_requests")
async def join_requests(app, sess, req, enc) -> dict[str, Any]:
    g = live_group(app, req.args["group_id"])
    perm.check("join_requests", _actor_role(app, g, sess.user))
    out = []
    for uid, ts in sorted(g.join_requests.items(), key=lambda kv: kv[1]):
        out.append({**user_view(app, uid, "member"), "requested_at": ts})
    return {"requests": out}


def _pending(g: Group, uid: str) -> None:
    if uid not in g.join_requests:
        raise ContractError("not_found", f"no join request from {uid}")


@handler("approve_join")
async def approve_join(app, sess, req, enc) -> None:
    g = live_group(app, req.args["group_id"])
    perm.check("approve_join", _actor_role(app, g, sess.user))
    uid = req.args["user_id"]
    _pending(g, uid)
    requester = app.state.users.get(uid)
    if requester is None or not requester.active:
        g.join_requests.pop(uid, None)
        raise ContractError("not_found", f"{uid} no longer has an account")
    await admit(app, g, app.state.users[uid], "approve", sess.user.user_id,
                audit=_audit(app, sess.user, "approve_join", g, uid))
    publish(_to_user(app, uid), event("join_result", group_id=g.group_id, status="approved"))
    return None


@handler("reject_join")
async def reject_join(app, sess, req, enc) -> None:
    g = live_group(app, req.args["group_id"])
    perm.check("reject_join", _actor_role(app, g, sess.user))
    uid = req.args["user_id"]
    _pending(g, uid)
    del g.join_requests[uid]
    await app.store.write(
        repo.change(
            ("DELETE FROM join_requests WHERE group_id = ? AND user_id = ?", (g.group_id, uid)),
            audit=_audit(app, sess.user, "reject_join", g, uid),
        )
    )
    publish(_to_user(app, uid), event("join_result", group_id=g.group_id, status="rejected"))
    return None


@handler("invite")
async def invite(app, sess, req, enc) -> None:
    """An invitation lets the invitee join (past ``approval`` and ``invite`` policies) with ``join_group``."""
    g = live_group(app, req.args["group_id"])
    actor = sess.user
    perm.check("invite", _actor_role(app, g, actor), join_policy=g.join_policy)
    uid = req.args["user_id"]
    invitee = app.state.users.get(uid)
    if invitee is None or not invitee.active:
        raise ContractError("not_found", f"no user {uid}")
    if uid in g.members:
        raise ContractError("conflict", "that user is already a member")
    check_room(app, g, invitee)
    now = app.now_ms()
    g.invited.add(uid)
    await app.store.write(
        repo.change(
            ("INSERT OR REPLACE INTO invitations VALUES (?, ?, ?, ?)", (g.group_id, uid, actor.user_id, now)),
            audit=_audit(app, actor, "invite", g, uid),
        )
    )
    publish(
        _to_user(app, uid),
        event("invited", group_id=g.group_id, name=g.name, by=user_view(app, actor.user_id, g.members[actor.user_id].role)),
    )
    return None


# -- acting on members --------------------------------------------------------------
@handler("kick")
async def kick(app, sess, req, enc) -> None:
    g, actor, uid, _, _ = _targeted(app, sess, req, "kick")
    kicked_sessions = set(_to_user(app, uid))
    await remove(app, g, uid, "kick", actor.user_id, audit=_audit(app, actor, "kick", g, uid))
    ev = event("member_removed", group_id=g.group_id, user_id=uid, by=actor.user_id)
    publish(g.online | kicked_sessions, ev)
    return None


@handler("mute")
async def mute(app, sess, req, enc) -> None:
    seconds = req.args["seconds"]
    if not 0 <= seconds <= MAX_MUTE_SECONDS:
        raise ContractError("bad_request", f"seconds must be 0 (unmute) to {MAX_MUTE_SECONDS}")
    g, actor, uid, _, m = _targeted(app, sess, req, "mute")
    until = app.now_ms() + seconds * 1000 if seconds else 0
    await app.store.write(
        repo.change(
            ("UPDATE members SET muted_until = ? WHERE group_id = ? AND user_id = ?", (until, g.group_id, uid)),
            audit=_audit(app, actor, "mute", g, uid, seconds=seconds),
        )
    )
    m.muted_until = until
    publish(g.online, event("member_muted", group_id=g.group_id, user_id=uid, until=until))
    return None


async def _change_group(app, sess, g: Group, op: str, **fields: Any) -> None:
    """Store group fields with the op's record entry, update memory, send ``group_updated``."""
    sets = ", ".join(f"{k} = ?" for k in fields)
    values = tuple(int(v) if isinstance(v, bool) else v for v in fields.values())
    await app.store.write(
        repo.change(
            (f"UPDATE groups SET {sets} WHERE group_id = ?", (*values, g.group_id)),
            audit=_audit(app, sess.user, op, g, **fields),
        )
    )
    for k, v in fields.items():
        setattr(g, k, v)
    publish(g.online, event("group_updated", group_id=g.group_id, **fields))


@handler("mute_all")
async def mute_all(app, sess, req, enc) -> None:
    g = live_group(app, req.args["group_id"])
    perm.check("mute_all", _actor_role(app, g, sess.user))
    await _change_group(app, sess, g, "mute_all", mute_all=req.args["on"])
    return None


@handler("set_role")
async def set_role(app, sess, req, enc) -> None:
    new_role = perm.check_new_role(req.args["role"])
    g, actor, uid, _, m = _targeted(app, sess, req, "set_role")
    if m.role == new_role:
        return None
    if new_role is perm.Role.ADMIN:
        cap = caps_of(app, app.state.users[g.owner_id]).max_admins
        if sum(1 for x in g.members.values() if x.role == "admin") >= cap:
            raise ContractError("admin_cap_reached", f"a group may have at most {cap} admins")
    m.role = new_role.value
    try:
        await app.store.write(
            repo.change(
                ("UPDATE members SET role = ? WHERE group_id = ? AND user_id = ?", (m.role, g.group_id, uid)),
                audit=_audit(app, actor, "set_role", g, uid, role=m.role),
            )
        )
    except Exception:
        m.role = "admin" if new_role is perm.Role.MEMBER else "member"
        raise
    publish(g.online, event("role_changed", group_id=g.group_id, user_id=uid, role=m.role))
    return None


@handler("transfer_owner")
async def transfer_owner(app, sess, req, enc) -> None:
    g, actor, uid, new_owner, m = _targeted(app, sess, req, "transfer_owner")
    caps = caps_of(app, new_owner)
    if owned_count(app, new_owner) >= caps.max_groups_created:
        raise ContractError("create_cap_reached", "that user already owns as many groups as allowed")
    if new_owner.create_revoked:
        raise ContractError("forbidden", "that user may not own groups")
    check_size_class(len(g.members), app.cfg.groups.size_classes,
                     owner_level=level_of(app, new_owner), owner_id_verified=new_owner.id_verified)
    old = g.members[actor.user_id]
    await app.store.write(
        repo.change(
            ("UPDATE groups SET owner_id = ? WHERE group_id = ?", (uid, g.group_id)),
            ("UPDATE members SET role = 'owner' WHERE group_id = ? AND user_id = ?", (g.group_id, uid)),
            ("UPDATE members SET role = 'member' WHERE group_id = ? AND user_id = ?", (g.group_id, actor.user_id)),
            audit=_audit(app, actor, "transfer_owner", g, uid),
        )
    )
    g.owner_id, m.role, old.role = uid, "owner", "member"
    publish(g.online, event("role_changed", group_id=g.group_id, user_id=uid, role="owner"))
    publish(g.online, event("role_changed", group_id=g.group_id, user_id=actor.user_id, role="member"))
    return None


# -- the group itself -----------------------------------------------------------------
@handler("set_announcement")
async def set_announcement(app, sess, req, enc) -> None:
    g = live_group(app, req.args["group_id"])
    perm.check("set_announcement", _actor_role(app, g, sess.user))
    text = req.args["text"].strip()
    if len(text) > app.cfg.limits.max_text_chars:
        raise ContractError("too_large", f"an announcement is at most {app.cfg.limits.max_text_chars} characters")
    await _change_group(app, sess, g, "set_announcement", announcement=text)
    return None


@handler("update_group")
async def update_group(app, sess, req, enc) -> None:
    g = live_group(app, req.args["group_id"])
    perm.check("update_group", _actor_role(app, g, sess.user))
    changed: dict[str, str] = {}
    if "name" in req.args:
        changed["name"] = validate_group_name(req.args["name"])
    if "category" in req.args:
        changed["category"] = validate_category(app, req.args["category"])
    if "join_policy" in req.args:
        changed["join_policy"] = validate_join_policy(req.args["join_policy"])
    if not changed:
        raise ContractError("bad_request", "update_group needs name, category or join_policy")
    await _change_group(app, sess, g, "update_group", **changed)
    return None


@handler("delete_message")
async def delete_message(app, sess, req, enc) -> None:
    """Members see ``deleted``; the stored text is kept for the retention period (Art. 13)."""
    g = live_group(app, req.args["group_id"])
    actor = sess.user
    seq = req.args["seq"]
    role = perm.Role(member_of(g, actor).role)
    found = await repo.message_sender(app.store, g.group_id, seq)
    if found is None or seq <= g.members[actor.user_id].joined_seq:
        raise ContractError("not_found", f"no message {seq} in group {g.group_id}")
    sender_id, already = found
    own = sender_id == actor.user_id
    if not own:
        role = _actor_role(app, g, actor)
    sender = g.members.get(sender_id)
    perm.check("delete_message", role, perm.Role(sender.role) if sender else None, own=own)
    if already:
        return None
    now = app.now_ms()
    await app.store.write(
        repo.change(
            ("UPDATE messages SET deleted_at = ?, deleted_by = ? WHERE group_id = ? AND seq = ?",
             (now, actor.user_id, g.group_id, seq)),
            audit=_audit(app, actor, "delete_message", g, sender_id, seq=seq),
        )
    )
    publish(g.online, event("message_deleted", group_id=g.group_id, seq=seq))
    return None


@handler("dissolve_group")
async def dissolve_group(app, sess, req, enc) -> None:
    """Members are told; the id stays taken for all time and the history stays stored."""
    g = live_group(app, req.args["group_id"])
    perm.check("dissolve_group", _actor_role(app, g, sess.user))
    now = app.now_ms()
    await app.store.write(
        repo.change(
            ("UPDATE groups SET dissolved_at = ? WHERE group_id = ?", (now, g.group_id)),
            audit=_audit(app, sess.user, "dissolve_group", g),
        )
    )
    g.dissolved_at = now
    online = set(g.online)
    for uid in g.members:
        app.state.users[uid].groups.discard(g.group_id)
    g.online.clear()
    publish(online, event("group_dissolved", group_id=g.group_id))
    return None
