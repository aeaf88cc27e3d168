"""The word lists on names and announcements (G10), and on public accounts' names and introductions
(P10): a ``block`` hit refuses, a ``flag`` hit is applied and queued, a ``review`` hit is held in the
queue while the old value stays shown.

The policy is ``governance/shown_text.py``; this module only screens the text and builds the queue
item (``changes.QueueShownText``) the handler stores in the same transaction as its change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance import posting, shown_text
from governance.shown_text import Outcome
from server.storage import changes as ch

if TYPE_CHECKING:
    from governance.content import Verdict
    from server.context import Context


@dataclass(frozen=True, slots=True)
class Screened:
    """A text that passed the ``block`` lists: what to do with it, and why."""

    text: str
    outcome: Outcome
    verdict: Verdict | None

    @property
    def held(self) -> bool:
        return self.outcome is Outcome.HOLD

    def shown(self, meanwhile: str) -> str:
        """What the field shows from now: the text, or ``meanwhile`` while it is held."""
        return meanwhile if self.held else self.text

    def queued(self, ctx: Context, kind: str, group_id: str | None, sender_id: str,
               expect: str, account_id: str | None = None) -> ch.QueueShownText | None:
        """The queue item to store with the change (None for clean text); ``expect``: what the field
        must still show for the operator's decision to change it; ``account_id``: the public account
        whose name or introduction it is."""
        if self.verdict is None:  # (clean text: the outcome is APPLY)
            return None
        return ch.QueueShownText(kind, group_id, sender_id, self.outcome.value, self.verdict.category,
                                 self.verdict.term, self.text, expect, ctx.now_ms(), account_id)


def held_reply(results: list[Any], **reply: Any) -> dict[str, Any]:
    """The reply to an op whose text was held: ``held: true`` and the ``held_id`` the author can
    withdraw it by (``withdraw_held_text``); ``results``: the commit's, the queue item's last."""
    return {**reply, "held": True, "held_id": str(results[-1])}


def screen(ctx: Context, text: str, field: str, shown: str) -> Screened:
    """Run the word lists over ``text`` (the argument ``field``): ``content_blocked`` on a ``block``
    hit; ``shown`` is what the field would show meanwhile if the text were held."""
    verdict = posting.screen_text(ctx.content, text, field)
    return Screened(text, shown_text.outcome(verdict, text, shown), verdict)
