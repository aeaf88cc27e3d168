"""Who may manage what in a group (contract "Management" table; Art. 8, 9).

``PERMISSIONS`` is the single source: (op, actor role, target role or None) -> allowed.
Target-less ops have only ``None`` rows; targeted ops have one row per target
role, where the target of ``delete_message`` is the sender's *current* role and
``None`` means the sender is no longer in the group. Anything not in the table
is refused.
"""

from __future__ import annotations

from protocol.enums import Role
from protocol.errors import ContractError

__all__ = [
    "MANAGEMENT_OPS",
    "OWNER_ONLY_OPS",
    "PERMISSIONS",
    "TARGETED_OPS",
    "Role",  # defined in protocol.enums, re-exported: `from governance.permissions import Role` still works
    "check",
    "check_new_role",
    "may",
    "permission_rows",
]

MANAGEMENT_OPS: tuple[str, ...] = (
    "invite",
    "join_requests",
    "approve_join",
    "reject_join",
    "kick",
    "mute",
    "mute_all",
    "set_role",
    "transfer_owner",
    "set_announcement",
    "update_group",
    "delete_message",
    "dissolve_group",
    # v2: richer messages
    "pin_message",
    "ban",
    "unban",
    "bans",
    "set_slow_mode",
    "create_invite_link",
    "revoke_invite_link",
    "invite_links",  # extension: the group's usable links, with their uses
    "group_log",
    "mention_all",  # not an op: the mention_all flag of send
)

TARGETED_OPS = frozenset({"kick", "mute", "set_role", "transfer_owner", "delete_message", "ban"})
OWNER_ONLY_OPS = frozenset({"set_role", "transfer_owner", "update_group", "dissolve_group"})

_O, _A, _M = Role.OWNER, Role.ADMIN, Role.MEMBER

PERMISSIONS: dict[tuple[str, Role, Role | None], bool] = {
    # target-less
    ("invite", _O, None): True,
    ("invite", _A, None): True,
    ("invite", _M, None): False,  # unless the join policy allows it, see may()
    ("join_requests", _O, None): True,
    ("join_requests", _A, None): True,
    ("join_requests", _M, None): False,
    ("approve_join", _O, None): True,
    ("approve_join", _A, None): True,
    ("approve_join", _M, None): False,
    ("reject_join", _O, None): True,
    ("reject_join", _A, None): True,
    ("reject_join", _M, None): False,
    ("mute_all", _O, None): True,
    ("mute_all", _A, None): True,
    ("mute_all", _M, None): False,
    ("set_announcement", _O, None): True,
    ("set_announcement", _A, None): True,
    ("set_announcement", _M, None): False,
    ("update_group", _O, None): True,
    ("update_group", _A, None): False,
    ("update_group", _M, None): False,
    ("dissolve_group", _O, None): True,
    ("dissolve_group", _A, None): False,
    ("dissolve_group", _M, None): False,
    # kick
    ("kick", _O, _O): False,
    ("kick", _O, _A): True,
    ("kick", _O, _M): True,
    ("kick", _A, _O): False,
    ("kick", _A, _A): False,
    ("kick", _A, _M): True,
    ("kick", _M, _O): False,
    ("kick", _M, _A): False,
    ("kick", _M, _M): False,
    # mute
    ("mute", _O, _O): False,
    ("mute", _O, _A): True,
    ("mute", _O, _M): True,
    ("mute", _A, _O): False,
    ("mute", _A, _A): False,
    ("mute", _A, _M): True,
    ("mute", _M, _O): False,
    ("mute", _M, _A): False,
    ("mute", _M, _M): False,
    # set_role
    ("set_role", _O, _O): False,
    ("set_role", _O, _A): True,
    ("set_role", _O, _M): True,
    ("set_role", _A, _O): False,
    ("set_role", _A, _A): False,
    ("set_role", _A, _M): False,
    ("set_role", _M, _O): False,
    ("set_role", _M, _A): False,
    ("set_role", _M, _M): False,
    # transfer_owner
    ("transfer_owner", _O, _O): False,
    ("transfer_owner", _O, _A): True,
    ("transfer_owner", _O, _M): True,
    ("transfer_owner", _A, _O): False,
    ("transfer_owner", _A, _A): False,
    ("transfer_owner", _A, _M): False,
    ("transfer_owner", _M, _O): False,
    ("transfer_owner", _M, _A): False,
    ("transfer_owner", _M, _M): False,
    # delete_message (someone else's; one's own is always allowed, see may())
    ("delete_message", _O, None): True,
    ("delete_message", _O, _O): True,
    ("delete_message", _O, _A): True,
    ("delete_message", _O, _M): True,
    ("delete_message", _A, None): True,
    ("delete_message", _A, _O): True,  # the contract limits admins to members for kick and mute only
    ("delete_message", _A, _A): True,
    ("delete_message", _A, _M): True,
    ("delete_message", _M, None): False,
    ("delete_message", _M, _O): False,
    ("delete_message", _M, _A): False,
    ("delete_message", _M, _M): False,
    # v2 target-less: owner and admins
    ("pin_message", _O, None): True,
    ("pin_message", _A, None): True,
    ("pin_message", _M, None): False,
    ("unban", _O, None): True,
    ("unban", _A, None): True,
    ("unban", _M, None): False,
    ("bans", _O, None): True,
    ("bans", _A, None): True,
    ("bans", _M, None): False,
    ("set_slow_mode", _O, None): True,
    ("set_slow_mode", _A, None): True,
    ("set_slow_mode", _M, None): False,
    ("create_invite_link", _O, None): True,
    ("create_invite_link", _A, None): True,
    ("create_invite_link", _M, None): False,
    ("revoke_invite_link", _O, None): True,
    ("revoke_invite_link", _A, None): True,
    ("revoke_invite_link", _M, None): False,
    ("invite_links", _O, None): True,
    ("invite_links", _A, None): True,
    ("invite_links", _M, None): False,
    ("group_log", _O, None): True,
    ("group_log", _A, None): True,
    ("group_log", _M, None): False,
    ("mention_all", _O, None): True,
    ("mention_all", _A, None): True,
    ("mention_all", _M, None): False,
    # ban: like kick, and it keeps them out
    ("ban", _O, None): True,  # someone not (or no longer) in the group
    ("ban", _O, _O): False,
    ("ban", _O, _A): True,
    ("ban", _O, _M): True,
    ("ban", _A, None): True,
    ("ban", _A, _O): False,
    ("ban", _A, _A): False,
    ("ban", _A, _M): True,
    ("ban", _M, None): False,
    ("ban", _M, _O): False,
    ("ban", _M, _A): False,
    ("ban", _M, _M): False,
}

_MEMBER_INVITE_POLICIES = frozenset({"open"})


def permission_rows() -> list[tuple[str, Role, Role | None, bool]]:
    """The table in a stable order (op as in MANAGEMENT_OPS, then actor, then target)."""
    order = {None: 0, _O: 1, _A: 2, _M: 3}
    rows = [(op, actor, target, ok) for (op, actor, target), ok in PERMISSIONS.items()]
    rows.sort(key=lambda r: (MANAGEMENT_OPS.index(r[0]), order[r[1]], order[r[2]]))
    return rows


def _key(op: str, actor: Role | str, target: Role | str | None) -> tuple[str, Role, Role | None]:
    if op not in MANAGEMENT_OPS:
        raise ValueError(f"not a management op: {op!r}")
    return op, Role(actor), (Role(target) if target is not None and op in TARGETED_OPS else None)


def may(
    op: str,
    actor: Role,
    target: Role | None = None,
    *,
    own: bool = False,
    join_policy: str | None = None,
) -> bool:
    """Whether ``actor`` may do ``op`` (to someone in role ``target``).

    ``target`` is ignored for target-less ops. ``own`` (the actor sent the
    message) only matters for ``delete_message``. ``join_policy`` only matters
    for a member's ``invite``.
    """
    key = _key(op, actor, target)
    if own and op == "delete_message":
        return True
    if op == "invite" and key[1] is _M and join_policy in _MEMBER_INVITE_POLICIES:
        return True
    return PERMISSIONS.get(key, False)


def check_unban(actor: Role, of_admin: bool) -> None:
    """``unban`` (owner, admin, as the wire contract has it): an admin may lift any ban but one of a user
    who was an admin when banned, whom admins may not act on (``ban``: admin on members only); the
    owner's ``forbidden`` otherwise."""
    if actor is Role.ADMIN and of_admin:
        raise ContractError("forbidden", "an admin may not lift the ban of a user who was an admin when banned")


def check_ban_change(actor: Role, made_by_owner: bool) -> None:
    """A ``ban`` replacing one in force: an admin may not replace (shorten, lengthen) a ban the owner
    made, only the admins'. ``forbidden`` otherwise."""
    if actor is Role.ADMIN and made_by_owner:
        raise ContractError("forbidden", "an admin may not change a ban the group's owner made")


def check(
    op: str,
    actor: Role,
    target: Role | None = None,
    *,
    own: bool = False,
    join_policy: str | None = None,
) -> None:
    """Like :func:`may`, raising ``forbidden`` with the reason instead of returning False."""
    if may(op, actor, target, own=own, join_policy=join_policy):
        return
    _, actor, target = _key(op, actor, target)
    raise ContractError("forbidden", _denial(op, actor, target))


def _denial(op: str, actor: Role, target: Role | None) -> str:
    if op == "invite" and actor is _M:
        return "members can invite only to groups whose join policy is open"
    if op in OWNER_ONLY_OPS and actor is not _O:
        return f"only the owner can {op}"
    if actor is _M:
        if op == "delete_message":
            return "members can delete_message only on their own messages"
        return f"only the owner and admins can {op}"
    if actor is _O and target is _O:
        return f"the owner cannot {op} themselves"
    if actor is _A and target in (_O, _A):
        return f"{op}: admins cannot act on the owner or other admins"
    if op in TARGETED_OPS and target is None:
        return f"{op} needs a member of the group as its target"
    return f"{actor} cannot {op}"


def check_new_role(role_str: str) -> Role:
    """The role ``set_role`` may assign: admin or member (ownership moves only by transfer_owner)."""
    if role_str in (Role.ADMIN.value, Role.MEMBER.value):
        return Role(role_str)
    raise ContractError("bad_request", "role must be 'admin' or 'member'")
