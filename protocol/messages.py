"""Typed requests: one frozen ``msgspec.Struct`` per op, decoded from a frame in one pass.

Every request is ``{"op": NAME, "rid": INT, ...arguments}``; here each op is a
struct tagged with its name (``tag_field="op"``), so one cached decoder per
encoding turns a frame straight into the op's struct, validating every argument
on the way, and :func:`decode_request` is the server's single entry point.

The rules are those of the op table (:data:`protocol.requests.OPS`, which the
tests hold these structs to):

- ``rid`` and every ``int`` are 64-bit signed integers; a boolean is not an
  integer and a float is not one either, even ``1.0``;
- a short string (``Str``) has at most 256 characters; ``text`` (``Text``) has no
  limit here (the op applies ``limits.max_text_chars``);
- a group id matches ``[0-9]{9,12}`` as a whole (the contract's "9 to 12 decimal digits");
- closed sets are :mod:`protocol.enums` (``join_policy``, ``target_type``, the
  ``role`` of ``set_role``): any other value is ``bad_request``;
- an optional argument that is absent or ``null`` is ``None``; ``null`` for a
  required one is ``bad_request`` (missing);
- keys the op does not know are ignored (forward compatibility).

Strings must be valid Unicode that can be stored as UTF-8. msgspec already
refuses everything else while decoding, at no cost to valid frames: MessagePack
strings are strict UTF-8 (UTF-8-encoded surrogates ``ED A0 80``... are invalid),
and the JSON decoder refuses a ``\\uD800``-``\\uDFFF`` escape that is not half of a
proper surrogate pair (in values, keys and ignored values alike), as it has since
msgspec 0.18. The tests pin both; the error path only makes the reason readable
and still finds the ``rid`` (with the standard library's lenient JSON parser).

Refusals are :class:`~protocol.errors.FrameError` (``bad_request`` or
``unknown_op``) carrying the frame's ``rid`` when it could be read; decoding never
raises anything else, whatever the bytes. The reasons are those of
:func:`protocol.requests.parse_request`: ``send: missing argument 'text'``,
``send: 'group_id' must be a group id (9 to 12 digits)`` and so on.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Final, TypeAlias, get_args

import msgpack
import msgspec
import msgspec.inspect as mi
from msgspec import Meta

from protocol.codec import INT64_MAX, INT64_MIN
from protocol.enums import CommentAction, CommentsMode, JoinPolicy, NewRole, ReportTarget, SubjectType
from protocol.errors import FrameError, shown

__all__ = [
    "OP_TYPES",
    "REQUEST_TYPES",
    "UNAUTHENTICATED_OPS",
    "AcceptAgreement",
    "AccountId",
    "AccountInfo",
    "AccountRequest",
    "Agreement",
    "Appeal",
    "ApproveJoin",
    "Auth",
    "Ban",
    "Bans",
    "Categories",
    "ChangePassword",
    "CloseAccount",
    "Comment",
    "Comments",
    "CreateAccount",
    "CreateGroup",
    "CreateInviteLink",
    "DeleteAccount",
    "DeleteMessage",
    "DeleteUserMessages",
    "DeleteUpload",
    "DeletePost",
    "SetPostComments",
    "DissolveGroup",
    "EditMessage",
    "GroupId",
    "GroupInfo",
    "GroupLog",
    "GroupRequest",
    "History",
    "Int64",
    "Invite",
    "InviteInfo",
    "InviteLinks",
    "JoinGroup",
    "JoinRequests",
    "Kick",
    "LeaveGroup",
    "Login",
    "Logout",
    "MarkRead",
    "MessageChanges",
    "Me",
    "MediaUrl",
    "Members",
    "ModerateComment",
    "Mute",
    "MuteAll",
    "MyAccounts",
    "MyAppeals",
    "MyGroups",
    "MyHeldTexts",
    "MyReports",
    "MySanctions",
    "MySubscriptions",
    "Named",
    "PinMessage",
    "Ping",
    "PlatformNotices",
    "Posts",
    "Publish",
    "React",
    "ReadPost",
    "Register",
    "RejectJoin",
    "Report",
    "Request",
    "RequestBase",
    "RequestCode",
    "ResetPassword",
    "RevokeInviteLink",
    "Search",
    "Send",
    "SetAnnouncement",
    "SetEditor",
    "SetProfile",
    "SetRole",
    "SetSlowMode",
    "Str",
    "Subscribe",
    "Text",
    "TransferOwner",
    "Unban",
    "Unsubscribe",
    "UpdateAccount",
    "UpdateGroup",
    "UploadBegin",
    "UploadChunk",
    "UploadEnd",
    "VerifyIdentity",
    "WithdrawHeldText",
    "decode_request",
    "is_group_id",
]

SHORT_STR_MAX: Final = 256
GROUP_ID_PATTERN: Final = "^[0-9]{9,12}$"

# Argument types.
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX, description="a 64-bit signed integer")]
Str = Annotated[str, Meta(max_length=SHORT_STR_MAX, description="a string of at most 256 characters")]
Text = Annotated[str, Meta(description="a string; the op applies limits.max_text_chars")]
# A short text whose limit is the op's (an account name, a post title): over it is ``too_large``
# from the op, whatever the length, never ``bad_request`` from the decoder at 256.
Named = Annotated[str, Meta(description="a string; the op applies its own length limit (too_large over it)")]
# A group id's length is checked by msgspec, its digits by __post_init__ (Meta(pattern=...) would
# cost ~400 ns a frame: msgspec calls re.Pattern.search through the C API); the schema gets the pattern.
GroupId = Annotated[
    str,
    Meta(
        min_length=9,
        max_length=12,
        description="a group id: 9 to 12 decimal digits",
        extra_json_schema={"pattern": GROUP_ID_PATTERN},
    ),
]
BAD_GROUP_ID: Final = "'group_id' must be a group id (9 to 12 digits)"
# A public account's id has the same form as a group's, from a space of its own.
ACCOUNT_ID_DESCRIPTION: Final = "an account id: 9 to 12 decimal digits"
AccountId = Annotated[
    str,
    Meta(min_length=9, max_length=12, description=ACCOUNT_ID_DESCRIPTION,
         extra_json_schema={"pattern": GROUP_ID_PATTERN}),
]
BAD_ACCOUNT_ID: Final = "'account_id' must be an account id (9 to 12 digits)"
MAX_MENTIONS: Final = 100
MAX_ATTACHMENTS: Final = 9
# Lists of short strings (user ids, media ids); the op checks what they name.
Mentions = Annotated[list[Str], Meta(max_length=MAX_MENTIONS, description="a list of at most 100 user ids")]
Attachments = Annotated[list[Str], Meta(max_length=MAX_ATTACHMENTS, description="a list of at most 9 media ids")]
Data = Annotated[bytes, Meta(description="bytes (MessagePack bin; base64 text on the JSON subprotocol)")]
# An enforcement-record entry's id: the contract's ids are strings, and group_log shows them so;
# the integer a client may have kept from before is accepted too (see entry_id).
ENTRY_ID_DESCRIPTION: Final = "an entry id: a string of 1 to 18 decimal digits (or that integer)"
ENTRY_ID_PATTERN: Final = "^[0-9]{1,18}$"
EntryIdText = Annotated[str, Meta(pattern=ENTRY_ID_PATTERN, description=ENTRY_ID_DESCRIPTION)]
BAD_ENTRY_ID: Final = "'before_id' must be an entry id (1 to 18 digits)"

UNAUTHENTICATED_OPS: Final = frozenset({"request_code", "register", "login", "auth", "reset_password", "ping"})


class RequestBase(msgspec.Struct, kw_only=True, frozen=True, gc=False, tag_field="op"):
    """What every request has: ``rid``, echoed as the reply's ``re``."""

    rid: Int64
    op: ClassVar[str]  # the op's name, e.g. "send": the struct's tag (set below for each op)

    @property
    def args(self) -> dict[str, Any]:
        """The arguments given (absent optional ones left out), like the old ``Request.args``."""
        return {
            name: value
            for name in self.__struct_fields__
            if name != "rid" and (value := getattr(self, name)) is not None
        }


def is_group_id(gid: str) -> bool:
    """``[0-9]{9,12}`` as a whole (``str.isdigit`` alone would take "١٢٣" or "²").

    The contract's "9 to 12 decimal digits": the server issues ids without a leading 0, but a
    client may send any such string, and one that names no group is ``not_found``, not malformed.
    """
    return 9 <= len(gid) <= 12 and gid.isascii() and gid.isdigit()


class GroupRequest(RequestBase, kw_only=True, frozen=True):
    """A request about one group: ``group_id`` (a well-formed id; whether the group exists is the op's)."""

    group_id: GroupId

    def __post_init__(self) -> None:
        gid = self.group_id  # is_group_id inlined: this runs for nearly every frame
        if not (9 <= len(gid) <= 12 and gid.isascii() and gid.isdigit()):
            raise ValueError(BAD_GROUP_ID)


# -- Accounts (Art. 6) ----------------------------------------------------------------
class RequestCode(RequestBase, tag="request_code", kw_only=True, frozen=True):
    """Ask for an SMS verification code."""

    phone: Str


class Register(RequestBase, tag="register", kw_only=True, frozen=True):
    """Create an account with a verified phone number."""

    username: Str
    password: Str
    phone: Str
    code: Str
    display_name: Str | None = None


class Login(RequestBase, tag="login", kw_only=True, frozen=True):
    """Log in with username and password; the reply carries a session token. [ext] ``device``: what
    the client calls the device it runs on, shown to the account alone (``my_logins``)."""

    username: Str
    password: Str
    device: Str | None = None


class Auth(RequestBase, tag="auth", kw_only=True, frozen=True):
    """Authenticate a new connection with a session token."""

    token: Str


class VerifyIdentity(RequestBase, tag="verify_identity", kw_only=True, frozen=True):
    """Verify one's real identity (legal name and resident ID number)."""

    legal_name: Str
    id_number: Str


class SetProfile(RequestBase, tag="set_profile", kw_only=True, frozen=True):
    """Change one's display name."""

    display_name: Str


class Me(RequestBase, tag="me", kw_only=True, frozen=True):
    """One's own account."""


class Ping(RequestBase, tag="ping", kw_only=True, frozen=True):
    """**[ext]** Whether the connection is alive: answered by the node the client is connected to,
    at once and from nothing (a cluster's gateway answers it itself, so idle clients' probes never
    reach the home)."""


class DeleteAccount(RequestBase, tag="delete_account", kw_only=True, frozen=True):
    """Cancel one's account."""

    password: Str


class Logout(RequestBase, tag="logout", kw_only=True, frozen=True):
    """Revoke the token this connection authenticated with (other connections using it are closed);
    [ext] ``everywhere``: every token of the account, every other connection of it closed; [ext]
    ``login_id``: that one login of the account instead (one ``my_logins`` lists)."""

    everywhere: bool | None = None
    login_id: Str | None = None


class MyLogins(RequestBase, tag="my_logins", kw_only=True, frozen=True):
    """[ext] The account's logins (its tokens still good): the device each named, when, and which
    are online now; ``logout`` with a ``login_id`` ends one."""


class ResetPassword(RequestBase, tag="reset_password", kw_only=True, frozen=True):
    """[ext] Before authentication: a forgotten password replaced, with a code sent to the account's
    phone (``request_code``); every login of the account ends."""

    phone: Str
    code: Str
    new_password: Str


class ChangePassword(RequestBase, tag="change_password", kw_only=True, frozen=True):
    """[ext] A new password, the current one given again; every other login of the account ends."""

    password: Str
    new_password: Str


class Agreement(RequestBase, tag="agreement", kw_only=True, frozen=True):
    """The current platform rules and service agreement (extension, Art. 5)."""


class AcceptAgreement(RequestBase, tag="accept_agreement", kw_only=True, frozen=True):
    """Accept a version of the rules and agreement (extension)."""

    version: Str


class PlatformNotices(RequestBase, tag="platform_notices", kw_only=True, frozen=True):
    """The platform's notices to oneself made after ``after`` (ms), oldest first (extension, Art. 5):
    what ``notice {kind: "platform"}`` said while one was not connected."""

    after: Int64 | None = None


# -- Groups ---------------------------------------------------------------------------
class Categories(RequestBase, tag="categories", kw_only=True, frozen=True):
    """The group and public-account categories the server accepts (extension)."""


class CreateGroup(RequestBase, tag="create_group", kw_only=True, frozen=True):
    """Create a group and become its owner."""

    name: Str
    category: Str
    join_policy: JoinPolicy


class GroupInfo(GroupRequest, tag="group_info", kw_only=True, frozen=True):
    """A group's information."""


class InviteInfo(RequestBase, tag="invite_info", kw_only=True, frozen=True):
    """What an invite link's ``invite_code`` would join, before using it (extension): counts no use."""

    invite_code: Str


class JoinGroup(RequestBase, tag="join_group", kw_only=True, frozen=True):
    """Join a group, or ask to (``approval`` policy); or join by an invite link's ``invite_code``
    instead of ``group_id`` (v2). One of the two is needed: the op says so when both are absent."""

    group_id: GroupId | None = None
    invite_code: Str | None = None

    def __post_init__(self) -> None:
        if self.group_id is not None and not is_group_id(self.group_id):
            raise ValueError(BAD_GROUP_ID)


class LeaveGroup(GroupRequest, tag="leave_group", kw_only=True, frozen=True):
    """Leave a group."""


class Members(GroupRequest, tag="members", kw_only=True, frozen=True):
    """A group's members."""


class MyGroups(RequestBase, tag="my_groups", kw_only=True, frozen=True):
    """The groups one is in."""


class Send(GroupRequest, tag="send", kw_only=True, frozen=True):
    """Post a message; ``client_msg_id`` makes a retry safe.

    v2: ``reply_to`` (a seq in the same group), ``mentions`` (members' user ids),
    ``mention_all`` (owner and admins), ``attachments`` (the sender's uploads; then
    ``text`` may be empty).
    """
    text: Text
    client_msg_id: Str | None = None
    reply_to: Int64 | None = None
    mentions: Mentions | None = None
    mention_all: bool | None = None
    attachments: Attachments | None = None


class History(GroupRequest, tag="history", kw_only=True, frozen=True):
    """Stored messages of a group, newest first."""
    after_seq: Int64 | None = None
    before_seq: Int64 | None = None
    limit: Int64 | None = None


class MessageChanges(GroupRequest, tag="message_changes", kw_only=True, frozen=True):
    """Extension: the group's stored messages that changed after ``since`` (the ``cursor`` of an
    earlier reply), as they read now, in the order they changed; without ``since``, the cursor now."""
    since: Int64 | None = None
    limit: Int64 | None = None


class Report(RequestBase, tag="report", kw_only=True, frozen=True):
    """Complain about a message, a user or a group (Art. 12), or a public account, post or comment (P15)."""

    target_type: ReportTarget
    group_id: GroupId | None = None
    seq: Int64 | None = None
    user_id: Str | None = None
    reason: Text  # (the op applies its limit: too_large over it, as for every text)
    detail: Text | None = None
    account_id: AccountId | None = None
    post_id: Str | None = None
    comment_id: Str | None = None

    def __post_init__(self) -> None:
        if self.group_id is not None and not is_group_id(self.group_id):
            raise ValueError(BAD_GROUP_ID)
        if self.account_id is not None and not is_group_id(self.account_id):
            raise ValueError(BAD_ACCOUNT_ID)


class MyReports(RequestBase, tag="my_reports", kw_only=True, frozen=True):
    """One's own reports with how each was handled, newest first, before the report ``before`` (extension)."""
    before: Str | None = None
    limit: Int64 | None = None


# -- Management (Art. 8, 9) -----------------------------------------------------------
class Invite(GroupRequest, tag="invite", kw_only=True, frozen=True):
    """Invite a user to a group."""
    user_id: Str


class JoinRequests(GroupRequest, tag="join_requests", kw_only=True, frozen=True):
    """Pending join requests of an ``approval`` group."""


class ApproveJoin(GroupRequest, tag="approve_join", kw_only=True, frozen=True):
    """Let a requester in."""
    user_id: Str


class RejectJoin(GroupRequest, tag="reject_join", kw_only=True, frozen=True):
    """Turn a join request down."""
    user_id: Str


class Kick(GroupRequest, tag="kick", kw_only=True, frozen=True):
    """Remove a member."""
    user_id: Str


class Mute(GroupRequest, tag="mute", kw_only=True, frozen=True):
    """Mute a member for ``seconds`` (0 unmutes)."""
    user_id: Str
    seconds: Int64


class MuteAll(GroupRequest, tag="mute_all", kw_only=True, frozen=True):
    """Mute or unmute every member (the owner and admins may still speak)."""
    on: bool


class SetRole(GroupRequest, tag="set_role", kw_only=True, frozen=True):
    """Make a member an admin or an admin a member."""
    user_id: Str
    role: NewRole


class TransferOwner(GroupRequest, tag="transfer_owner", kw_only=True, frozen=True):
    """Hand the group to another member."""
    user_id: Str


class SetAnnouncement(GroupRequest, tag="set_announcement", kw_only=True, frozen=True):
    """Set (or, with an empty text, clear) the group's announcement."""
    text: Text


class UpdateGroup(GroupRequest, tag="update_group", kw_only=True, frozen=True):
    """Change the group's name, category or join policy."""
    name: Str | None = None
    category: Str | None = None
    join_policy: JoinPolicy | None = None


class MyHeldTexts(RequestBase, tag="my_held_texts", kw_only=True, frozen=True):
    """One's own group names, announcements and display names held for review that still wait,
    newest first, before the item ``before`` (extension)."""
    before: Str | None = None
    limit: Int64 | None = None


class WithdrawHeldText(RequestBase, tag="withdraw_held_text", kw_only=True, frozen=True):
    """Take back one's own held name, announcement or display name while it waits (extension)."""
    held_id: Str


class DeleteMessage(GroupRequest, tag="delete_message", kw_only=True, frozen=True):
    """Delete a message (members see ``deleted``; the text stays stored)."""
    seq: Int64


class DeleteUserMessages(GroupRequest, tag="delete_user_messages", kw_only=True, frozen=True):
    """A manager deletes one person's delivered messages in the group, the newest first, up to a page
    a request (extension: a raid's cleanup, with or after a ``ban``)."""
    user_id: Str


class DissolveGroup(GroupRequest, tag="dissolve_group", kw_only=True, frozen=True):
    """Dissolve the group."""


# -- Measures that finish (Art. 11) -----------------------------------------------------
class Appeal(RequestBase, tag="appeal", kw_only=True, frozen=True):
    """Appeal a sanction against oneself or a group one owns (extension); queued for the operators."""

    sanction_id: Str
    text: Text


class MyAppeals(RequestBase, tag="my_appeals", kw_only=True, frozen=True):
    """One's own appeals with how each was decided, newest first, before the appeal ``before`` (extension)."""
    before: Str | None = None
    limit: Int64 | None = None


class MySanctions(RequestBase, tag="my_sanctions", kw_only=True, frozen=True):
    """The platform's measures standing against oneself and the groups one owns (extension)."""


# -- Messages, richer (v2) ---------------------------------------------------------------
class EditMessage(GroupRequest, tag="edit_message", kw_only=True, frozen=True):
    """Change the text of one's own message (earlier versions are kept for the record)."""
    seq: Int64
    text: Text


class React(GroupRequest, tag="react", kw_only=True, frozen=True):
    """Add (``on``) or take back a reaction (``emoji``: 1 to 32 bytes of UTF-8) to a message."""
    seq: Int64
    emoji: Str
    on: bool


class PinMessage(GroupRequest, tag="pin_message", kw_only=True, frozen=True):
    """Pin or unpin a message (owner, admins)."""
    seq: Int64
    on: bool


class Ban(GroupRequest, tag="ban", kw_only=True, frozen=True):
    """Remove a user and keep them out, for ``seconds`` (absent or 0: until unbanned)."""
    user_id: Str
    seconds: Int64 | None = None
    reason: Text | None = None  # up to 200 characters: the handler's limit answers too_large


class Unban(GroupRequest, tag="unban", kw_only=True, frozen=True):
    """Lift a ban."""
    user_id: Str


class Bans(GroupRequest, tag="bans", kw_only=True, frozen=True):
    """The group's bans in force."""


class SetSlowMode(GroupRequest, tag="set_slow_mode", kw_only=True, frozen=True):
    """At most one message per ``seconds`` from each plain member (0: off)."""
    seconds: Int64


class CreateInviteLink(GroupRequest, tag="create_invite_link", kw_only=True, frozen=True):
    """A code that lets its holder join, optionally limited in uses and time."""
    max_uses: Int64 | None = None
    expires_in_seconds: Int64 | None = None
    note: Text | None = None  # up to 200 characters: the handler's limit answers too_large


class RevokeInviteLink(GroupRequest, tag="revoke_invite_link", kw_only=True, frozen=True):
    """Make an invite link's code useless: named by its ``code``, or by its ``link_id`` (extension,
    as ``invite_links`` lists it). Exactly one of the two: the op says so otherwise."""
    code: Str | None = None
    link_id: Str | None = None


class InviteLinks(GroupRequest, tag="invite_links", kw_only=True, frozen=True):
    """Extension: the group's invite links that can still be used, with their uses (never a code)."""


class MarkRead(GroupRequest, tag="mark_read", kw_only=True, frozen=True):
    """One has read the group up to ``seq`` (shared by all one's devices)."""
    seq: Int64


class Search(GroupRequest, tag="search", kw_only=True, frozen=True):
    """Messages of the group containing ``query`` (at least 2 characters), newest first."""
    query: Str
    limit: Int64 | None = None
    before_seq: Int64 | None = None


class GroupLog(GroupRequest, tag="group_log", kw_only=True, frozen=True):
    """The group's moderation log, newest first (owner, admins)."""
    before_id: EntryIdText | Int64 | None = None
    limit: Int64 | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        # (msgspec searches the pattern, whose ``$`` also matches before a final newline: "12\n"
        # passed it, and int() took it as 12. The schema's pattern means the whole string.)
        if isinstance(self.before_id, str) and self.before_id.endswith("\n"):
            raise ValueError(BAD_ENTRY_ID)


def entry_id(value: str | int | None) -> int | None:
    """``before_id`` as the number the store pages by, whichever form the client sent."""
    return int(value) if value is not None else None


# -- Media (v2) ---------------------------------------------------------------------------
class UploadBegin(RequestBase, tag="upload_begin", kw_only=True, frozen=True):
    """Start a chunked upload of ``size`` bytes of type ``mime``."""

    mime: Str
    size: Int64
    name: Text | None = None  # up to 255 characters: the handler's limit answers too_large
    sha256: Str | None = None  # [ext] the file's SHA-256 declared in advance (upload_end must match it)


class UploadChunk(RequestBase, tag="upload_chunk", kw_only=True, frozen=True):
    """The bytes of an upload from ``offset`` on."""

    upload_id: Str
    offset: Int64
    data: Data


class UploadEnd(RequestBase, tag="upload_end", kw_only=True, frozen=True):
    """Finish an upload; ``sha256`` (hex) must match the bytes received."""

    upload_id: Str
    sha256: Str


class DeleteUpload(RequestBase, tag="delete_upload", kw_only=True, frozen=True):
    """[ext] Remove one's own upload that no message or post carries."""

    media_id: Str


class MediaUrl(GroupRequest, tag="media_url", kw_only=True, frozen=True):
    """A fresh signed URL for a file attached to a message one may see."""
    seq: Int64
    media_id: Str


# -- Public accounts (P4-P13) -------------------------------------------------------------
class AccountRequest(RequestBase, kw_only=True, frozen=True):
    """A request about one public account: ``account_id`` (well-formed; whether it exists is the op's)."""

    account_id: AccountId

    def __post_init__(self) -> None:
        if not is_group_id(self.account_id):
            raise ValueError(BAD_ACCOUNT_ID)


class CreateAccount(RequestBase, tag="create_account", kw_only=True, frozen=True):
    """Open a public account run by oneself (``individual``) or by an organisation (``org_name``,
    ``org_code``: its unified social credit code)."""

    name: Named
    category: Str
    intro: Text
    subject_type: SubjectType
    org_name: Named | None = None
    org_code: Str | None = None


class AccountInfo(AccountRequest, tag="account_info", kw_only=True, frozen=True):
    """A public account's information (anyone)."""


class UpdateAccount(AccountRequest, tag="update_account", kw_only=True, frozen=True):
    """Rename the account or change its introduction (owner)."""
    name: Named | None = None
    intro: Text | None = None


class SetEditor(AccountRequest, tag="set_editor", kw_only=True, frozen=True):
    """Make a user an editor of the account (``on``) or not (owner)."""
    user_id: Str
    on: bool


class Subscribe(AccountRequest, tag="subscribe", kw_only=True, frozen=True):
    """Follow a public account: its posts arrive as ``post`` events."""


class Unsubscribe(AccountRequest, tag="unsubscribe", kw_only=True, frozen=True):
    """Stop following a public account."""


class MySubscriptions(RequestBase, tag="my_subscriptions", kw_only=True, frozen=True):
    """The public accounts one follows."""


class MyAccounts(RequestBase, tag="my_accounts", kw_only=True, frozen=True):
    """The public accounts one owns or edits."""


class Publish(AccountRequest, tag="publish", kw_only=True, frozen=True):
    """Post to the account's subscribers (owner, editors); ``comments`` defaults to ``open``."""
    title: Named
    body: Text
    attachments: Attachments | None = None
    comments: CommentsMode | None = None


class Posts(AccountRequest, tag="posts", kw_only=True, frozen=True):
    """The account's posts, newest first, before the post ``before``."""
    before: Str | None = None
    limit: Int64 | None = None


class ReadPost(RequestBase, tag="read_post", kw_only=True, frozen=True):
    """One post (counted as one read per user)."""

    post_id: Str


class DeletePost(RequestBase, tag="delete_post", kw_only=True, frozen=True):
    """Take a post down (owner, editors); it is kept for the record."""

    post_id: Str


class SetPostComments(RequestBase, tag="set_post_comments", kw_only=True, frozen=True):
    """[ext] Change a published post's comment mode (owner, editors): close its comments, hold new
    ones for approval, or open them again."""

    post_id: Str
    comments: CommentsMode


class Comment(RequestBase, tag="comment", kw_only=True, frozen=True):
    """Comment on a post, or reply (``reply_to``) to one of its comments."""

    post_id: Str
    text: Text
    reply_to: Str | None = None


class Comments(RequestBase, tag="comments", kw_only=True, frozen=True):
    """A post's comments visible to the caller, newest first, before the comment ``before``."""

    post_id: Str
    before: Str | None = None
    limit: Int64 | None = None


class ModerateComment(RequestBase, tag="moderate_comment", kw_only=True, frozen=True):
    """Approve, hide or delete a comment (owner, editors)."""

    post_id: Str
    comment_id: Str
    action: CommentAction


class CloseAccount(AccountRequest, tag="close_account", kw_only=True, frozen=True):
    """Cancel the account (owner): publishing stops at once; records are kept for retention."""


Request: TypeAlias = (
    RequestCode
    | Register
    | Login
    | Auth
    | VerifyIdentity
    | SetProfile
    | Me
    | Ping
    | MyLogins
    | DeleteAccount
    | Logout
    | ChangePassword
    | ResetPassword
    | Agreement
    | AcceptAgreement
    | PlatformNotices
    | Categories
    | CreateGroup
    | GroupInfo
    | JoinGroup
    | LeaveGroup
    | Members
    | MyGroups
    | Send
    | History
    | MessageChanges
    | Report
    | MyReports
    | Invite
    | JoinRequests
    | ApproveJoin
    | RejectJoin
    | Kick
    | Mute
    | MuteAll
    | SetRole
    | TransferOwner
    | SetAnnouncement
    | UpdateGroup
    | MyHeldTexts
    | WithdrawHeldText
    | DeleteMessage
    | DeleteUserMessages
    | DissolveGroup
    | Appeal
    | MyAppeals
    | MySanctions
    | InviteInfo
    | EditMessage
    | React
    | PinMessage
    | Ban
    | Unban
    | Bans
    | SetSlowMode
    | CreateInviteLink
    | RevokeInviteLink
    | InviteLinks
    | MarkRead
    | Search
    | GroupLog
    | UploadBegin
    | UploadChunk
    | UploadEnd
    | DeleteUpload
    | MediaUrl
    | CreateAccount
    | AccountInfo
    | UpdateAccount
    | SetEditor
    | Subscribe
    | Unsubscribe
    | MySubscriptions
    | MyAccounts
    | Publish
    | Posts
    | ReadPost
    | DeletePost
    | SetPostComments
    | Comment
    | Comments
    | ModerateComment
    | CloseAccount
)

REQUEST_TYPES: Final[tuple[type[RequestBase], ...]] = get_args(Request)


def _tag(cls: type[RequestBase]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    cls.op = tag
    return tag


OP_TYPES: Final[dict[str, type[RequestBase]]] = {_tag(cls): cls for cls in REQUEST_TYPES}

_MSGPACK: Final[msgspec.msgpack.Decoder[Request]] = msgspec.msgpack.Decoder(Request)
_JSON: Final[msgspec.json.Decoder[Request]] = msgspec.json.Decoder(Request)


def decode_request(data: bytes | str, max_bytes: int) -> Request:
    """Decode one WebSocket frame (binary: MessagePack, text: JSON) into its op's struct.

    Raises :class:`FrameError` (``bad_request`` / ``unknown_op``, ``.rid`` set when
    the frame's ``rid`` could be read) and nothing else. A frame longer than
    ``max_bytes`` (characters for a text frame) is ``bad_request`` unread.
    """
    if len(data) > max_bytes:
        raise FrameError("bad_request", f"a frame is at most {max_bytes} bytes")
    try:
        if isinstance(data, str):
            return _JSON.decode(data)
        return _MSGPACK.decode(data)
    except Exception as exc:  # msgspec errors, UnicodeError, RecursionError: all mean "bad frame"
        raise _diagnose(data, exc) from None


# -- the error path ---------------------------------------------------------------------
# Nothing below runs for a valid frame.


class _Envelope(msgspec.Struct, gc=False):
    """Just ``rid`` and ``op`` of a frame, whatever their types (other keys are skipped)."""

    rid: Any = None
    op: Any = None


_ENVELOPE_MSGPACK: Final = msgspec.msgpack.Decoder(_Envelope)
_ENVELOPE_JSON: Final = msgspec.json.Decoder(_Envelope)

# A JSON text's escapes, read left to right (so the ``\\`` of an escaped backslash is one escape
# and the ``u`` after it a plain letter), and raw surrogate code points.
_ESCAPE_OR_SURROGATE: Final = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)|[\ud800-\udfff]", re.DOTALL)


def _has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a \\uD800-\\uDBFF escape not followed at once by a \\uDC00-\\uDFFF
    one, a \\uDC00-\\uDFFF escape not preceded by such a high one, or a raw surrogate."""
    high_ends = -1  # where the last unpaired high escape ended
    for m in _ESCAPE_OR_SURROGATE.finditer(text):
        if high_ends >= 0 and not (m.start() == high_ends and m[1] is not None and m[1][0] in "dD"
                                   and m[1][1] in "cdefCDEF"):
            return True  # a high escape with no low one right after it
        if high_ends >= 0:  # (this is the low half of a pair)
            high_ends = -1
            continue
        code = m[1]
        if code is None:
            if m[0][0] != "\\":
                return True  # a raw surrogate
            continue
        if code[0] in "dD" and code[1] in "89abAB":
            high_ends = m.end()
        elif code[0] in "dD" and code[1] in "cdefCDEF":
            return True  # a low escape with no high one before it
    return high_ends >= 0
_NOT_UNICODE: Final = (
    "strings must be valid Unicode: a lone UTF-16 surrogate (\\ud800 to \\udfff) cannot be stored"
)
_NOT_UTF8: Final = "strings must be valid UTF-8 (no surrogates or other invalid sequences)"
_MISSING_FIELD: Final = re.compile(r"Object missing required field `([^`]*)`")
# The argument a path names: `$.text`, or `$.mentions[0]` for an element of a list argument.
_AT_FIELD: Final = re.compile(r" - at `\$\.([A-Za-z_][A-Za-z0-9_]*)([\[.][^`]*)?`$")
_TOO_DEEP: Final = "the frame is nested too deeply"
_GOT_NULL: Final = ("got `null`", "got `None`")


def _valid_rid(rid: object) -> int | None:
    if type(rid) is int and INT64_MIN <= rid <= INT64_MAX:
        return rid
    return None


def _diagnose(data: bytes | str, exc: Exception) -> FrameError:
    try:
        return _explain(data, exc)
    except Exception:  # pragma: no cover - belt and braces: diagnosing must not fail either
        return FrameError("bad_request", "malformed frame")


def _explain(data: bytes | str, exc: Exception) -> FrameError:
    """The refusal for a frame the request decoder refused with ``exc``: first what the
    envelope says (a map? ``rid``? ``op``?), in parse_request's order, then the argument."""
    is_json = isinstance(data, str)
    kind = "a JSON object" if is_json else "a MessagePack map"
    lone_surrogate = isinstance(data, str) and _has_lone_surrogate(data)
    try:
        env = _ENVELOPE_JSON.decode(data) if isinstance(data, str) else _ENVELOPE_MSGPACK.decode(data)
    except msgspec.ValidationError as err:
        return FrameError("bad_request", _not_a_map(kind, str(err)))
    except RecursionError:
        return FrameError("bad_request", _TOO_DEEP, rid=_rid_read_leniently(data))
    except Exception as err:
        if lone_surrogate:  # msgspec refuses the whole document: find the rid leniently
            return _unicode_refusal(data, None, _NOT_UNICODE, _lenient_json_rid(data))
        if isinstance(err, UnicodeError) and is_json:
            return FrameError("bad_request", _NOT_UNICODE)
        if isinstance(err, UnicodeError) or (not is_json and "UTF-8" in str(err)):
            # A string the envelope reads (``op``, a key) is not UTF-8: the rid may still be readable.
            return _unicode_refusal(data, None, _NOT_UTF8, _rid_read_leniently(data))
        return FrameError("bad_request", f"not {kind} ({err})")

    rid = _valid_rid(env.rid)
    if rid is None:
        return FrameError("bad_request", "a request needs an integer 'rid'")
    op = env.op
    if type(op) is not str:
        return FrameError("bad_request", "a request needs a string 'op'", rid=rid)
    if op not in OP_TYPES:
        return FrameError("unknown_op", f"unknown op '{shown(op)}'", rid=rid)
    if isinstance(exc, msgspec.ValidationError):
        message = str(exc)
        return FrameError("bad_request", _argument_reason(op, message), rid=rid,
                          field=argument_field(op, _argument_named(message)))
    if isinstance(exc, RecursionError):
        return FrameError("bad_request", f"{op}: {_TOO_DEEP}", rid=rid)
    if lone_surrogate or (is_json and isinstance(exc, UnicodeError)):
        return _unicode_refusal(data, op, _NOT_UNICODE, rid)
    if isinstance(exc, UnicodeError) or (not is_json and "UTF-8" in str(exc)):
        return _unicode_refusal(data, op, _NOT_UTF8, rid)
    return FrameError("bad_request", f"{op}: not {kind} ({exc})", rid=rid)


def _not_a_map(kind: str, message: str) -> str:
    if message.startswith("Expected `object`"):
        return "a frame must be a map"
    if "at `key`" in message:
        return "a frame's keys must be strings"
    return f"not {kind} ({message})"


def _lenient_json_rid(data: bytes | str) -> int | None:
    """The ``rid`` of JSON that msgspec refused, read by the standard library (which keeps lone surrogates)."""
    try:
        frame = json.loads(data)
    except Exception:
        return None
    return _valid_rid(frame.get("rid")) if isinstance(frame, dict) else None


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _unicode_refusal(data: bytes | str, op: str | None, why: str, rid: int | None) -> FrameError:
    """A frame refused for a string that is not valid Unicode (a lone surrogate in JSON, bytes
    that are not UTF-8 in MessagePack): which op and which top-level argument, when a lenient
    reading finds them, so that the reason and **[ext]** ``field`` name it as for any other refusal."""
    items: list[tuple[Any, Any]] = []
    try:
        if isinstance(data, str):
            frame = json.loads(data)  # (the standard library keeps lone surrogates)
            items = list(frame.items())[:_LENIENT_ENTRIES] if isinstance(frame, dict) else []
        else:
            unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape")
            unpacker.feed(data)
            for _ in range(min(unpacker.read_map_header(), _LENIENT_ENTRIES)):
                items.append((unpacker.unpack(), unpacker.unpack()))
    except Exception:  # noqa: S110 (what could be read is used; the refusal stands either way)
        pass
    if op is None:
        op = next((v for k, v in items if k == "op" and isinstance(v, str) and v in OP_TYPES), None)
    name = next((k for k, v in items if isinstance(k, str) and not _SURROGATE.search(k)
                 and isinstance(v, str) and _SURROGATE.search(v)), None)
    if op is None:
        return FrameError("bad_request", why, rid=rid)
    if name is None:
        return FrameError("bad_request", f"{op}: {why}", rid=rid)
    # (the key is the client's own text: quoted as protocol.errors.shown quotes such text)
    return FrameError("bad_request", f"{op}: '{shown(name)}': {why}", rid=rid, field=argument_field(op, name))


_JSON_KEY: Final = re.compile(r'\s*[{,]\s*"((?:[^"\\]|\\.)*)"\s*:\s*')
_LENIENT_ENTRIES: Final = 64  # top-level entries looked at before the rid: a bound on the work


def _rid_read_leniently(data: bytes | str) -> int | None:
    """The ``rid`` of a frame the envelope's decoder refused (nested too deeply, or a MessagePack
    string that is not UTF-8), when it comes before the entry at fault: the top-level entries are
    read one at a time, a string that is not UTF-8 kept as it is, and a deep one stops the reading."""
    try:
        if isinstance(data, str):
            decoder, pos = json.JSONDecoder(), 0
            for _ in range(_LENIENT_ENTRIES):
                key = _JSON_KEY.match(data, pos)
                if key is None:
                    return None
                value, pos = decoder.raw_decode(data, key.end())
                if json.loads(f'"{key[1]}"') == "rid":
                    return _valid_rid(value)
            return None
        unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape")
        unpacker.feed(data)
        for _ in range(min(unpacker.read_map_header(), _LENIENT_ENTRIES)):
            if unpacker.unpack() == "rid":
                return _valid_rid(unpacker.unpack())
            unpacker.skip()
    except Exception:  # the deep entry came first, or the frame is broken: no rid to be read
        return None
    return None


# Arguments whose refusals carry **[ext]** ``field`` (docs/protocol.md, "extra fields"): the
# identity data in every op that takes it, and the names a few ops check with ``field`` too.
_FIELD_ARGUMENTS: Final = frozenset({"phone", "username", "password", "display_name", "legal_name", "id_number"})
_FIELD_ARGUMENTS_OF: Final = {
    "create_group": frozenset({"name"}),
    "update_group": frozenset({"name"}),
    "create_account": frozenset({"name", "org_name", "org_code"}),
    "update_account": frozenset({"name"}),
    "change_password": frozenset({"new_password"}),
    "login": frozenset({"device"}),
    "logout": frozenset({"login_id"}),
    "reset_password": frozenset({"new_password"}),
}


def argument_field(op: str, name: str | None) -> str | None:
    """``name`` when a refusal of ``op``'s argument ``name`` carries it as ``field``, else ``None``."""
    if name is not None and (name in _FIELD_ARGUMENTS or name in _FIELD_ARGUMENTS_OF.get(op, ())):
        return name
    return None


def _argument_named(message: str) -> str | None:
    """The argument msgspec's ``message`` is about (missing, or refused at ``$.name``), if any."""
    found = _MISSING_FIELD.match(message) or _AT_FIELD.search(message)
    return found[1] if found else None


def _argument_reason(op: str, message: str) -> str:
    """msgspec's message (``Expected `str`, got `int` - at `$.text```) as the op table's reason."""
    if message in (BAD_GROUP_ID, BAD_ACCOUNT_ID, BAD_ENTRY_ID):  # from __post_init__: no path
        return f"{op}: {message}"
    found = _MISSING_FIELD.match(message)
    if found:
        return f"{op}: missing argument '{found[1]}'"
    found = _AT_FIELD.search(message)
    if found is None:
        return f"{op}: {message}"
    name = found[1]
    # The argument itself null ("got `null`" in JSON, "got `None`" in MessagePack) is a missing one;
    # a null element of a list argument is the argument's type refused, like any other element.
    if found[2] is None and message.endswith(_GOT_NULL, 0, found.start()):
        return f"{op}: missing argument '{name}'"
    what = _EXPECTED.get(op, {}).get(name)
    if what is None:
        return f"{op}: '{name}': {message.rsplit(' - at ', 1)[0]}"
    if what == _SHORT_STR and "length" in message:
        return f"{op}: '{name}' is longer than {SHORT_STR_MAX}"
    return f"{op}: '{name}' must be {what}"


_SHORT_STR: Final = "a string"


def _expected(t: mi.Type) -> str:
    """How a reason says what an argument of type ``t`` must be."""
    if isinstance(t, mi.UnionType):  # an optional argument: X | None
        types = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if any(isinstance(x, mi.Metadata) and x.extra_json_schema is not None
               and x.extra_json_schema.get("description") == ENTRY_ID_DESCRIPTION for x in types):
            return "an entry id (a string of digits)"
        (t,) = types
    if isinstance(t, mi.Metadata):  # Annotated[X, Meta(description=...)]
        if (t.extra_json_schema or {}).get("description") == ACCOUNT_ID_DESCRIPTION:
            return "an account id (9 to 12 digits)"
        t = t.type
    if isinstance(t, mi.IntType):
        return "a 64-bit integer"
    if isinstance(t, mi.BoolType):
        return "a boolean"
    if isinstance(t, mi.StrType):
        return "a group id (9 to 12 digits)" if t.min_length is not None else _SHORT_STR  # only GroupId has one
    if isinstance(t, mi.ListType):
        return f"a list of at most {t.max_length} strings" if t.max_length is not None else "a list of strings"
    if isinstance(t, mi.BytesType):
        return "bytes (base64 text in JSON)"
    if isinstance(t, mi.EnumType):
        values = [f"'{member.value}'" for member in t.cls]
        return " or ".join([", ".join(values[:-1]), values[-1]]) if len(values) > 1 else values[0]
    raise TypeError(f"no reason for argument type {t!r}")  # pragma: no cover


def _expectations(cls: type[RequestBase]) -> dict[str, str]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return {field.name: _expected(field.type) for field in info.fields}


_EXPECTED: Final = {op: _expectations(cls) for op, cls in OP_TYPES.items()}
