"""Rules for acting on a message already sent: editing it, reacting to it, pinning it.

Pure policy (no I/O, no server import): the handlers pass what they know of the
message and get a refusal (:class:`~protocol.errors.ContractError`) or nothing.

- :func:`check_edit` -- may this user edit this message now (``edit_message``)?
- :func:`check_emoji` -- is this a reaction (``react``)?
- :func:`check_pin_room` -- may one more message be pinned (``pin_message``)?
- :func:`known_to` -- does this user know the message exists at all (it was delivered, or
  it is their own one held for review)? ``delete_message`` and ``report`` act only on those.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Final

from protocol.errors import ContractError

__all__ = [
    "HELD", "MAX_EMOJI_BYTES", "MAX_REACTIONS_PER_USER", "REJECTED", "check_edit", "check_emoji", "check_pin_room",
    "known_to",
]

MAX_EMOJI_BYTES: Final = 32
# Different reactions one user may leave on one message; one more is ``conflict``.
MAX_REACTIONS_PER_USER: Final = 20
# A stored message's ``held`` state: 0 delivered, HELD waiting for the platform's review, REJECTED.
HELD: Final = 1
REJECTED: Final = 2


def known_to(user_id: str, sender_id: str, held: int) -> bool:
    """Whether ``user_id`` may know that a stored message exists: it was delivered, or it is
    their own message still held for review. Someone else's held message was never delivered
    (nobody but its sender and the operators knows it), and a rejected one is shown to nobody."""
    return held == 0 or (held == HELD and sender_id == user_id)


# A group's membership log (membership_log.action): what ends a membership; role changes, which
# neither start nor end one; every other action (create, join, approve, invite_link...) starts one.
MEMBERSHIP_ENDS: Final = frozenset({"leave", "kick", "ban", "account_deleted"})
ROLE_CHANGES: Final = frozenset({"admin", "member", "owner", "owner_handed_on"})


def was_member_at(log: Sequence[tuple[str, int]], ts: int) -> bool:
    """Whether a user's membership log in a group, ``(action, ts)`` oldest first, shows them a member
    at ``ts``: so a former member (left, kicked, banned) may still report what they were shown.

    Both ends count (``start <= ts <= end``): the log and the messages have milliseconds, and a
    message in the same one as a join or a removal (an admin's abuse, then the kick) is taken as
    one the person may have been shown rather than one they may not report."""
    start: int | None = None
    for action, at in log:
        if action in ROLE_CHANGES:
            continue
        if action in MEMBERSHIP_ENDS:
            if start is not None and start <= ts <= at:
                return True
            start = None
        elif start is None:
            start = at
    return start is not None and start <= ts


def check_edit(*, own: bool, held: bool, now: int, sent_at: int, window_seconds: int) -> None:
    """Refuse an edit, in this order: ``forbidden`` when the message is not the user's, when
    it is held for the platform's review (it was never delivered: send a new one), or when
    more than ``window_seconds`` passed since it was sent (``0``: editing is off).
    ``now`` and ``sent_at`` are epoch milliseconds."""
    if not own:
        raise ContractError("forbidden", "only its sender can edit a message")
    if held:
        raise ContractError("forbidden", "a message held for the platform's review cannot be edited")
    if window_seconds <= 0:  # (not "within 0 s": a clock behind the sending one's, or the same ms, let one through)
        raise ContractError("forbidden", "editing messages is turned off on this server")
    if now - sent_at > window_seconds * 1000:
        raise ContractError("forbidden", f"a message can be edited only within {window_seconds} seconds of sending")


# What shows nothing by itself: spaces (Z*), format characters (Cf: zero-width joiners and
# spaces, bidi controls) and marks that only modify the character before them (Mn, Me:
# variation selectors, the keycap). A reaction made only of these is blank.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cf", "Mn", "Me"})


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES


# Unicode's Bidi_Control characters: in a reaction shown beside others' they would turn the text
# around them (a name, the count) the other way. (Zero-width joiners and variation selectors, which
# emoji sequences are made of, are not among them.)
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_emoji(emoji: str) -> str:
    """``emoji`` itself when it is a reaction: 1 to 32 bytes of UTF-8, not blank, no control
    characters, bidirectional ones included (``bad_request`` otherwise). Any other short string
    qualifies, so a client may offer any emoji, including sequences joined by zero-width joiners."""
    size = len(emoji.encode("utf-8"))
    if not 1 <= size <= MAX_EMOJI_BYTES:
        raise ContractError("bad_request", f"emoji must be 1 to {MAX_EMOJI_BYTES} bytes of UTF-8")
    if not any(_visible(ch) for ch in emoji) or any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS
                                                    for ch in emoji):
        raise ContractError("bad_request", "emoji must not be blank or contain control characters")
    return emoji


def check_pin_room(pinned: int, max_pins: int) -> None:
    """One more pin in a group that has ``pinned``: ``conflict`` at ``max_pins``."""
    if pinned >= max_pins:
        raise ContractError("conflict", f"a group may pin at most {max_pins} messages; unpin one first")
