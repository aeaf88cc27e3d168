"""The expectations below are written out by hand from the contract's Management table.

They deliberately do not read ``PERMISSIONS``: a change to the table has to be
mirrored here on purpose.
"""

import pytest

from governance.permissions import (
    MANAGEMENT_OPS,
    PERMISSIONS,
    Role,
    check,
    check_new_role,
    may,
    permission_rows,
)
from protocol.errors import ContractError

O, A, M = "owner", "admin", "member"  # noqa: E741 (the roles' initials keep the table below readable)
TARGETS = (None, O, A, M)

# op -> actor -> target -> allowed.  "*" = same answer for every target (target-less ops).
EXPECTED = {
    "invite": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "join_requests": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "approve_join": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "reject_join": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "mute_all": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "set_announcement": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "update_group": {O: {"*": True}, A: {"*": False}, M: {"*": False}},
    "dissolve_group": {O: {"*": True}, A: {"*": False}, M: {"*": False}},
    "kick": {
        O: {None: False, O: False, A: True, M: True},
        A: {None: False, O: False, A: False, M: True},
        M: {None: False, O: False, A: False, M: False},
    },
    "mute": {
        O: {None: False, O: False, A: True, M: True},
        A: {None: False, O: False, A: False, M: True},
        M: {None: False, O: False, A: False, M: False},
    },
    "set_role": {
        O: {None: False, O: False, A: True, M: True},
        A: {None: False, O: False, A: False, M: False},
        M: {None: False, O: False, A: False, M: False},
    },
    "transfer_owner": {
        O: {None: False, O: False, A: True, M: True},
        A: {None: False, O: False, A: False, M: False},
        M: {None: False, O: False, A: False, M: False},
    },
    # target = the sender's current role; None = sender no longer in the group
    "delete_message": {  # "sender (own), owner, admin": admins on anyone's message
        O: {None: True, O: True, A: True, M: True},
        A: {None: True, O: True, A: True, M: True},
        M: {None: False, O: False, A: False, M: False},
    },
    # v2 "Messages, richer"
    "pin_message": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "unban": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "bans": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "set_slow_mode": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "create_invite_link": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "revoke_invite_link": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "invite_links": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "group_log": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    "mention_all": {O: {"*": True}, A: {"*": True}, M: {"*": False}},
    # "owner; admin on members only"; None = a user not in the group (banned before joining)
    "ban": {
        O: {None: True, O: False, A: True, M: True},
        A: {None: True, O: False, A: False, M: True},
        M: {None: False, O: False, A: False, M: False},
    },
}

CELLS = [
    (op, actor, target)
    for op in EXPECTED
    for actor in (O, A, M)
    for target in TARGETS
]


def expected(op, actor, target):
    row = EXPECTED[op][actor]
    return row["*"] if "*" in row else row[target]


def test_expectation_covers_every_op():
    assert set(EXPECTED) == set(MANAGEMENT_OPS)
    assert len(MANAGEMENT_OPS) == 23


@pytest.mark.parametrize("op,actor,target", CELLS)
def test_every_cell(op, actor, target):
    want = expected(op, actor, target)
    tgt = None if target is None else Role(target)
    assert may(op, Role(actor), tgt) is want
    # plain strings work too
    assert may(op, actor, target) is want
    if want:
        check(op, Role(actor), tgt)
    else:
        with pytest.raises(ContractError) as exc:
            check(op, Role(actor), tgt)
        assert exc.value.code == "forbidden"
        assert op in exc.value.reason


def test_table_shape():
    targetless = {"invite", "join_requests", "approve_join", "reject_join", "mute_all",
                  "set_announcement", "update_group", "dissolve_group",
                  "pin_message", "unban", "bans", "set_slow_mode", "create_invite_link", "revoke_invite_link",
                  "invite_links", "group_log", "mention_all"}
    for (op, actor, target), allowed in PERMISSIONS.items():
        assert isinstance(allowed, bool)
        assert isinstance(actor, Role)
        if op in targetless:
            assert target is None
    for op in targetless:
        for actor in Role:
            assert (op, actor, None) in PERMISSIONS
    for op in set(MANAGEMENT_OPS) - targetless:
        for actor in Role:
            for target in Role:
                assert (op, actor, target) in PERMISSIONS


def test_permission_rows_match_table_and_expectation():
    rows = permission_rows()
    assert len(rows) == len(PERMISSIONS)
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), key=MANAGEMENT_OPS.index)
    for op, actor, target, allowed in rows:
        assert allowed is expected(op, actor, target)


def test_own_message_short_circuits():
    for actor in Role:
        for target in TARGETS:
            assert may("delete_message", actor, target, own=True) is True
            check("delete_message", actor, target, own=True)


def test_own_does_not_apply_to_other_ops():
    assert may("kick", Role.MEMBER, Role.MEMBER, own=True) is False
    assert may("mute", Role.ADMIN, Role.ADMIN, own=True) is False


@pytest.mark.parametrize(
    "policy,allowed", [("open", True), ("approval", False), ("invite", False), (None, False)]
)
def test_member_invite_by_join_policy(policy, allowed):
    assert may("invite", Role.MEMBER, join_policy=policy) is allowed
    if not allowed:
        with pytest.raises(ContractError) as exc:
            check("invite", Role.MEMBER, join_policy=policy)
        assert exc.value.code == "forbidden"
        assert "open" in exc.value.reason


@pytest.mark.parametrize("policy", ["open", "approval", "invite", None])
def test_owner_and_admin_invite_under_any_policy(policy):
    assert may("invite", Role.OWNER, join_policy=policy)
    assert may("invite", Role.ADMIN, join_policy=policy)


def test_join_policy_does_not_widen_other_ops():
    assert may("kick", Role.MEMBER, Role.MEMBER, join_policy="open") is False
    assert may("approve_join", Role.MEMBER, join_policy="open") is False


@pytest.mark.parametrize(
    "op,actor,target,phrase",
    [
        ("kick", A, O, "admins cannot act on the owner or other admins"),
        ("mute", A, A, "admins cannot act on the owner or other admins"),
        ("kick", O, O, "the owner cannot kick themselves"),
        ("transfer_owner", O, O, "the owner cannot transfer_owner themselves"),
        ("set_role", A, M, "only the owner can set_role"),
        ("dissolve_group", M, None, "only the owner can dissolve_group"),
        ("mute_all", M, None, "only the owner and admins can mute_all"),
        ("delete_message", M, M, "own messages"),
    ],
)
def test_check_reasons(op, actor, target, phrase):
    with pytest.raises(ContractError) as exc:
        check(op, actor, target)
    assert exc.value.code == "forbidden"
    assert phrase in exc.value.reason


def test_unknown_op_or_role_is_a_programming_error():
    with pytest.raises(ValueError):
        may("launch_missiles", Role.OWNER)
    with pytest.raises(ValueError):
        may("kick", "superuser", Role.MEMBER)


@pytest.mark.parametrize("raw,role", [("admin", Role.ADMIN), ("member", Role.MEMBER)])
def test_check_new_role_accepts(raw, role):
    assert check_new_role(raw) is role


@pytest.mark.parametrize("raw", ["owner", "Admin", "", "root", None, 1])
def test_check_new_role_refuses(raw):
    with pytest.raises(ContractError) as exc:
        check_new_role(raw)
    assert exc.value.code == "bad_request"


def test_role_values():
    assert [r.value for r in Role] == ["owner", "admin", "member"]
    assert Role.OWNER == "owner"


# check_ban_change: (the actor's role, whether the ban in force was made by the owner) -> allowed
BAN_CHANGES = [(Role.OWNER, True, True), (Role.OWNER, False, True), (Role.ADMIN, False, True),
               (Role.ADMIN, True, False)]


@pytest.mark.parametrize(("actor", "by_owner", "allowed"), BAN_CHANGES)
def test_an_admin_may_not_change_a_ban_the_owner_made(actor, by_owner, allowed):
    from governance.permissions import check_ban_change

    if allowed:
        check_ban_change(actor, by_owner)
    else:
        with pytest.raises(ContractError) as refused:
            check_ban_change(actor, by_owner)
        assert refused.value.code == "forbidden"
