"""Posting and management policy: the refusals the handlers give, in the order they give them."""

from __future__ import annotations

from typing import Any

import pytest

from governance import posting
from governance.content import Action, ContentFilter, Verdict
from governance.permissions import Role as ReexportedRole
from governance.posting import (
    ContentBlocked,
    acting_role,
    check_admin_cap,
    check_can_own,
    check_can_post,
    check_member_cap,
    check_text,
    mostly_rejected,
    screen_text,
)
from protocol.enums import Role
from protocol.errors import ERROR_CODES, ContractError

NOW = 1_700_000_000_000
LATER = NOW + 60_000
EARLIER = NOW - 60_000

# Everything allowed; each case changes what it needs.
CAN_POST: dict[str, Any] = {
    "now": NOW,
    "role": Role.MEMBER,
    "muted_until": 0,
    "group_mute_all": False,
    "group_suspended_until": 0,
    "require_id": False,
    "id_verified": False,
    "agreement_version": None,
    "accepted_version": None,
}

AGREE = "forbidden", "accept the platform rules and service agreement (version v2) first", {"agreement_version": "v2"}
SUSPENDED = "group_suspended", "posting in this group is suspended", {"until": LATER}
MUTED = "muted", "you are muted in this group", {"until": LATER}
MUTE_ALL = "muted", "the group is muted; only the owner and admins can speak", {}
VERIFY = "verification_required", "posting needs a verified identity", {}
TOO_LONG = "too_large", "text is longer than 10 characters", {"field": "text", "max_chars": 10}
EMPTY = "bad_request", "text is empty", {}

POST_CASES: list[tuple[str, dict[str, Any], tuple[str, str, dict[str, Any]] | None]] = [
    ("all clear", {}, None),
    ("owner, everything set but expired", {"role": Role.OWNER, "muted_until": EARLIER, "group_suspended_until": NOW},
     None),
    ("suspended", {"group_suspended_until": LATER}, SUSPENDED),
    ("suspension ends now", {"group_suspended_until": NOW}, None),
    ("muted", {"muted_until": LATER}, MUTED),
    ("mute ends now", {"muted_until": NOW}, None),
    ("mute_all, member", {"group_mute_all": True}, MUTE_ALL),
    ("mute_all, member as a string", {"group_mute_all": True, "role": "member"}, MUTE_ALL),
    ("mute_all, admin", {"group_mute_all": True, "role": Role.ADMIN}, None),
    ("mute_all, owner", {"group_mute_all": True, "role": Role.OWNER}, None),
    ("muted admin under mute_all", {"group_mute_all": True, "role": Role.ADMIN, "muted_until": LATER}, MUTED),
    ("mute_all, admin with powers suspended",
     {"group_mute_all": True, "role": Role.ADMIN, "powers_suspended_until": LATER}, MUTE_ALL),
    ("mute_all, owner with powers suspended",
     {"group_mute_all": True, "role": Role.OWNER, "powers_suspended_until": LATER}, MUTE_ALL),
    ("admin, powers suspended, no mute_all", {"role": Role.ADMIN, "powers_suspended_until": LATER}, None),
    ("id required", {"require_id": True}, VERIFY),
    ("id required and verified", {"require_id": True, "id_verified": True}, None),
    ("agreement not accepted", {"agreement_version": "v2"}, AGREE),
    ("old agreement accepted", {"agreement_version": "v2", "accepted_version": "v1"}, AGREE),
    ("agreement accepted", {"agreement_version": "v2", "accepted_version": "v2"}, None),
    ("no agreement at all", {"accepted_version": "v1"}, None),
    # the order: suspended, muted, mute_all, verification, agreement
    ("suspended beats muted", {"group_suspended_until": LATER, "muted_until": LATER}, SUSPENDED),
    ("muted beats mute_all", {"muted_until": LATER, "group_mute_all": True}, MUTED),
    ("mute_all beats verification", {"group_mute_all": True, "require_id": True}, MUTE_ALL),
    ("verification beats agreement", {"require_id": True, "agreement_version": "v2"}, VERIFY),
    ("everything at once", {"group_suspended_until": LATER, "muted_until": LATER, "group_mute_all": True,
                            "require_id": True, "agreement_version": "v2"}, SUSPENDED),
    # with the text: length and emptiness between verification and agreement, as in send
    ("text fine", {"text": "hello", "max_text_chars": 10}, None),
    ("text too long", {"text": "x" * 11, "max_text_chars": 10}, TOO_LONG),
    ("text empty", {"text": " \n\t", "max_text_chars": 10}, EMPTY),
    ("too long beats agreement", {"text": "x" * 11, "max_text_chars": 10, "agreement_version": "v2"}, TOO_LONG),
    ("empty beats agreement", {"text": "", "max_text_chars": 10, "agreement_version": "v2"}, EMPTY),
    ("verification beats too long", {"text": "x" * 11, "max_text_chars": 10, "require_id": True}, VERIFY),
    ("mute_all beats empty", {"text": "", "max_text_chars": 10, "group_mute_all": True}, MUTE_ALL),
    ("text fine, agreement missing", {"text": "hello", "max_text_chars": 10, "agreement_version": "v2"}, AGREE),
]


def expect(call: Any, outcome: tuple[str, str, dict[str, Any]] | None) -> None:
    if outcome is None:
        call()
        return
    code, reason, extra = outcome
    with pytest.raises(ContractError) as info:
        call()
    assert (info.value.code, info.value.reason, info.value.extra) == (code, reason, extra)


@pytest.mark.parametrize("case,changes,outcome", POST_CASES, ids=[c[0] for c in POST_CASES])
def test_check_can_post(case, changes, outcome):
    expect(lambda: check_can_post(**{**CAN_POST, **changes}), outcome)


def test_check_can_post_needs_the_limit_with_the_text():
    with pytest.raises(TypeError):
        check_can_post(**CAN_POST, text="hello")


def test_check_can_post_takes_keywords_only():
    with pytest.raises(TypeError):
        check_can_post(*CAN_POST.values())  # type: ignore[misc]


def _long(field: str, limit: int) -> tuple[str, str, dict[str, object]]:
    return "too_large", f"{field} is longer than {limit} characters", {"field": field, "max_chars": limit}


TEXT_CASES = [
    # (text, max_chars, field, allow_empty, outcome)
    ("hello", 5, "text", False, None),
    ("hello!", 5, "text", False, _long("text", 5)),
    ("你好世界啊", 5, "text", False, None),  # characters, not bytes
    ("你好世界啊!", 5, "name", False, _long("name", 5)),
    ("", 5, "text", False, ("bad_request", "text is empty", {})),
    ("  \u3000\n", 5, "display_name", False, ("bad_request", "display_name is empty", {})),
    ("", 5, "announcement", True, None),
    ("   ", 5, "announcement", True, None),
    ("x" * 6, 5, "announcement", True, _long("announcement", 5)),
    ("x" * 6 + " ", 5, "announcement", True, _long("announcement", 5)),
    ("a\x00b", 5, "text", False, ("bad_request", "text contains a NUL character", {})),
    ("\x00", 5, "announcement", True, ("bad_request", "announcement contains a NUL character", {})),
    # what renders as nothing is no text either (a reviewer posted blank-looking messages of these)
    ("\u200b", 5, "text", False, ("bad_request", "text shows nothing", {})),  # zero-width space (Cf)
    ("\u2800\u2800", 5, "text", False, ("bad_request", "text shows nothing", {})),  # braille blank
    ("\u3164 \ufeff", 5, "comment", False, ("bad_request", "comment shows nothing", {})),  # Hangul filler, BOM
    ("\u0301\u20dd", 5, "text", False, ("bad_request", "text shows nothing", {})),  # lone marks
    ("\u200bhi", 5, "text", False, None),  # something shows
    ("\U0001f44d", 5, "text", False, None),  # an emoji is something
    ("\uf8ff", 5, "text", False, None),  # a private-use symbol may show (a font's own): not refused
    ("\U0001fabf", 5, "text", False, None),  # an emoji newer than this Python's Unicode (Cn here)
    ("\u200b", 5, "announcement", True, None),
]


@pytest.mark.parametrize("text,max_chars,field,allow_empty,outcome", TEXT_CASES)
def test_check_text(text, max_chars, field, allow_empty, outcome):
    def call() -> None:
        assert check_text(text, max_chars=max_chars, field=field, allow_empty=allow_empty) is text

    expect(call, outcome)


FILTER = ContentFilter([
    ("gambling", "block", ["赌博", "casino"]),
    ("politics", "review", ["敏感词"]),
    ("ads", "flag", ["加微信"]),
])

SCREEN_CASES = [
    # (text, argument, its noun, outcome: None (clean) / an Action (returned) / the reason of content_blocked)
    ("今天天气不错", "text", "message", None),
    ("", "text", "message", None),
    ("来 赌.博 吧", "text", "message", "the message contains prohibited content (gambling)"),
    ("Casino Night", "name", "group name", "the group name contains prohibited content (gambling)"),
    ("casino", "name", "account name", "the account name contains prohibited content (gambling)"),
    ("CASINO", "announcement", "announcement", "the announcement contains prohibited content (gambling)"),
    ("赌博王", "display_name", "display name", "the display name contains prohibited content (gambling)"),
    ("赌博", "reason", "ban's reason", "the ban's reason contains prohibited content (gambling)"),
    ("这是敏感词", "text", "message", Action.REVIEW),
    ("加微信 123", "name", "group name", Action.FLAG),
    ("加微信 赌博", "text", "message", "the message contains prohibited content (gambling)"),  # the most severe wins
]


@pytest.mark.parametrize("text,field,noun,outcome", SCREEN_CASES)
def test_screen_text(text, field, noun, outcome):
    if outcome is None or isinstance(outcome, Action):
        verdict = screen_text(FILTER, text, field, noun)
        assert (verdict.action if verdict else None) == outcome
        return
    with pytest.raises(ContentBlocked) as info:
        screen_text(FILTER, text, field, noun)
    err = info.value
    assert isinstance(err, ContractError)
    assert (err.code, err.reason, err.extra) == ("content_blocked", outcome, {})
    assert err.verdict.action is Action.BLOCK and err.verdict.category == "gambling" and err.field == field


def test_screen_text_takes_any_filter_with_check():
    class Always:
        def __init__(self, verdict: Verdict | None) -> None:
            self.verdict = verdict
            self.seen: list[str] = []

        def check(self, text: str) -> Verdict | None:
            self.seen.append(text)
            return self.verdict

    flag = Verdict(Action.FLAG, "ads", "x")
    screen = Always(flag)
    assert screen_text(screen, "abc", "text", "message") is flag and screen.seen == ["abc"]
    assert screen_text(Always(None), "abc", "text", "message") is None
    with pytest.raises(ContentBlocked):
        screen_text(Always(Verdict(Action.BLOCK, "c", "x")), "abc", "text", "message")
    assert screen_text(ContentFilter(), "赌博", "text", "message") is None  # no lists, nothing blocked


# [ext] cause and until: a client says why, and until when, without reading the reason
SUSPENDED_POWERS = ("forbidden", "your management powers are suspended by the platform",
                    {"cause": "powers_suspended", "until": LATER})
ROLE_CASES = [
    # (role, powers_suspended_until, outcome: the role acted with, or the refusal)
    (Role.OWNER, 0, Role.OWNER),
    (Role.ADMIN, 0, Role.ADMIN),
    (Role.MEMBER, 0, Role.MEMBER),
    (Role.OWNER, EARLIER, Role.OWNER),
    (Role.ADMIN, NOW, Role.ADMIN),
    (Role.OWNER, LATER, SUSPENDED_POWERS),
    (Role.ADMIN, LATER, SUSPENDED_POWERS),
    (Role.MEMBER, LATER, Role.MEMBER),  # a member is never affected
    ("admin", LATER, SUSPENDED_POWERS),
    ("member", LATER, Role.MEMBER),
]


@pytest.mark.parametrize("role,until,outcome", ROLE_CASES)
def test_acting_role(role, until, outcome):
    if isinstance(outcome, Role):
        got = acting_role(role, until, NOW)
        assert got is outcome
    else:
        expect(lambda: acting_role(role, until, NOW), outcome)


@pytest.mark.parametrize(
    "count,cap,outcome",
    [
        (0, 10, None),
        (9, 10, None),
        (10, 10, ("admin_cap_reached", "a group may have at most 10 admins", {})),
        (11, 10, ("admin_cap_reached", "a group may have at most 10 admins", {})),
        (0, 0, ("admin_cap_reached", "a group may have at most 0 admins", {})),
        (1, 1, ("admin_cap_reached", "a group may have at most 1 admins", {})),
    ],
)
def test_check_admin_cap(count, cap, outcome):
    expect(lambda: check_admin_cap(count, cap), outcome)


@pytest.mark.parametrize(
    "count,cap,outcome",
    [
        (0, 10, None),
        (9, 10, None),
        (10, 10, ("member_cap_reached", "group 123 is full (10 members; at most 10)", {})),
        # the owner's credit level fell: the count as it is, not the cap taken for it
        (3, 2, ("member_cap_reached", "group 123 is full (3 members; at most 2)", {})),
    ],
)
def test_check_member_cap(count, cap, outcome):
    expect(lambda: check_member_cap(count, cap, "123"), outcome)


@pytest.mark.parametrize(
    "resolved,rejected,mostly",
    [
        (0, 0, False),
        (4, 4, False),  # too few resolved reports to judge
        (5, 3, True),
        (5, 2, False),
        (6, 3, False),  # exactly half is not "mostly"
        (6, 4, True),
        (100, 51, True),
        (100, 50, False),
        (100, 0, False),
    ],
)
def test_mostly_rejected(resolved, rejected, mostly):
    assert mostly_rejected(resolved, rejected) is mostly
    assert posting.MIN_RESOLVED_FOR_JUDGEMENT == 5


REVOKED = "forbidden", "the platform has revoked your right to create groups", {"cause": "create_revoked"}
CREATE_VERIFY = "verification_required", "creating a group needs a verified identity", {}
CREATE_CAP = "create_cap_reached", "you may own at most 2 groups at your credit level", {}
JOIN_CAP = "join_cap_reached", "you may be in at most 20 groups", {}
TRANSFER_CAP = "create_cap_reached", "that user already owns as many groups as allowed", {}
TRANSFER_REVOKED = "forbidden", "that user may not own groups", {}
TRANSFER_VERIFY = "verification_required", "that user has no verified identity; owning a group needs one", {}
TRANSFER_BARRED = "forbidden", "the platform has closed that user's account; it cannot own a group", {}

CREATE_HELD = ("forbidden", ("the platform has suspended a group you own; you cannot create another until that "
               "suspension ends"), {"until": 2000})
TRANSFER_HELD = ("forbidden", ("the platform has suspended a group that user owns; until that suspension ends they "
                 "cannot take on another"), {"until": 2000})

OWN: dict[str, Any] = {"owned": 1, "max_groups_created": 2, "create_revoked": False}
CREATE: dict[str, Any] = {**OWN, "joined": 5, "max_groups_joined": 20}

OWN_CASES = [
    ("create: fine", CREATE, None),
    ("create: revoked", {**CREATE, "create_revoked": True}, REVOKED),
    ("create: id required", {**CREATE, "require_id": True}, CREATE_VERIFY),
    ("create: id required and verified", {**CREATE, "require_id": True, "id_verified": True}, None),
    ("create: at the create cap", {**CREATE, "owned": 2}, CREATE_CAP),
    ("create: over the create cap", {**CREATE, "owned": 3}, CREATE_CAP),
    ("create: a cap of zero", {**CREATE, "owned": 0, "max_groups_created": 0},
     ("create_cap_reached", "you may own at most 0 groups at your credit level", {})),
    ("create: at the join cap", {**CREATE, "joined": 20}, JOIN_CAP),
    ("create: join cap not given", {**OWN}, None),
    # the order: revoked, verification, create cap, join cap
    ("create: revoked beats verification", {**CREATE, "create_revoked": True, "require_id": True}, REVOKED),
    ("create: verification beats caps", {**CREATE, "require_id": True, "owned": 2, "joined": 20}, CREATE_VERIFY),
    ("create: create cap beats join cap", {**CREATE, "owned": 2, "joined": 20}, CREATE_CAP),
    ("transfer: fine", {**OWN, "by_transfer": True}, None),
    ("transfer: at the create cap", {**OWN, "owned": 2, "by_transfer": True}, TRANSFER_CAP),
    ("transfer: revoked", {**OWN, "create_revoked": True, "by_transfer": True}, TRANSFER_REVOKED),
    # the order: create cap, then revoked (the reverse of create_group's)
    ("transfer: cap beats revoked", {**OWN, "owned": 2, "create_revoked": True, "by_transfer": True}, TRANSFER_CAP),
    ("transfer: no join cap", {**CREATE, "joined": 20, "by_transfer": True}, None),
    ("transfer: id required", {**OWN, "require_id": True, "by_transfer": True}, TRANSFER_VERIFY),
    ("transfer: id required and verified", {**OWN, "require_id": True, "id_verified": True, "by_transfer": True},
     None),
    ("transfer: revoked beats verification", {**OWN, "create_revoked": True, "require_id": True,
                                              "by_transfer": True}, TRANSFER_REVOKED),
    ("transfer: to a blacklisted member", {**OWN, "barred": True, "by_transfer": True}, TRANSFER_BARRED),
    ("transfer: barred beats the cap", {**OWN, "owned": 2, "barred": True, "by_transfer": True}, TRANSFER_BARRED),
    # a suspension of a group they own follows the owner until it ends (``now`` 1000)
    ("create: a group of theirs suspended", {**CREATE, "held_until": 2000, "now": 1000}, CREATE_HELD),
    ("create: its suspension ended", {**CREATE, "held_until": 1000, "now": 1000}, None),
    ("create: revoked beats held", {**CREATE, "create_revoked": True, "held_until": 2000, "now": 1000}, REVOKED),
    ("create: held beats verification and caps", {**CREATE, "held_until": 2000, "now": 1000, "require_id": True,
                                                  "owned": 2}, CREATE_HELD),
    ("transfer: to an owner of a suspended group", {**OWN, "by_transfer": True, "held_until": 2000, "now": 1000},
     TRANSFER_HELD),
    ("transfer: verification beats held", {**OWN, "by_transfer": True, "held_until": 2000, "now": 1000,
                                           "require_id": True}, TRANSFER_VERIFY),
    ("transfer: its suspension ended", {**OWN, "by_transfer": True, "held_until": 999, "now": 1000}, None),
]


@pytest.mark.parametrize("case,kwargs,outcome", OWN_CASES, ids=[c[0] for c in OWN_CASES])
def test_check_can_own(case, kwargs, outcome):
    expect(lambda: check_can_own(**kwargs), outcome)


KEEPS_OWNER_CASES = [
    ("dissolved", 2000, 1000, ("group_suspended", ("the platform has suspended this group; it cannot be dissolved "
                                                  "until the suspension ends"), {"until": 2000})),
    ("handed on", 2000, 1999, ("group_suspended", ("the platform has suspended this group; it cannot be handed on "
                                                  "until the suspension ends"), {"until": 2000})),
    ("renamed", 2000, 2000, None),  # the suspension ends at ``until``, as posting's does
    ("dissolved", 0, 1000, None),
]


@pytest.mark.parametrize("action,until,now,outcome", KEEPS_OWNER_CASES)
def test_check_keeps_owner(action, until, now, outcome):
    expect(lambda: posting.check_keeps_owner(action, until, now), outcome)


FITS_CASES = [
    ("at both caps", {"members": 4, "max_members": 4, "admins": 2, "max_admins": 2}, None),
    ("more members than the new owner's level allows",
     {"members": 5, "max_members": 4, "admins": 0, "max_admins": 2},
     ("member_cap_reached", "the group has 5 members; at that user's credit level a group may have at most 4", {})),
    ("more admins than the new owner's level allows",
     {"members": 3, "max_members": 4, "admins": 3, "max_admins": 2},
     ("admin_cap_reached", "the group has 3 admins; at that user's credit level a group may have at most 2", {})),
    ("members before admins", {"members": 9, "max_members": 4, "admins": 9, "max_admins": 2},
     ("member_cap_reached", "the group has 9 members; at that user's credit level a group may have at most 4", {})),
]


@pytest.mark.parametrize("case,kwargs,outcome", FITS_CASES, ids=[c[0] for c in FITS_CASES])
def test_check_fits_new_owner(case, kwargs, outcome):
    expect(lambda: posting.check_fits_new_owner(**kwargs), outcome)


def test_every_code_used_is_a_contract_code():
    codes = {c[2][0] for c in POST_CASES if c[2]} | {"too_large", "bad_request", "content_blocked", "forbidden",
                                                       "admin_cap_reached", "create_cap_reached", "join_cap_reached",
                                                       "member_cap_reached"}
    assert codes <= ERROR_CODES


def test_role_still_importable_from_governance_permissions():
    assert ReexportedRole is Role and Role.ADMIN == "admin"


@pytest.mark.parametrize(("status", "age_ms", "overdue"), [
    ("open", 24 * 3_600_000 + 1, True),  # past the hours given: overdue
    ("open", 24 * 3_600_000, False),  # exactly at them: still in time
    ("open", 0, False),
    ("resolved", 48 * 3_600_000, False),  # a resolved complaint is never overdue
])
def test_a_complaint_is_overdue_once_open_past_the_hours_to_answer(status, age_ms, overdue):
    from governance.posting import report_overdue

    now = 10**12
    assert report_overdue(status, now - age_ms, now, 24) is overdue


def test_a_frozen_category_opens_again_at_the_freezes_end():
    from governance.posting import check_category_open

    with pytest.raises(ContractError) as err:
        check_category_open("gaming", 1000, 999)
    assert (err.value.code, err.value.extra["until"]) == ("forbidden", 1000)
    check_category_open("gaming", 1000, 1000)  # (over at its end)
