"""The contract's events (``{"ev": NAME, ...}``) and object shapes.

Two ways to build them, with the same content on the wire:

- the dict builders the server uses today: :func:`user_obj`, :func:`message_obj`,
  :func:`event`, :func:`message_event`;
- typed structs, one per event, tagged with its name (``tag_field="ev"``):
  :class:`MessageEvent`, :class:`MemberJoined`, ... (:data:`Event` is their
  union, :data:`EVENT_TYPES` maps names to them), plus :class:`UserObj` and
  :class:`MessageObj` (``MessageObj.of`` / ``MessageEvent.of`` take the builders'
  arguments). :func:`protocol.codec.encode` and ``EncodedOnce`` take either.

Optional fields left at ``None`` are not written (``omit_defaults``): a
``group_updated`` carries only the fields that changed, a ``notice`` only its
kind's fields, a message either ``text`` or ``deleted: true``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal, TypeAlias, get_args

import msgspec

from protocol.enums import JoinPolicy, Role

__all__ = [
    "EVENT_TYPES",
    "Event",
    "AccountUpdated",
    "AttachmentObj",
    "BanChanged",
    "BanObj",
    "CommentDeleted",
    "CommentEvent",
    "EditorChanged",
    "EventBase",
    "GroupClosed",
    "GroupDissolved",
    "GroupSuspended",
    "GroupUpdated",
    "HeldTextSettled",
    "InviteLinkChanged",
    "InviteLinkObj",
    "Invited",
    "JoinRequest",
    "JoinRequestDecided",
    "JoinResult",
    "MemberJoined",
    "MemberLeft",
    "MemberMuted",
    "MemberRemoved",
    "MessageDeleted",
    "MessageEdited",
    "MessageEvent",
    "MessageReleased",
    "MessageObj",
    "Notice",
    "PersonObj",
    "PostDeleted",
    "PostComments",
    "PostEvent",
    "Reaction",
    "ReadMarker",
    "SelfChanged",
    "RoleChanged",
    "UserObj",
    "UserRenamed",
    "event",
    "message_event",
    "message_obj",
    "user_obj",
]


# -- the dict builders ------------------------------------------------------------------
def user_obj(user_id: str, display_name: str, role: str) -> dict[str, Any]:
    return {"user_id": user_id, "display_name": display_name, "role": role}


def message_obj(
    group_id: str, seq: int, ts: int, sender: dict[str, Any], text: str | None
) -> dict[str, Any]:
    """A message; ``text=None`` means deleted (no text, ``deleted: true``)."""
    if text is None:
        return {"group_id": group_id, "seq": seq, "ts": ts, "sender": sender, "deleted": True}
    return {"group_id": group_id, "seq": seq, "ts": ts, "sender": sender, "text": text}


def event(_name: str, /, **fields: Any) -> dict[str, Any]:
    return {"ev": _name, **fields}


def message_event(msg: dict[str, Any]) -> dict[str, Any]:
    return {"ev": "message", **msg}


# -- objects ------------------------------------------------------------------------------
# Who hid a deleted message, as members are told it: its sender recalled it, the group's owner or
# an admin deleted it (which one is not said), or the platform removed it.
DeletedBy: TypeAlias = Literal["sender", "manager", "platform"]

class UserObj(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A user as seen in one group (never a phone number, legal name or ID number)."""

    user_id: str
    display_name: str
    role: Role


class MemberObj(UserObj, kw_only=True, frozen=True, gc=False, omit_defaults=True):
    """A member as the ``members`` reply lists them: a user, and **[ext]** ``muted_until`` (ms)
    while a mute is in force, so a manager who reloads sees who is muted and until when (every
    member got the ``member_muted`` event anyway: nothing private)."""

    muted_until: int | None = None


class PersonObj(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A user outside any group (a comment's author): id and display name, never identity data."""

    user_id: str
    display_name: str


class AttachmentObj(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A file attached to a message (v2 "Media"); ``url`` is signed and expires.

    Every field is always sent (``name`` is null when the upload had none): the contract
    lists ``{media_id, kind, mime, size, name, url}`` as the object's fields."""

    media_id: str
    kind: Literal["image", "audio", "video", "file"]
    mime: str
    size: int
    name: str | None = None
    url: str | None = None
    width: int | None = None  # images
    height: int | None = None


class MessageObj(msgspec.Struct, kw_only=True, frozen=True, gc=False, omit_defaults=True):
    """A message: ``text``, or ``deleted: true`` (and no text) once deleted; never both.

    v2 fields are written only when set: ``reply_to``, ``mentions``, ``mention_all``,
    ``attachments``, ``edited_at`` (after an edit) and ``reactions`` (``{emoji: count}``);
    **[ext]** in ``history``, ``my_reactions``: the emoji among them that the reader left;
    **[ext]** with ``deleted: true``, ``deleted_by``: who hid it (see :data:`DeletedBy`).
    """

    group_id: str
    seq: int
    ts: int
    sender: UserObj
    text: str | None = None
    deleted: bool = False
    reply_to: int | None = None
    mentions: list[str] | None = None
    mention_all: bool = False
    attachments: list[AttachmentObj] | None = None
    edited_at: int | None = None
    reactions: dict[str, int] | None = None
    my_reactions: list[str] | None = None
    deleted_by: DeletedBy | None = None

    def __post_init__(self) -> None:
        if (self.text is None) is not self.deleted:
            raise ValueError("a message has either text or deleted: true")

    @classmethod
    def of(cls, group_id: str, seq: int, ts: int, sender: UserObj, text: str | None,
           deleted_by: DeletedBy | None = None) -> MessageObj:
        """Like :func:`message_obj`: ``text=None`` means deleted (by ``deleted_by``, when known)."""
        if text is None:
            return cls(group_id=group_id, seq=seq, ts=ts, sender=sender, deleted=True, deleted_by=deleted_by)
        return cls(group_id=group_id, seq=seq, ts=ts, sender=sender, text=text)


# -- events ---------------------------------------------------------------------------------
class EventBase(msgspec.Struct, kw_only=True, frozen=True, gc=False, omit_defaults=True, tag_field="ev"):
    """What every event has: ``ev``, its name (the struct's tag)."""

    ev: ClassVar[str]  # set below for each event


class MessageEvent(EventBase, tag="message", kw_only=True, frozen=True):
    """A new message, after it is stored (v2 fields as in MessageObj); a group's come in ascending seq."""

    group_id: str
    seq: int
    ts: int
    sender: UserObj
    text: str
    reply_to: int | None = None
    mentions: list[str] | None = None
    mention_all: bool = False
    attachments: list[AttachmentObj] | None = None
    edited_at: int | None = None

    @classmethod
    def of(cls, msg: MessageObj) -> MessageEvent:
        """Like :func:`message_event`, for a message that is not deleted."""
        if msg.text is None:
            raise ValueError("a deleted message is not sent as a message event")
        return cls(group_id=msg.group_id, seq=msg.seq, ts=msg.ts, sender=msg.sender, text=msg.text)


class MessageReleased(MessageEvent, tag="message_released", kw_only=True, frozen=True):
    """[ext] A held message an operator released: a message's fields, with its original seq and ts.

    Not a ``message`` event: its seq is below ones already delivered, and a group's ``message``
    events reach a connection in ascending seq (the contract). A client inserts it by seq.
    """


class MessageDeleted(EventBase, tag="message_deleted", kw_only=True, frozen=True):
    """A message is hidden; **[ext]** ``deleted_by`` says who hid it (see :data:`DeletedBy`)."""

    group_id: str
    seq: int
    deleted_by: DeletedBy | None = None


class MemberJoined(EventBase, tag="member_joined", kw_only=True, frozen=True):
    group_id: str
    user: UserObj


class MemberLeft(EventBase, tag="member_left", kw_only=True, frozen=True):
    group_id: str
    user_id: str


class MemberRemoved(EventBase, tag="member_removed", kw_only=True, frozen=True):
    """``by``: the user_id of the owner or admin who removed the member."""

    group_id: str
    user_id: str
    by: str
    banned: bool = False  # v2: removed by ``ban``


class RoleChanged(EventBase, tag="role_changed", kw_only=True, frozen=True):
    group_id: str
    user_id: str
    role: Role


class MemberMuted(EventBase, tag="member_muted", kw_only=True, frozen=True):
    """``until``: epoch milliseconds; 0 means unmuted."""

    group_id: str
    user_id: str
    until: int


class UserRenamed(EventBase, tag="user_renamed", kw_only=True, frozen=True):
    """**[ext]** A member of a group the receiver shares now shows under ``display_name``."""

    user_id: str
    display_name: str


class GroupUpdated(EventBase, tag="group_updated", kw_only=True, frozen=True):
    """Only the fields that changed are present."""

    group_id: str
    name: str | None = None
    category: str | None = None
    join_policy: JoinPolicy | None = None
    announcement: str | None = None
    mute_all: bool | None = None
    pinned: list[int] | None = None  # v2
    slow_mode_seconds: int | None = None  # v2


class JoinRequest(EventBase, tag="join_request", kw_only=True, frozen=True):
    """Someone asks to join an ``approval`` group (to its owner and admins whose powers are not suspended)."""

    group_id: str
    user: UserObj


class Notice(EventBase, tag="notice", kw_only=True, frozen=True):
    """From the platform; a client shows a notice of a kind it does not know as plain text.

    Per-kind fields: ``warning`` has ``group_id``, ``sanction_id`` and maybe ``deadline``;
    ``report_result`` has ``report_id`` and ``outcome``; ``agreement`` has ``version``;
    ``platform`` has ``at`` (when the operator sent it, ms: what ``platform_notices`` takes as
    ``after``) and maybe ``category``; ``content_removed`` has ``group_id`` (a message), or
    ``account_id`` and ``post_id`` (a post) and ``comment_id`` (a comment);
    ``sanction_lifted`` has ``sanction_id`` (and ``group_id`` for a group's; for a group's suspension
    also ``until``, the end of the suspension that still holds the group, 0 for none, and ``cause``
    while one does; for a user's ``suspend_admin`` or ``revoke_create``, ``still``: whether another
    sanction of that kind still holds, with ``until`` for the powers, 0 for none);
    ``appeal_result`` has ``appeal_id``, ``sanction_id``, ``outcome`` and ``note`` (the operator's note alone),
    and for ``upheld`` ``lifted``: whether the decision lifted the sanction (false: it had already ended).
    ``sanction`` has ``measure`` (``suspend_admin`` | ``revoke_create``), ``sanction_id`` (what ``appeal``
    takes), ``reason`` (the operator's alone) and, for ``suspend_admin``, ``until``.
    ``sanction_lifted`` also has ``measure`` (the lifted sanction's kind), ``reason`` (the operator's
    alone, or the appeal's note) and ``appeal_id`` when an upheld appeal lifted it.
    ``content_removed`` also has ``content`` (``message`` | ``group_name`` | ``announcement`` |
    ``display_name`` | ``account_name`` | ``account_intro`` | ``post`` | ``comment``), ``outcome``
    (``rejected``: held and refused; ``removed``: taken down after it was shown), ``reason`` (the
    operator's reason or note alone), ``seq`` (a message's) and ``title`` (the post's, for a post or
    a comment on it).
    ``account_restricted``, ``account_unrestricted``, ``account_closed``, ``account_licensed``,
    ``account_name_granted`` and ``post_removed`` have ``reason`` (the operator's alone);
    ``account_licensed`` also ``label`` (``news`` | ``government`` | ``verified``) and ``measure``
    (``grant`` | ``revoke``); ``post_removed`` also ``title``.
    Measures on a public account (``account_warning``, ``account_restricted``,
    ``account_suspended``, ``account_closed``, ``account_licensed``, ``account_credit``,
    ``post_removed``) have ``account_id`` (and ``post_id`` for a removed post); ``account_suspended``
    also has ``reason``, the operator's reason alone (``text`` says what the suspension stops too).
    ``credit`` (a user's score changed) and ``account_credit`` (a public account's) have
    ``credit_score`` (the new score), ``credit_level`` (the level it gives, 1-based) and ``delta``
    (the change, signed); an operator's change also ``reason`` (the operator's reason alone), a
    give-back ``sanction_id`` (the overturned sanction whose points came back), a sanction's penalty
    (``delta`` negative) the ``sanction_id`` of the sanction that took them; the server's own
    penalty for content a ``block`` list refused ``cause`` ``content_blocked`` (with ``group_id`` for a
    message, ``account_id`` for a public account's text). A client builds its line from these fields;
    ``text`` says the same in English.
    ``blacklisted`` has ``same_person_as`` (the username of the login whose blacklisting closed this
    one too, the same verified person) when it was not this account the operator named.
    ``resync`` has no further field: a cluster's serving node was lost, and events of its last
    moments may never come; the client reads its state again.
    ``by``: the name of the operator who acted, on every notice an operator caused.
    """

    kind: str
    text: str
    group_id: str | None = None
    deadline: int | None = None
    report_id: str | None = None
    outcome: str | None = None
    version: str | None = None
    category: str | None = None
    sanction_id: str | None = None
    appeal_id: str | None = None
    account_id: str | None = None
    post_id: str | None = None
    comment_id: str | None = None
    by: str | None = None
    same_person_as: str | None = None
    reason: str | None = None
    until: int | None = None
    cause: str | None = None
    credit_score: int | None = None
    credit_level: int | None = None
    delta: int | None = None
    measure: str | None = None
    note: str | None = None
    content: str | None = None
    seq: int | None = None
    title: str | None = None
    label: str | None = None
    still: bool | None = None
    lifted: bool | None = None
    at: int | None = None


class HeldTextSettled(EventBase, tag="held_text_settled", kw_only=True, frozen=True):
    """[ext] One's own held group name, announcement, display name or public account's name or
    introduction (``my_held_texts``) no longer waits: an operator ``released`` or ``rejected`` it,
    or its author ``withdrawn`` it, or a newer change of its field ``superseded`` it. To the author's
    connections only. ``group_id`` names the group
    of a group's name or announcement, ``account_id`` the public account of its name or intro.
    ``applied`` (released only): whether the text is shown now (false when the field was changed
    since it was held, the name was taken meanwhile, or the group or account is gone)."""

    held_id: str
    kind: str
    outcome: str
    group_id: str | None = None
    account_id: str | None = None
    applied: bool | None = None


class GroupDissolved(EventBase, tag="group_dissolved", kw_only=True, frozen=True):
    """[ext] ``by``: the owner who dissolved it (their own other devices say "you dissolved it")."""

    group_id: str
    by: str | None = None


class GroupClosed(EventBase, tag="group_closed", kw_only=True, frozen=True):
    """The platform closed the group; ``reason`` is the operator's. [ext] ``cause``
    ``owner_blacklisted``: closed with its owner's blacklisting (no admin could take it over), the
    reason being the blacklisting's; absent for ``close-group``."""

    group_id: str
    reason: str
    cause: Literal["owner_blacklisted"] | None = None


SuspensionCause: TypeAlias = Literal["sanction", "category_freeze"]


class GroupSuspended(EventBase, tag="group_suspended", kw_only=True, frozen=True):
    """Posting is suspended until ``until`` (epoch milliseconds).

    ``cause``: ``sanction`` when the platform suspends this group itself (``suspend-group``: it can
    be neither renamed, dissolved nor handed on until then), ``category_freeze`` when the suspension
    in force is the freeze of the group's whole category (``freeze-category``: no renaming, but its
    owner may still dissolve or hand it on).

    ``sanction_id``: the sanction that suspended the group (what the owner's ``appeal`` takes):
    ``suspend-group``'s, or on ``freeze-category``'s event the freeze's own row for this group (one per
    group, so lifting it frees this group alone)."""

    group_id: str
    until: int
    reason: str | None = None
    cause: SuspensionCause | None = None
    sanction_id: str | None = None


class Invited(EventBase, tag="invited", kw_only=True, frozen=True):
    """``name``: the group's; ``by``: the inviter, with their role."""

    group_id: str
    name: str
    by: UserObj


# [ext] Why a request was refused without a decision: its group ended.
JoinEndCause = Literal["group_dissolved", "group_closed"]


class JoinResult(EventBase, tag="join_result", kw_only=True, frozen=True):
    group_id: str
    status: Literal["approved", "rejected"]
    name: str | None = None  # [ext] approved only: the new member's group's name (a refused one learns nothing)
    cause: JoinEndCause | None = None  # [ext] rejected with no decision: the group was dissolved or closed



# -- What the group's managers alone see: its bans, join requests and invite links (v2, [ext]) -------
# Sent to the connections of its owner and admins who may manage it now (not while the platform
# suspends their powers): what they would read again with ``bans``, ``join_requests`` and
# ``invite_links``. Never to plain members.
class BanObj(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A ban in force as ``bans`` lists it (``until`` 0: until unbanned; ``reason`` masked; [ext]
    ``of_admin``: the user was an admin when banned, so only the owner lifts it)."""

    user_id: str
    until: int
    by: str
    reason: str | None
    of_admin: bool = False


class InviteLinkObj(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """An invite link as ``invite_links`` lists it: never its code."""

    link_id: str
    created_by: str
    created_at: int
    expires_at: int | None
    max_uses: int | None
    uses: int
    note: str | None


class BanChanged(EventBase, tag="ban_changed", kw_only=True, frozen=True):
    """[ext] ``by`` banned ``user_id`` (``ban``: the ban now in force) or lifted their ban (no ``ban``)."""

    group_id: str
    user_id: str
    by: str
    ban: BanObj | None = None


class JoinRequestDecided(EventBase, tag="join_request_decided", kw_only=True, frozen=True):
    """[ext] ``user_id``'s join request is no longer pending: ``approved`` or ``rejected`` by ``by``
    (a ``ban`` rejects it too); ``dropped``: ``by`` found the requester's account closed, or the
    requester's account closed (``by`` the requester: cancelled, or blacklisted by the platform);
    ``joined``: the requester (``by``) came in without a decision (by an invitation or an invite
    link, or the group is open now)."""

    group_id: str
    user_id: str
    status: Literal["approved", "rejected", "dropped", "joined"]
    by: str


class InviteLinkChanged(EventBase, tag="invite_link_changed", kw_only=True, frozen=True):
    """[ext] ``by`` made the link ``link_id`` (``link``: as ``invite_links`` lists it) or revoked it (no ``link``)."""

    group_id: str
    link_id: str
    by: str
    link: InviteLinkObj | None = None


# -- Messages, richer (v2) ----------------------------------------------------------------------
class MessageEdited(EventBase, tag="message_edited", kw_only=True, frozen=True):
    group_id: str
    seq: int
    text: str
    edited_at: int


class Reaction(EventBase, tag="reaction", kw_only=True, frozen=True):
    group_id: str
    seq: int
    user_id: str
    emoji: str
    on: bool


class ReadMarker(EventBase, tag="read_marker", kw_only=True, frozen=True):
    """To one's other connections: one has read the group up to ``seq``."""

    group_id: str
    seq: int


class SelfChanged(EventBase, tag="self_changed", kw_only=True, frozen=True):
    """[ext] To one's other connections (the one that asked has the reply): something about oneself
    that no other event carries changed, so a second device reads it again. ``what``:
    ``subscriptions`` (``account_id``, ``on``: followed or no longer), ``accounts`` (``account_id``:
    a public account one opened; one closed comes as the ``account_closed`` notice), ``identity``
    (one's identity is verified now: ``me`` says ``id_verified``), ``agreement`` (``version``: the
    rules and agreement one accepted), ``held_texts`` (a name, announcement or intro of one's waits
    for review now: ``my_held_texts`` lists it). ``accounts`` also when a public account one owns
    shows a new name or intro (``update_account``)."""

    what: Literal["subscriptions", "accounts", "identity", "agreement", "held_texts"]
    account_id: str | None = None
    on: bool | None = None
    version: str | None = None


# -- Public accounts (v2) ------------------------------------------------------------------------
class PostEvent(EventBase, tag="post", kw_only=True, frozen=True):
    """A new post of a public account, to its subscribers online (``posts``/``read_post`` for the rest)."""

    account_id: str
    post_id: str
    title: str
    ts: int


class PostDeleted(EventBase, tag="post_deleted", kw_only=True, frozen=True):
    """[ext] A post is gone (deleted by its account, removed or rejected by the platform): to the
    account's subscribers online and its owner and editors (only these for a post still held)."""

    account_id: str
    post_id: str


class PostComments(EventBase, tag="post_comments", kw_only=True, frozen=True):
    """[ext] A post's comment mode changed (``set_post_comments``): ``comments`` as it applies now,
    and why it takes none when it takes none (``comments_closed_by``, as on ``posts``). To whom
    ``post`` went (the account's subscribers online, its owner and editors; only these for a held post)."""

    account_id: str
    post_id: str
    comments: str
    comments_closed_by: str | None = None


class CommentEvent(EventBase, tag="comment", kw_only=True, frozen=True):
    """A new comment, to the account's owner and editors online; ``held`` while it waits for approval.
    [ext] Also a comment whose status changed (``moderated``), as it is shown now: made visible
    (approved, released in review; to the owner and editors and its author) or ``hidden`` (to the
    owner and editors)."""

    account_id: str
    post_id: str
    comment_id: str
    user: PersonObj
    text: str
    ts: int
    reply_to: str | None = None
    held: bool = False
    hidden: bool = False
    moderated: bool = False


class AccountUpdated(EventBase, tag="account_updated", kw_only=True, frozen=True):
    """[ext] A public account shows a new name, intro or organisation name (its owner's
    ``update_account``, the platform's ``grant-name``, a held one released, a flagged or illegal one
    removed): only the fields that changed are present, as they are shown now (never a text still held
    for review); ``org_name`` as ``account_info`` shows it (an organisation's account). To the account's
    subscribers online, its owner's and editors' connections, and the connections that have it open
    (the last account they read with ``account_info``, ``posts`` or ``read_post``), each once."""

    account_id: str
    name: str | None = None
    intro: str | None = None
    org_name: str | None = None


class EditorChanged(EventBase, tag="editor_changed", kw_only=True, frozen=True):
    """[ext] ``set_editor`` made ``user_id`` an editor of the public account (``on``) or took it back:
    to that user's connections and the owner's. ``name``: the account's name as shown now."""

    account_id: str
    user_id: str
    on: bool
    name: str


class CommentDeleted(EventBase, tag="comment_deleted", kw_only=True, frozen=True):
    """[ext] A comment left what its readers see (deleted or hidden by the account, removed or rejected
    by the platform): to the connections that could see it and no longer do, the ids alone."""

    account_id: str
    post_id: str
    comment_id: str


Event: TypeAlias = (
    MessageEvent
    | MessageReleased
    | MessageDeleted
    | MemberJoined
    | MemberLeft
    | MemberRemoved
    | RoleChanged
    | MemberMuted
    | UserRenamed
    | GroupUpdated
    | HeldTextSettled
    | JoinRequest
    | Notice
    | GroupDissolved
    | GroupClosed
    | GroupSuspended
    | Invited
    | JoinResult
    | BanChanged
    | JoinRequestDecided
    | InviteLinkChanged
    | MessageEdited
    | Reaction
    | ReadMarker
    | SelfChanged
    | PostEvent
    | PostDeleted
    | PostComments
    | CommentEvent
    | CommentDeleted
    | EditorChanged
    | AccountUpdated
)

_EVENT_CLASSES: Final[tuple[type[EventBase], ...]] = get_args(Event)


def _tag(cls: type[EventBase]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    cls.ev = tag
    return tag


EVENT_TYPES: Final[dict[str, type[EventBase]]] = {_tag(cls): cls for cls in _EVENT_CLASSES}
