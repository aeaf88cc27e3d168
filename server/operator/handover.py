"""A blacklisted owner's groups (Art. 11): each passes to its longest-serving admin, or is closed.

When an account is blacklisted its owner powers end with it. For every live
group it owns:

- the group passes to the **longest-serving admin** (the admin who joined the
  group first: lowest ``joined_seq``, then user id) among those who may own it
  now: an active account, under their own ``max_groups_created`` cap (groups
  passed on earlier in the same blacklisting count), the right to create groups
  not revoked, a verified identity when ``identity.require_id_to_create`` asks
  it of owners, meeting the group's size class, and a credit level whose member
  and admin caps the group fits (``posting.check_fits_new_owner``); an admin whose
  management powers are suspended only when no other admin may own it. The old
  owner stays a plain member of a closed account.
- a group with no such admin is **closed** (final, like ``close-group``), with the
  reason "owner blacklisted: ...". Nobody is penalised for it.

Each group gets a record entry of its own, written in the same transaction, so that
its ``group_log`` and ``export --group`` show what the platform did to it: a passed
group ``transfer_owner`` (by the platform, to the heir), a closed one ``close_group``
(with its sanction's id). Their reason is "owner blacklisted: " and the operator's
reason alone: which other login of the person was blacklisted with it is for the
blacklisting's own entry, never for a group's managers.

:func:`plan` claims all of it in memory in one synchronous step (so no other
request can take the group meanwhile) and returns the changes, a summary for
the record entry, the undo, and what to tell clients after the commit. The
blacklisting writes it all in one transaction with its own record entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from governance import posting
from governance.tiers import check_size_class
from protocol import events as ev
from protocol.enums import Role
from protocol.errors import ContractError
from server.claims import FieldClaim, Settles
from server.fanout import publish
from server.handlers.common import (
    bring_back,
    caps_of,
    held_until,
    lapse_requests,
    level_of,
    owned_count,
    take_down,
)
from server.operator.common import OPERATOR
from server.storage.changes import (
    AddRecord,
    AddSanction,
    Audit,
    Change,
    DropGroupRequests,
    GroupCaps,
    SetGroupFields,
    TransferOwner,
    UserCaps,
)

if TYPE_CHECKING:
    from server.context import Context
    from server.state import Group, User


@dataclass
class Handover:
    changes: list[Change] = field(default_factory=list)
    passed: dict[str, str] = field(default_factory=dict)  # group id -> new owner's user id
    closed: list[str] = field(default_factory=list)
    undos: list[Callable[[], None]] = field(default_factory=list)
    tell: list[Callable[[], None]] = field(default_factory=list)
    # The owners and roles a group's passing claims, settled by the blacklisting's write (in order
    # with a transfer of the group in flight, as transfer_owner's own claims are: server/claims.py).
    claims: list[Settles] = field(default_factory=list)
    # The groups whose closing is claimed, an end in flight each until :meth:`settled`.
    ending: list[Group] = field(default_factory=list)

    def undo(self) -> None:
        for fn in reversed(self.undos):
            fn()

    def abandon(self, app: Context) -> None:
        """Take back everything claimed, with no write (the plan failed half-way)."""
        for claim in reversed(self.claims):
            claim.settle(False)
        self.undo()
        self.settled(app)

    def settled(self, app: Context, decided: bool = True) -> None:
        """The write is over: its closings are in flight no more (State.end_settled, ``decided`` as
        there)."""
        for g in self.ending:
            app.state.end_settled(g, decided)
        self.ending.clear()

    def publish(self) -> None:
        for fn in self.tell:
            fn()


def _may_own(app: Context, g: Group, user: User) -> bool:
    if not user.active:
        return False
    try:
        caps = caps_of(app, user)
        # (as transfer_owner: an admin whose own group the platform suspends receives no other group)
        posting.check_can_own(owned=owned_count(app, user), max_groups_created=caps.max_groups_created,
                              create_revoked=user.create_revoked, by_transfer=True,
                              require_id=app.cfg.identity.require_id_to_create, id_verified=user.id_verified,
                              held_until=held_until(app, user), now=app.now_ms())
        posting.check_fits_new_owner(members=len(g.members), max_members=caps.max_members,
                                     admins=_admins_after(g, user), max_admins=caps.max_admins)
        check_size_class(len(g.members), app.cfg.groups.size_classes, owner_level=level_of(app, user),
                         owner_id_verified=user.id_verified)
    except ContractError:
        return False
    return True


def _admins_after(g: Group, heir: User) -> int:
    """The admins ``g`` keeps when ``heir`` (an admin) becomes its owner."""
    return sum(1 for uid, m in g.members.items() if m.role == Role.ADMIN and uid != heir.user_id)


def successor(app: Context, g: Group, joined_at: dict[str, int]) -> User | None:
    """The longest-serving admin of ``g`` (earliest ``joined_at``) who may own it now, or None.

    Admins whose management powers the platform suspends (``suspend-admin``) come after the others:
    such an owner could manage nothing until the suspension ends. With no other admin, one of them
    still takes the group (it keeps living, and is managed again once the suspension ends) rather
    than see it closed."""
    now = app.now_ms()
    users = app.state.users

    def suspended(uid: str) -> bool:
        user = users.get(uid)
        return user is not None and user.powers_suspended_until > now

    admins = sorted((suspended(uid), joined_at.get(uid, 2**63), m.joined_seq, uid) for uid, m in g.members.items()
                    if m.role == Role.ADMIN)
    for _, _, _, uid in admins:
        user = users.get(uid)
        if user is not None and _may_own(app, g, user):
            return user
    return None


def owned_groups(app: Context, owner: User) -> list[str]:
    return sorted(gid for gid in owner.groups if app.state.groups[gid].owner_id == owner.user_id
                  and app.state.groups[gid].alive)


async def seniority(app: Context, owner: User) -> dict[str, dict[str, int]]:
    """When each member of each group ``owner`` owns joined it: read before :func:`plan`."""
    return {gid: await app.store.members_joined_at(gid) for gid in owned_groups(app, owner)}


def plan(app: Context, owner: User, reason: str, actor: str, now: int, by: str,
         joined_at: dict[str, dict[str, int]]) -> Handover:
    """Claim, in memory, the handover of every live group ``owner`` owns (see the module's doc).

    ``joined_at`` (from :func:`seniority`) only orders the admins; who is an admin,
    and who owns what, is decided here from memory, in one step with the claim.
    """
    h = Handover()
    try:
        for gid in owned_groups(app, owner):
            g = app.state.groups[gid]
            heir = successor(app, g, joined_at.get(gid, {}))
            why = f"owner blacklisted: {reason}"
            if heir is not None:
                _pass(h, app, g, owner, heir, by, Audit(now, OPERATOR, actor, "transfer_owner", gid, heir.user_id,
                                                        why, {"from_user_id": owner.user_id}))
            else:
                _close(h, app, g, why, reason, actor, now, owner)
    except BaseException:
        h.abandon(app)  # nothing half-claimed is left behind
        raise
    return h


def _pass(h: Handover, app: Context, g: Group, owner: User, heir: User, by: str, record: Audit) -> None:
    old, new = g.members[owner.user_id], g.members[heir.user_id]
    was_muted = new.muted_until > app.now_ms()  # (the store unmutes the new owner: TransferOwner)
    h.claims += [FieldClaim(g, {"owner_id": heir.user_id}), FieldClaim(new, {"role": Role.OWNER, "muted_until": 0}),
                 FieldClaim(old, {"role": Role.MEMBER})]

    def tell() -> None:
        publish(g.online, ev.RoleChanged(group_id=g.group_id, user_id=heir.user_id, role=Role.OWNER))
        if was_muted:
            publish(g.online, ev.MemberMuted(group_id=g.group_id, user_id=heir.user_id, until=0))
        publish(g.online, ev.RoleChanged(group_id=g.group_id, user_id=owner.user_id, role=Role.MEMBER))
        publish(heir.sessions, ev.Notice(group_id=g.group_id, kind="group_handover", by=by,
                                         text=f"the owner of group {g.group_id} was blacklisted by the platform; "
                                              "you now own it as its longest-serving admin"))

    caps = caps_of(app, heir)  # _may_own's, decided again by the store
    again = UserCaps(created=caps.max_groups_created, own=False)
    h.changes.append(TransferOwner(g.group_id, owner.user_id, heir.user_id, again,
                                   GroupCaps(max_members=caps.max_members, max_admins=caps.max_admins,
                                             size_classes=tuple(app.cfg.groups.size_classes),
                                             owner_level=level_of(app, heir), owner_id_verified=heir.id_verified),
                                   ts=record.ts))  # no actor in the membership log: the platform's
    h.changes.append(AddRecord(record))
    h.passed[g.group_id] = heir.user_id
    h.tell.append(tell)


def _close(h: Handover, app: Context, g: Group, why: str, reason: str, actor: str, now: int, owner: User) -> None:
    """Close ``g``: stored and recorded with ``why`` (the cause in words, then the blacklisting's
    reason); its members are told the operator's ``reason`` alone, with the cause as a field, so a
    client says it in its reader's language."""
    g.closed_at, g.closed_reason = now, why
    online = take_down(app.state.users, g)
    g.ends_in_flight += 1
    h.ending.append(g)

    def undo() -> None:
        g.closed_at, g.closed_reason = None, None
        bring_back(app.state.users, g)

    def tell() -> None:
        publish(online, ev.GroupClosed(group_id=g.group_id, reason=reason, cause="owner_blacklisted"))
        lapse_requests(app.state.users, g, "group_closed")

    h.changes.append(SetGroupFields(g.group_id, {"closed_at": now, "closed_reason": why}))
    h.changes.append(DropGroupRequests(g.group_id))
    h.changes.append(AddSanction("close_group", "group", g.group_id, why, actor, now, record=Audit(
        now, OPERATOR, actor, "close_group", g.group_id, None, why, {"owner_id": owner.user_id})))
    h.closed.append(g.group_id)
    h.undos.append(undo)
    h.tell.append(tell)
