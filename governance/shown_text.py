"""What the word lists' ``review`` and ``flag`` hits do to names and announcements (Art. 10, G10).

A group's name, its announcement, a user's display name and a public account's name and
introduction are shown to others like a message, but they are not messages: they stand in
place of what was there before. So:

- ``flag``: the text is applied at once and queued for an operator (as a flagged message
  is delivered and queued). ``decide --decision keep`` leaves it; ``remove`` puts a
  neutral value in its place (:func:`neutral`), if the field still shows the flagged text.
- ``review``: the text is **not** applied. What was shown before stays shown, and the new
  text waits in the queue (as a held message waits). ``release`` applies it, if the field
  still shows what it showed when the text was queued (a later change by its managers is
  not overwritten by an older request); ``reject`` discards it.
  Where nothing was shown before (``create_group``, ``register``, ``create_account``), the
  neutral value stands in until the operator decides.

Every item carries the text and the value the field must still hold for the decision to
change it (``expect``): the decision is a compare-and-set, never a blind write.

No I/O; the handlers and the operator's ``decide`` call these.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from governance.content import Action, Verdict

__all__ = ["ACCOUNT_KINDS", "KINDS", "Outcome", "neutral", "neutral_name_key", "outcome", "settle"]

# The review queue's item kinds for these texts; what each names: a group (group_name,
# announcement), a user (display_name) or a public account (account_name, account_intro).
KINDS: Final = ("group_name", "announcement", "display_name", "account_name", "account_intro")
# Every kind of content-review item: what people write (messages, public-account posts and comments)
# and the texts shown of them above (``review-queue --kind``).
REVIEW_ITEM_KINDS: Final = ("message", "post", "comment", *KINDS)
ACCOUNT_KINDS: Final = ("account_name", "account_intro")


class Outcome(Enum):
    """What happens to a screened text (after ``block`` was refused by ``posting.screen_text``)."""

    APPLY = "apply"  # clean: applied, nothing queued
    APPLY_AND_QUEUE = "flag"  # applied and queued (item action ``flag``)
    HOLD = "review"  # not applied; queued (item action ``review``)


def outcome(verdict: Verdict | None, text: str, shown: str) -> Outcome:
    """The outcome for ``text`` given the filter's ``verdict``; ``shown`` is what the field would
    show meanwhile if the text were held. Holding a text that equals it would change nothing,
    so such a ``review`` hit is applied and queued like a ``flag``."""
    if verdict is None:
        return Outcome.APPLY
    if verdict.action is Action.REVIEW and text != shown:
        return Outcome.HOLD
    return Outcome.APPLY_AND_QUEUE


def neutral(kind: str, *, group_id: str | None = None, username: str | None = None,
            account_id: str | None = None, user_id: str | None = None, username_listed: bool = False) -> str:
    """The value that stands in for a held or removed text: a group called after its id, no
    announcement, a user shown under their username (what ``register`` shows by default), a public
    account called after its id, no introduction.

    ``username_listed``: the word lists hold the username (a ``flag`` hit lets one through at
    ``register``, and nothing can change it after). Shown in place of a removed name it would show
    what the lists hold, or the very name removed: the user is called after their id instead."""
    if kind == "group_name":
        if group_id is None:
            raise TypeError("a group name's neutral value needs the group id")
        return f"群聊 {group_id}"
    if kind == "account_name":
        if account_id is None:
            raise TypeError("an account name's neutral value needs the account id")
        return f"公众号 {account_id}"
    if kind in ("announcement", "account_intro"):
        return ""
    if kind == "display_name":
        if username is None:
            raise TypeError("a display name's neutral value needs the username")
        if username_listed:
            if user_id is None:
                raise TypeError("a listed username's stand-in needs the user id")
            return f"用户 {user_id}"
        return username
    raise ValueError(f"no neutral value for {kind!r}")


def neutral_name_key(account_id: str) -> str:
    """The comparison key (``accounts.name_key``, unique) an account holds while it shows its neutral
    name: the name itself, space kept. A key made from a name a user chose never has a space
    (``governance.public_accounts.normalize_name`` drops them), so no account can take this one
    first and a neutral name never keeps another account from the name it waits for."""
    return neutral("account_name", account_id=account_id)


def settle(action: str, decision: str, text: str, expect: str, neutral_value: str) -> tuple[str, str] | None:
    """What an operator's decision on an item writes: ``(new value, value the field must still hold)``,
    or None when it writes nothing (``reject`` of a held text, ``keep`` of a flagged one).

    ``action`` is the item's (``review`` | ``flag``), ``decision`` one of ``release``/``reject``
    (review) or ``keep``/``remove`` (flag); anything else is a ``ValueError``.
    """
    if action == "review" and decision == "release":
        return text, expect
    if action == "flag" and decision == "remove":
        return neutral_value, expect
    if (action, decision) in (("review", "reject"), ("flag", "keep")):
        return None
    raise ValueError(f"a {action} item cannot be decided {decision!r}")
