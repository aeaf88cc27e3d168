"""Typed events: the same content on the wire as the dict builders, for every event."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import msgspec
import pytest

from protocol.codec import EncodedOnce, Encoding, decode, encode
from protocol.enums import JoinPolicy, Role
from protocol.events import (
    EVENT_TYPES,
    AccountUpdated,
    AttachmentObj,
    BanChanged,
    BanObj,
    CommentDeleted,
    CommentEvent,
    EditorChanged,
    Event,
    GroupClosed,
    GroupDissolved,
    GroupSuspended,
    GroupUpdated,
    HeldTextSettled,
    Invited,
    InviteLinkChanged,
    InviteLinkObj,
    JoinRequest,
    JoinRequestDecided,
    JoinResult,
    MemberJoined,
    MemberLeft,
    MemberMuted,
    MemberRemoved,
    MessageDeleted,
    MessageEdited,
    MessageEvent,
    MessageObj,
    MessageReleased,
    Notice,
    PersonObj,
    PostComments,
    PostDeleted,
    PostEvent,
    Reaction,
    ReadMarker,
    RoleChanged,
    SelfChanged,
    UserObj,
    UserRenamed,
    event,
    message_event,
    message_obj,
    user_obj,
)

GID = "1234567890"
ALICE = UserObj(user_id="u0123456789abcdef", display_name="阿丽 Alice", role=Role.ADMIN)
ALICE_DICT = user_obj("u0123456789abcdef", "阿丽 Alice", "admin")
BOB = UserObj(user_id="u00000000000000bb", display_name="Bob", role=Role.MEMBER)
BOB_DICT = user_obj("u00000000000000bb", "Bob", "member")

# (typed, the dict the server builds today), the events' every shape the server sends.
CASES: list[tuple[msgspec.Struct, dict[str, Any]]] = [
    (MessageEvent.of(MessageObj.of(GID, 7, 1_700_000_000_123, ALICE, "你好 👋 \"quoted\" \\ \n\u2028")),
     message_event(message_obj(GID, 7, 1_700_000_000_123, ALICE_DICT, "你好 👋 \"quoted\" \\ \n\u2028"))),
    (MessageEvent(group_id=GID, seq=8, ts=1, sender=BOB, text=""),
     {"ev": "message", **message_obj(GID, 8, 1, BOB_DICT, "")}),
    (MessageReleased(group_id=GID, seq=5, ts=1, sender=BOB, text="later"),
     {"ev": "message_released", **message_obj(GID, 5, 1, BOB_DICT, "later")}),
    (MessageDeleted(group_id=GID, seq=7), event("message_deleted", group_id=GID, seq=7)),
    (MemberJoined(group_id=GID, user=BOB), event("member_joined", group_id=GID, user=BOB_DICT)),
    (MemberLeft(group_id=GID, user_id=BOB.user_id), event("member_left", group_id=GID, user_id=BOB.user_id)),
    (MemberRemoved(group_id=GID, user_id=BOB.user_id, by=ALICE.user_id),
     event("member_removed", group_id=GID, user_id=BOB.user_id, by=ALICE.user_id)),
    (RoleChanged(group_id=GID, user_id=BOB.user_id, role=Role.OWNER),
     event("role_changed", group_id=GID, user_id=BOB.user_id, role="owner")),
    (RoleChanged(group_id=GID, user_id=BOB.user_id, role=Role.ADMIN),
     event("role_changed", group_id=GID, user_id=BOB.user_id, role=Role.ADMIN)),
    (MemberMuted(group_id=GID, user_id=BOB.user_id, until=1_700_000_600_000),
     event("member_muted", group_id=GID, user_id=BOB.user_id, until=1_700_000_600_000)),
    (MemberMuted(group_id=GID, user_id=BOB.user_id, until=0),
     event("member_muted", group_id=GID, user_id=BOB.user_id, until=0)),
    (UserRenamed(user_id=BOB.user_id, display_name="小明"),
     event("user_renamed", user_id=BOB.user_id, display_name="小明")),
    (GroupUpdated(group_id=GID, name="茶话会", category="friends", join_policy=JoinPolicy.APPROVAL),
     event("group_updated", group_id=GID, name="茶话会", category="friends", join_policy="approval")),
    (GroupUpdated(group_id=GID, announcement=""), event("group_updated", group_id=GID, announcement="")),
    (GroupUpdated(group_id=GID, announcement="周五聚餐"),
     event("group_updated", group_id=GID, announcement="周五聚餐")),
    (GroupUpdated(group_id=GID, mute_all=True), event("group_updated", group_id=GID, mute_all=True)),
    (GroupUpdated(group_id=GID, mute_all=False), event("group_updated", group_id=GID, mute_all=False)),
    (JoinRequest(group_id=GID, user=BOB), event("join_request", group_id=GID, user=BOB_DICT)),
    (Notice(kind="warning", text="rectify", group_id=GID),
     event("notice", group_id=GID, kind="warning", text="rectify")),
    (Notice(kind="warning", text="rectify", group_id=GID, deadline=1_700_086_400_000),
     {**event("notice", group_id=GID, kind="warning", text="rectify"), "deadline": 1_700_086_400_000}),
    (Notice(kind="sanction", text="your management powers are suspended: spam"),
     event("notice", kind="sanction", text="your management powers are suspended: spam")),
    (Notice(kind="blacklisted", text="fraud"), event("notice", kind="blacklisted", text="fraud")),
    (Notice(kind="report_result", report_id="12", outcome="upheld", text="thanks"),
     event("notice", kind="report_result", report_id="12", outcome="upheld", text="thanks")),
    (Notice(kind="agreement", version="2024-06", text="the rules changed"),
     event("notice", kind="agreement", version="2024-06", text="the rules changed")),
    (Notice(kind="platform", text="maintenance at 02:00"),
     event("notice", kind="platform", text="maintenance at 02:00")),
    (Notice(kind="platform", text="flood warning", category="local"),
     {**event("notice", kind="platform", text="flood warning"), "category": "local"}),
    (Notice(kind="content_removed", text="message 7 was removed", group_id=GID),
     event("notice", group_id=GID, kind="content_removed", text="message 7 was removed")),
    (Notice(kind="post_removed", text="removed: illegal", account_id="987654321", post_id="12", by="王安全"),
     {**event("notice", kind="post_removed", text="removed: illegal"), "account_id": "987654321", "post_id": "12",
      "by": "王安全"}),
    (Notice(kind="blacklisted", text="fraud", by="王安全", same_person_as="bad1"),
     {**event("notice", kind="blacklisted", text="fraud"), "by": "王安全", "same_person_as": "bad1"}),
    (GroupDissolved(group_id=GID), event("group_dissolved", group_id=GID)),
    (GroupDissolved(group_id=GID, by="u1"), event("group_dissolved", group_id=GID, by="u1")),
    (GroupClosed(group_id=GID, reason="illegal content"),
     event("group_closed", group_id=GID, reason="illegal content")),
    (GroupSuspended(group_id=GID, until=1_700_003_600_000, reason="spam wave"),
     event("group_suspended", group_id=GID, until=1_700_003_600_000, reason="spam wave")),
    (GroupSuspended(group_id=GID, until=1_700_003_600_000),
     event("group_suspended", group_id=GID, until=1_700_003_600_000)),
    (GroupSuspended(group_id=GID, until=1_700_003_600_000, reason="spam wave", cause="sanction"),
     event("group_suspended", group_id=GID, until=1_700_003_600_000, reason="spam wave", cause="sanction")),
    (GroupSuspended(group_id=GID, until=1_700_003_600_000, cause="category_freeze"),
     event("group_suspended", group_id=GID, until=1_700_003_600_000, cause="category_freeze")),
    (Invited(group_id=GID, name="茶话会", by=ALICE), event("invited", group_id=GID, name="茶话会", by=ALICE_DICT)),
    (JoinResult(group_id=GID, status="approved", name="茶话会"),
     event("join_result", group_id=GID, status="approved", name="茶话会")),
    (JoinResult(group_id=GID, status="rejected"), event("join_result", group_id=GID, status="rejected")),
    # [ext] what the group's managers alone are told: bans, join requests, invite links
    (BanChanged(group_id=GID, user_id=BOB.user_id, by=ALICE.user_id,
                ban=BanObj(user_id=BOB.user_id, until=0, by=ALICE.user_id, reason="刷屏")),
     event("ban_changed", group_id=GID, user_id=BOB.user_id, by=ALICE.user_id,
           ban={"user_id": BOB.user_id, "until": 0, "by": ALICE.user_id, "reason": "刷屏", "of_admin": False})),
    (BanChanged(group_id=GID, user_id=BOB.user_id, by=ALICE.user_id),
     event("ban_changed", group_id=GID, user_id=BOB.user_id, by=ALICE.user_id)),
    (JoinRequestDecided(group_id=GID, user_id=BOB.user_id, status="rejected", by=ALICE.user_id),
     event("join_request_decided", group_id=GID, user_id=BOB.user_id, status="rejected", by=ALICE.user_id)),
    (InviteLinkChanged(group_id=GID, link_id="0a1b2c3d4e", by=ALICE.user_id,
                       link=InviteLinkObj(link_id="0a1b2c3d4e", created_by=ALICE.user_id, created_at=5,
                                          expires_at=None, max_uses=10, uses=0, note=None)),
     event("invite_link_changed", group_id=GID, link_id="0a1b2c3d4e", by=ALICE.user_id,
           link={"link_id": "0a1b2c3d4e", "created_by": ALICE.user_id, "created_at": 5, "expires_at": None,
                 "max_uses": 10, "uses": 0, "note": None})),
    (InviteLinkChanged(group_id=GID, link_id="0a1b2c3d4e", by=ALICE.user_id),
     event("invite_link_changed", group_id=GID, link_id="0a1b2c3d4e", by=ALICE.user_id)),
    # v2: richer messages
    (MessageEvent(group_id=GID, seq=9, ts=2, sender=BOB, text="看这个", reply_to=7, mentions=[ALICE.user_id],
                  attachments=[AttachmentObj(media_id="m1", kind="image", mime="image/png", size=68,
                                             url="/media/m1?e=1&s=x", width=1, height=1)]),
     {"ev": "message", **message_obj(GID, 9, 2, BOB_DICT, "看这个"), "reply_to": 7, "mentions": [ALICE.user_id],
      "attachments": [{"media_id": "m1", "kind": "image", "mime": "image/png", "size": 68, "name": None,
                       "url": "/media/m1?e=1&s=x", "width": 1, "height": 1}]}),
    (MessageEvent(group_id=GID, seq=10, ts=3, sender=ALICE, text="@所有人 开会", mention_all=True),
     {"ev": "message", **message_obj(GID, 10, 3, ALICE_DICT, "@所有人 开会"), "mention_all": True}),
    (MessageEdited(group_id=GID, seq=9, text="改过", edited_at=4),
     event("message_edited", group_id=GID, seq=9, text="改过", edited_at=4)),
    (Reaction(group_id=GID, seq=9, user_id=BOB.user_id, emoji="👍", on=True),
     event("reaction", group_id=GID, seq=9, user_id=BOB.user_id, emoji="👍", on=True)),
    (ReadMarker(group_id=GID, seq=9), event("read_marker", group_id=GID, seq=9)),
    (SelfChanged(what="identity"), event("self_changed", what="identity")),
    (SelfChanged(what="subscriptions", account_id="987654321", on=False),
     event("self_changed", what="subscriptions", account_id="987654321", on=False)),
    (MemberRemoved(group_id=GID, user_id=BOB.user_id, by=ALICE.user_id, banned=True),
     event("member_removed", group_id=GID, user_id=BOB.user_id, by=ALICE.user_id, banned=True)),
    (HeldTextSettled(held_id="12", kind="group_name", outcome="released", group_id=GID, applied=False),
     event("held_text_settled", held_id="12", kind="group_name", outcome="released", group_id=GID, applied=False)),
    (HeldTextSettled(held_id="13", kind="display_name", outcome="withdrawn"),
     event("held_text_settled", held_id="13", kind="display_name", outcome="withdrawn")),
    (GroupUpdated(group_id=GID, pinned=[7, 9]), event("group_updated", group_id=GID, pinned=[7, 9])),
    (GroupUpdated(group_id=GID, slow_mode_seconds=30), event("group_updated", group_id=GID, slow_mode_seconds=30)),
    # v2: public accounts
    (PostEvent(account_id="987654321", post_id="12", title="本周新闻", ts=5),
     event("post", account_id="987654321", post_id="12", title="本周新闻", ts=5)),
    (PostDeleted(account_id="987654321", post_id="12"), event("post_deleted", account_id="987654321", post_id="12")),
    (PostComments(account_id="987654321", post_id="12", comments="closed", comments_closed_by="post"),
     event("post_comments", account_id="987654321", post_id="12", comments="closed", comments_closed_by="post")),
    (PostComments(account_id="987654321", post_id="12", comments="review"),
     event("post_comments", account_id="987654321", post_id="12", comments="review")),
    (CommentEvent(account_id="987654321", post_id="12", comment_id="3",
                  user=PersonObj(user_id=BOB.user_id, display_name="Bob"), text="好文", ts=6),
     event("comment", account_id="987654321", post_id="12", comment_id="3",
           user={"user_id": BOB.user_id, "display_name": "Bob"}, text="好文", ts=6)),
    (CommentEvent(account_id="987654321", post_id="12", comment_id="4",
                  user=PersonObj(user_id=BOB.user_id, display_name="Bob"), text="回复", ts=7, reply_to="3", held=True),
     event("comment", account_id="987654321", post_id="12", comment_id="4",
           user={"user_id": BOB.user_id, "display_name": "Bob"}, text="回复", ts=7, reply_to="3", held=True)),
    (CommentDeleted(account_id="987654321", post_id="12", comment_id="4"),
     event("comment_deleted", account_id="987654321", post_id="12", comment_id="4")),
    (CommentEvent(account_id="987654321", post_id="12", comment_id="5",
                  user=PersonObj(user_id=BOB.user_id, display_name="Bob"), text="隐藏", ts=8, hidden=True,
                  moderated=True),
     event("comment", account_id="987654321", post_id="12", comment_id="5",
           user={"user_id": BOB.user_id, "display_name": "Bob"}, text="隐藏", ts=8, hidden=True, moderated=True)),
    (EditorChanged(account_id="987654321", user_id=BOB.user_id, on=True, name="茶馆"),
     event("editor_changed", account_id="987654321", user_id=BOB.user_id, on=True, name="茶馆")),
    (EditorChanged(account_id="987654321", user_id=BOB.user_id, on=False, name="茶馆"),
     event("editor_changed", account_id="987654321", user_id=BOB.user_id, on=False, name="茶馆")),
    (AccountUpdated(account_id="987654321", name="茶馆"),
     event("account_updated", account_id="987654321", name="茶馆")),
    (AccountUpdated(account_id="987654321", intro=""), event("account_updated", account_id="987654321", intro="")),
    (AccountUpdated(account_id="987654321", name="茶馆", intro="喝茶"),
     event("account_updated", account_id="987654321", name="茶馆", intro="喝茶")),
]


def test_every_event_is_covered():
    assert {type(typed) for typed, _ in CASES} == set(EVENT_TYPES.values())
    assert set(EVENT_TYPES) == {
        "message", "message_released", "message_deleted", "member_joined", "member_left", "member_removed",
        "role_changed", "member_muted", "group_updated", "join_request", "notice", "group_dissolved", "group_closed",
        "group_suspended", "invited", "join_result", "message_edited", "reaction", "read_marker", "self_changed",
        "post", "post_deleted", "post_comments", "comment", "comment_deleted", "held_text_settled", "user_renamed",
        "editor_changed", "account_updated", "ban_changed", "join_request_decided", "invite_link_changed",
    }
    for name, cls in EVENT_TYPES.items():
        assert cls.ev == name == cls.__struct_config__.tag and cls.__struct_config__.tag_field == "ev"


@pytest.mark.parametrize("typed,old", CASES, ids=[f"{i}-{type(t).__name__}" for i, (t, _) in enumerate(CASES)])
@pytest.mark.parametrize("enc", list(Encoding))
def test_same_content_as_the_dict_builders(typed, old, enc):
    new_wire, old_wire = encode(typed, enc), encode(old, enc)
    assert type(new_wire) is type(old_wire) is (bytes if enc is Encoding.MSGPACK else str)
    # The same keys and values (the order may differ), read back by the old reader ...
    assert decode(new_wire) == decode(old_wire) == _plain(old)
    # ... and by the independent ones.
    if enc is Encoding.JSON:
        assert json.loads(new_wire) == json.loads(old_wire)
    else:
        assert msgpack.unpackb(new_wire) == msgpack.unpackb(old_wire)
    # The bytes also match those of the plain map in the struct's key order: in MessagePack, a struct
    # of 16 keys or more (its tag included) gets a map16 header from msgspec even when fewer keys are
    # written (it sizes the header by the fields it may write); then the same keys, in the same order,
    # with the same values.
    plain = encode(msgspec.to_builtins(typed), enc)
    if enc is Encoding.MSGPACK and len(type(typed).__struct_fields__) + 1 >= 16:
        assert msgpack.unpackb(new_wire, object_pairs_hook=list) == msgpack.unpackb(plain, object_pairs_hook=list)
    else:
        assert new_wire == plain
    # A typed reader gets the struct back.
    data = new_wire if isinstance(new_wire, bytes) else new_wire.encode()
    decoder = msgspec.msgpack.Decoder(Event) if enc is Encoding.MSGPACK else msgspec.json.Decoder(Event)
    assert decoder.decode(data) == typed


def _plain(obj: Any) -> Any:
    """A dict builder's output as it reads back (enum members are their strings)."""
    return json.loads(json.dumps(obj, ensure_ascii=False))


def test_message_obj_text_or_deleted_exactly_one():
    live, gone = MessageObj.of(GID, 1, 2, BOB, "hi"), MessageObj.of(GID, 1, 2, BOB, None)
    assert msgspec.to_builtins(live) == message_obj(GID, 1, 2, BOB_DICT, "hi")
    assert msgspec.to_builtins(gone) == message_obj(GID, 1, 2, BOB_DICT, None)
    assert "text" not in msgspec.to_builtins(gone) and "deleted" not in msgspec.to_builtins(live)
    for bad in ({"text": "x", "deleted": True}, {}):
        with pytest.raises(ValueError, match="either text or deleted"):
            MessageObj(group_id=GID, seq=1, ts=2, sender=BOB, **bad)
    with pytest.raises(ValueError):
        MessageEvent.of(gone)


@pytest.mark.parametrize("enc", list(Encoding))
def test_maps_holding_structs_encode_like_maps(enc):
    """A history reply: a plain map with typed messages inside."""
    typed = {"re": 3, "ok": True,
             "messages": [MessageObj.of(GID, 1, 2, ALICE, "早"), MessageObj.of(GID, 2, 3, BOB, None)]}
    old = {"re": 3, "ok": True,
           "messages": [message_obj(GID, 1, 2, ALICE_DICT, "早"), message_obj(GID, 2, 3, BOB_DICT, None)]}
    assert decode(encode(typed, enc)) == decode(encode(old, enc))


def test_json_is_not_ascii_escaped():
    wire = encode(MessageEvent(group_id=GID, seq=1, ts=2, sender=ALICE, text="你好"), Encoding.JSON)
    assert isinstance(wire, str) and "你好" in wire and "阿丽" in wire and "\\u" not in wire
    assert "你好" in encode({"text": "你好"}, Encoding.JSON)


@pytest.mark.parametrize("typed,old", CASES[:3])
def test_encoded_once_takes_structs(typed, old):
    shared = EncodedOnce(typed)
    for enc in Encoding:
        assert shared.get(enc) is shared.get(enc)
        assert shared.framed(enc) is shared.framed(enc)
        assert decode(shared.get(enc)) == decode(EncodedOnce(old).get(enc))
    text = shared.get(Encoding.JSON)
    assert isinstance(text, str) and shared.framed(Encoding.JSON).endswith(text.encode())


def test_builders_still_build_dicts():
    assert user_obj("u1", "n", "owner") == {"user_id": "u1", "display_name": "n", "role": "owner"}
    assert event("member_left", group_id=GID, user_id="u1") == {"ev": "member_left", "group_id": GID, "user_id": "u1"}
    assert message_event(message_obj(GID, 1, 2, BOB_DICT, "x"))["ev"] == "message"
