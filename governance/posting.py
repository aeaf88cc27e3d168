"""Who may post and manage, and what text may be stored: pure policy for the handlers.

No I/O and no server import: plain values in, a decision out. Every refusal is a
:class:`~protocol.errors.ContractError` with the code, reason and extra fields the
handlers have always used, so moving a check here changes nothing on the wire.

- :func:`check_can_post` -- may this member post in this group now (``send``)?
- :func:`check_text` -- the length and emptiness of any text-bearing argument.
- :func:`check_no_nul` -- a string that goes to the store (or into a query of it) has no U+0000.
- :func:`screen_text` -- the prohibited-content filter (Art. 10) for any text:
  message text, group name, announcement, display name.
- :func:`acting_role` -- the role a manager acts with (platform suspension of powers).
- :func:`check_admin_cap` -- ``set_role`` to admin.
- :func:`mostly_rejected` -- the slower report limit for a malicious reporter (P15).
- :func:`check_can_own` -- ``create_group`` and ``transfer_owner``.
- :func:`check_keeps_owner` -- ``dissolve_group`` and ``transfer_owner`` of a suspended group.
- :func:`check_fits_new_owner` -- ``transfer_owner``: the group within the new owner's group caps.
"""

from __future__ import annotations

import unicodedata
from typing import Final, Protocol

from governance.content import Action, Verdict
from protocol.enums import Role
from protocol.errors import ContractError, is_visible

__all__ = [
    "MIN_RESOLVED_FOR_JUDGEMENT",
    "ContentBlocked",
    "TextScreen",
    "acting_role",
    "check_admin_cap",
    "check_can_own",
    "check_can_post",
    "check_fits_new_owner",
    "check_keeps_owner",
    "check_no_nul",
    "check_text",
    "mostly_rejected",
    "screen_text",
]


# -- posting -------------------------------------------------------------------------------
def check_can_post(
    *,
    now: int,
    role: Role,
    muted_until: int,
    group_mute_all: bool,
    group_suspended_until: int,
    require_id: bool,
    id_verified: bool,
    agreement_version: str | None,
    accepted_version: str | None,
    text: str | None = None,
    max_text_chars: int | None = None,
    powers_suspended_until: int = 0,
    group_suspension_cause: str | None = None,
) -> None:
    """Refuse a post, in this order (the first that applies wins):

    1. ``group_suspended`` (with ``until``, and ``cause`` when ``group_suspension_cause`` is given:
       ``sanction`` or ``category_freeze``): the platform suspended posting in the group;
    2. ``muted`` (with ``until``): the member is muted;
    3. ``muted``: the group is muted (``mute_all``) and the poster is a plain member, or an
       owner or admin whose management powers the platform suspended (until
       ``powers_suspended_until``, epoch ms): speaking through mute-all is a manager's power;
    4. ``verification_required``: posting needs a verified identity (``require_id``);
    5. only when ``text`` is given: :func:`check_text` of it (``too_large``, then
       ``bad_request`` if empty), with ``max_chars=max_text_chars``, ``field="text"``;
    6. ``forbidden`` (with ``agreement_version``): there is a current rules and
       service agreement version and the poster has not accepted it.

    Pass ``text`` (and ``max_text_chars``) to keep the order ``send`` has always
    had, where a too long or empty text is refused before a missing acceptance;
    without it, call :func:`check_text` after this function.

    ``now``, ``muted_until`` and ``group_suspended_until`` are epoch milliseconds
    (0 means never muted / not suspended).
    """
    if group_suspended_until > now:
        raise ContractError("group_suspended", "posting in this group is suspended", until=group_suspended_until,
                            **_cause(group_suspension_cause))
    if muted_until > now:
        raise ContractError("muted", "you are muted in this group", until=muted_until)
    if group_mute_all and (role == Role.MEMBER or powers_suspended_until > now):
        raise ContractError("muted", "the group is muted; only the owner and admins can speak")
    if require_id and not id_verified:
        raise ContractError("verification_required", "posting needs a verified identity")
    if text is not None:
        if max_text_chars is None:
            raise TypeError("check_can_post: text needs max_text_chars")
        check_text(text, max_chars=max_text_chars, field="text")
    if agreement_version is not None and accepted_version != agreement_version:
        raise ContractError(
            "forbidden",
            f"accept the platform rules and service agreement (version {agreement_version}) first",
            agreement_version=agreement_version,
        )


def check_text(text: str, *, max_chars: int, field: str, allow_empty: bool = False, arg: str | None = None) -> str:
    """``text`` itself when it may be stored as ``field`` (the request's argument ``arg``, when its
    name is not the word for it: an announcement is ``set_announcement``'s ``text``).

    ``too_large`` when longer than ``max_chars`` characters; ``bad_request`` when
    it shows nothing (empty, or only whitespace and characters that render as nothing:
    zero-width and other format characters, lone marks, the Hangul and braille blanks,
    :func:`governance.names.is_visible`), unless ``allow_empty`` (an announcement may be
    cleared). The text is returned as given (callers strip it first if they store
    it stripped).
    """
    if len(text) > max_chars:
        # [ext] field (the argument) and max_chars: a client says which text, and its limit, in its words
        raise ContractError("too_large", f"{field} is longer than {max_chars} characters", field=arg or field,
                            max_chars=max_chars)
    check_no_nul(text, field)
    if not allow_empty and not any(_shows(ch) for ch in text):
        raise ContractError("bad_request", f"{field} is empty" if not text.strip() else f"{field} shows nothing")
    return text


def _shows(ch: str) -> bool:
    """Whether ``ch`` may show something in a text: visible as in a name, or a character not known
    to be blank: private use (a font's own symbol, such as Apple's logo) or unassigned in this
    Python's Unicode data (every emoji newer than it, 🩷 on Python 3.11). A name refuses both,
    where everyone must be able to read it."""
    return is_visible(ch) or unicodedata.category(ch) in ("Co", "Cn")


def check_no_nul(value: str, field: str) -> None:
    """``bad_request`` when ``value`` holds U+0000: valid UTF-8, but no database text type takes it
    (PostgreSQL refuses it, even as a query parameter), so it must never reach the store."""
    if "\x00" in value:
        raise ContractError("bad_request", f"{field} contains a NUL character")


# -- prohibited content (Art. 10) ------------------------------------------------------------
class TextScreen(Protocol):
    """What :func:`screen_text` needs of a filter: :class:`governance.content.ContentFilter` has it."""

    def check(self, text: str) -> Verdict | None: ...


class ContentBlocked(ContractError):
    """``content_blocked``, carrying the :class:`Verdict` so the caller can record it.

    ``verdict`` is an attribute, not a reply field: the client sees the code and
    the reason (which names the category) only.
    """

    def __init__(self, verdict: Verdict, field: str, noun: str) -> None:
        super().__init__("content_blocked", f"the {noun} contains prohibited content ({verdict.category})")
        self.verdict = verdict
        self.field = field


def screen_text(content_filter: TextScreen, text: str, field: str, noun: str) -> Verdict | None:
    """Run the prohibited-content filter over ``text`` (the argument ``field``; ``noun`` names it in
    the refusal's reason: an argument's name alone would mislead, e.g. ``name`` is a group's or a
    public account's; the server's one table of nouns is ``server/handlers/screening.py``).

    A ``block`` match raises :class:`ContentBlocked` (``content_blocked``; the
    reason names the category, e.g. "the message contains prohibited content
    (gambling)"). A ``review`` or ``flag`` match is returned for the caller to
    act on (hold, queue); clean text gives ``None``.
    """
    verdict = content_filter.check(text)
    if verdict is not None and verdict.action is Action.BLOCK:
        raise ContentBlocked(verdict, field, noun)
    return verdict


# -- managing ------------------------------------------------------------------------------
def acting_role(role: Role, powers_suspended_until: int, now: int) -> Role:
    """The role a member manages with: an owner or admin whose management powers the
    platform suspended (until ``powers_suspended_until``, epoch ms) is ``forbidden`` (with **[ext]**
    ``cause`` ``powers_suspended`` and ``until``, so a client says why without reading the reason);
    a plain member is never affected (their own rights are not management powers)."""
    role = Role(role)
    if role is not Role.MEMBER and powers_suspended_until > now:
        raise ContractError("forbidden", "your management powers are suspended by the platform",
                            cause="powers_suspended", until=powers_suspended_until)
    return role


def check_member_cap(member_count: int, cap: int, group_id: str) -> None:
    """One more member in a group that has ``member_count`` (owner included): ``member_cap_reached``
    at the cap (which follows the owner's credit level, Art. 7, 8)."""
    if member_count >= cap:
        # (more than the cap when the owner's credit level fell since: nobody is removed for it)
        raise ContractError("member_cap_reached", f"group {group_id} is full ({member_count} members; at most {cap})")


def check_admin_cap(admin_count: int, cap: int) -> None:
    """One more admin in a group that has ``admin_count``: ``admin_cap_reached`` at the cap."""
    if admin_count >= cap:
        raise ContractError("admin_cap_reached", f"a group may have at most {cap} admins")


def check_can_own(
    *,
    owned: int,
    max_groups_created: int,
    create_revoked: bool,
    joined: int | None = None,
    max_groups_joined: int | None = None,
    require_id: bool = False,
    id_verified: bool = False,
    by_transfer: bool = False,
    barred: bool = False,
    held_until: int = 0,
    now: int = 0,
) -> None:
    """May a user own one more group? ``owned`` is how many they own now.

    ``held_until`` (epoch ms, 0 for none) is the latest end of the platform's suspensions of
    posting in the groups they own now (``suspend-group``; not a freeze of a whole category,
    which is no sanction of the owner). While it is after ``now`` they take on no new group,
    created or handed to them, with ``forbidden``:
    a suspension follows its owner (Art. 11), so it cannot be sidestepped by opening another
    group and calling the members over. (:func:`check_keeps_owner` keeps the suspended group
    from being dissolved or handed on meanwhile.)

    Creating it (``create_group``: the caller), in this order: ``forbidden`` when the
    platform revoked their right to create groups; ``verification_required`` when
    ``require_id`` and not ``id_verified``; ``create_cap_reached`` when ``owned``
    reaches ``max_groups_created``; ``join_cap_reached`` when ``joined`` reaches
    ``max_groups_joined`` (the creator joins the group; skipped when not given).

    Receiving it (``by_transfer``: ``transfer_owner``'s new owner, already a
    member; or the heir of a blacklisted owner's group), in this order: ``forbidden``
    when the platform closed their account (``barred``: blacklisted; their memberships
    stay, but a group is never handed to them), ``create_cap_reached``, ``forbidden``
    when the right was revoked, then ``verification_required`` when ``require_id`` and
    not ``id_verified``: whoever owns a group answers for it (Art. 8, 9), so a group is
    never handed to someone who could not have created it for want of a verified
    identity; then ``forbidden`` while ``held_until`` is ahead. The reasons speak of
    "that user". ``joined`` and ``max_groups_joined`` do not apply.

    The size class the group then needs of its owner is
    :func:`governance.tiers.check_size_class`'s.
    """
    if by_transfer:
        if barred:
            raise ContractError("forbidden", "the platform has closed that user's account; it cannot own a group")
        if owned >= max_groups_created:
            raise ContractError("create_cap_reached", "that user already owns as many groups as allowed")
        if create_revoked:
            raise ContractError("forbidden", "that user may not own groups")
        if require_id and not id_verified:
            raise ContractError("verification_required",
                                "that user has no verified identity; owning a group needs one")
        if held_until > now:
            raise ContractError("forbidden", "the platform has suspended a group that user owns; until that "
                                             "suspension ends they cannot take on another", until=held_until)
        return
    if create_revoked:
        raise ContractError("forbidden", "the platform has revoked your right to create groups",
                            cause="create_revoked")
    if held_until > now:
        raise ContractError("forbidden", "the platform has suspended a group you own; you cannot create another "
                                         "until that suspension ends", until=held_until)
    if require_id and not id_verified:
        raise ContractError("verification_required", "creating a group needs a verified identity")
    if owned >= max_groups_created:
        raise ContractError(
            "create_cap_reached", f"you may own at most {max_groups_created} groups at your credit level"
        )
    if joined is not None and max_groups_joined is not None and joined >= max_groups_joined:
        raise ContractError("join_cap_reached", f"you may be in at most {max_groups_joined} groups")


def check_fits_new_owner(*, members: int, max_members: int, admins: int, max_admins: int) -> None:
    """May a group be handed to a new owner whose credit level sets its caps (``transfer_owner``)?

    A group's member cap and admin cap follow its owner's level, so a transfer to an owner of a
    lower level would leave the group above its caps at once: that is refused rather than
    accepted, since the new owner could never have grown it so far. ``members`` is the group's
    member count (owner included), ``admins`` the admins it keeps after the transfer (the new
    owner no longer counts as one). In this order: ``member_cap_reached``, ``admin_cap_reached``.
    (A cap lowered later, with the same owner, removes nobody: the group only stops growing.)
    """
    if members > max_members:
        raise ContractError("member_cap_reached", f"the group has {members} members; at that user's credit level "
                                                  f"a group may have at most {max_members}")
    if admins > max_admins:
        raise ContractError("admin_cap_reached", f"the group has {admins} admins; at that user's credit level "
                                                 f"a group may have at most {max_admins}")


def check_keeps_owner(action: str, suspended_until: int, now: int, cause: str | None = None) -> None:
    """``group_suspended`` (with ``until``, and ``cause`` when given) for ``dissolve_group`` or
    ``transfer_owner`` while the platform's suspension of posting in the group stands: its owner
    answers for the group (Art. 9, 11) until the suspension ends, and neither ending the group nor
    handing it on escapes that (a new group of theirs is refused meanwhile by :func:`check_can_own`)."""
    if suspended_until > now:
        raise ContractError("group_suspended", f"the platform has suspended this group; it cannot be {action} "
                                               "until the suspension ends", until=suspended_until, **_cause(cause))


def _cause(cause: str | None) -> dict[str, str]:
    """The ``cause`` extra of a ``group_suspended`` refusal (none when the caller did not say)."""
    return {} if cause is None else {"cause": cause}


def check_category_open(category: str, frozen_until: int, now: int) -> None:
    """A group may be opened in, or moved into, ``category`` only while the platform has not frozen it
    (``freeze-category``, G5 emergency handling): until ``frozen_until`` it is ``forbidden``, so a
    frozen category cannot be escaped into by a new group or by changing a group's category."""
    if frozen_until > now:
        raise ContractError("forbidden", f"the platform has frozen the category {category} for now; "
                                         "no group can be opened in it or moved into it", until=frozen_until)


# -- reports (Art. 12, P15) -------------------------------------------------------------------
HOUR_MS: Final = 3_600_000


def report_overdue(status: str, created_at: int, now: int, answer_within_hours: int) -> bool:
    """G12 timely handling: an open complaint older than ``answer_within_hours`` is overdue."""
    return status == "open" and created_at < overdue_before(now, answer_within_hours)


def overdue_before(now: int, answer_within_hours: int) -> int:
    """An open complaint made before this time is overdue at ``now`` (see :func:`report_overdue`)."""
    return now - answer_within_hours * HOUR_MS


MIN_RESOLVED_FOR_JUDGEMENT: Final = 5


def mostly_rejected(resolved: int, rejected: int) -> bool:
    """Whether a reporter's record marks them as likely malicious (P15), so their reports
    get the slower limit: at least MIN_RESOLVED_FOR_JUDGEMENT of their reports were
    resolved and more than half of those were rejected."""
    return resolved >= MIN_RESOLVED_FOR_JUDGEMENT and rejected * 2 > resolved
