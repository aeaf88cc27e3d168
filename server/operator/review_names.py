"""Content review of group names, announcements and display names (G10), through the one review queue.

A ``flag`` hit on such a text is applied and queued; a ``review`` hit is queued while the old value
stays shown (``governance/shown_text.py``). ``decide ITEM_ID --decision ...`` settles it here
(:func:`server.operator.platform.decide` hands these kinds on):

- a held text: ``release`` applies it (``group_updated`` to the group's members for a name or an
  announcement); ``reject`` discards it;
- a flagged text: ``keep`` leaves it; ``remove`` replaces it with the neutral value (a group called
  after its id, no announcement, the username).

Either change is made only if the field still shows what the item expects (what it showed when the
text was held, or the flagged text): a later change by the group's managers or the user is never
overwritten by an older decision. The decision is then recorded without a change, and the result
line says so. A held text's author gets ``held_text_settled`` (released, with whether it was
applied, or rejected); ``reject`` and ``remove`` tell the author (``notice {kind: "content_removed"}``) and
cost them ``credit.penalty_report_upheld`` points, as for a message (told with a ``credit`` notice).

The decision, the change (a compare-and-set: ``SetShownText``), the penalty and the record entry
are one transaction; ``DecideReview`` re-checks in it that the item is still open. The field is
claimed in memory before the write with no await since its check, so a request changing it
meanwhile sees the new value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance import shown_text
from protocol import events as ev
from server import netlog
from server.claims import FieldClaim
from server.fanout import publish
from server.handlers.common import announce_rename
from server.operator.channel import OperatorError, Result
from server.operator.common import apply, audit, changes, operator_name, penalty, tell_penalty
from server.storage.changes import Change, DecideReview, SetShownText

if TYPE_CHECKING:
    from server.context import Context
    from server.state import Group, User

KINDS = shown_text.KINDS
_FIELDS = {"group_name": "name", "announcement": "announcement", "display_name": "display_name"}
_NOUNS = {"group_name": "group name", "announcement": "announcement", "display_name": "display name"}


def _target(app: Context, item: dict[str, Any]) -> tuple[Group | User | None, str]:
    """The live group or active user the item's text belongs to (None when gone), and its neutral value."""
    kind = item["kind"]
    if kind == "display_name":
        user = app.state.users.get(item["sender_id"])
        return (user if user is not None and user.active else None,
                shown_text.neutral(kind, username=user.username if user is not None else ""))
    g = app.state.groups.get(item["group_id"])
    live = g is not None and g.dissolved_at is None and g.closed_at is None
    return (g if live else None), shown_text.neutral(kind, group_id=item["group_id"])


async def decide_shown(app: Context, item: dict[str, Any], decision: str, note: str) -> Result:
    """Release/reject a held name or announcement, keep/remove a flagged one (see the module's doc)."""
    item_id, kind, action, author_id = item["item_id"], item["kind"], item["action"], item["sender_id"]
    gid, text, expect = item["group_id"], item["text"], item["expect_text"]
    field, noun = _FIELDS[kind], _NOUNS[kind]
    target, neutral = _target(app, item)
    effect = shown_text.settle(action, decision, text, expect, neutral)
    now = app.now_ms()
    writes: list[Change] = [DecideReview(item_id, decision, note, now)]
    claim: FieldClaim | None = None
    changed: str | None = None
    was = ""
    if effect is not None and target is not None:
        value, guard = effect
        if FieldClaim.in_flight(target, field):
            raise OperatorError(f"the {noun} is being changed right now; decide review item {item_id} again")
        if getattr(target, field) == guard:
            # Checked and claimed with no await between; the store checks again (compare-and-set).
            claim = FieldClaim(target, {field: value})
            writes.append(SetShownText(kind, item["group_id"] or author_id, value, guard))
            changed, was = value, guard
    author = app.state.users.get(author_id)
    pen, undo = penalty(author if decision in ("reject", "remove") else None, app.cfg.credit.penalty_report_upheld)
    await apply(app, *writes, *changes(pen),
                audit=audit(app, f"review_{decision}", note, gid, author_id, kind=kind, item_id=item_id,
                            changed=changed is not None),
                undo=undo, claim=claim,
                conflict=f"review item {item_id} was decided, or its {noun} changed, meanwhile; look again")
    if changed is not None:
        if kind == "display_name":
            # Who was shown under which name, and since when (G6), as set_profile logs it.
            netlog.record(app, "profile", author_id, None, display_name=changed, was=was, by=operator_name())
            if author is not None:
                announce_rename(app, author)
        else:
            g = app.state.groups[gid]
            publish(g.online, ev.GroupUpdated(group_id=gid, name=changed) if kind == "group_name"
                    else ev.GroupUpdated(group_id=gid, announcement=changed))
    if action == "review" and author is not None:  # the author's my_held_texts no longer lists it
        publish(author.sessions, ev.HeldTextSettled(
            held_id=str(item_id), kind=kind, group_id=gid, outcome="released" if decision == "release" else "rejected",
            applied=(changed is not None) if decision == "release" else None))
    if decision in ("reject", "remove") and author is not None:
        done = "rejected" if decision == "reject" else "removed"
        where = f" for group {gid}" if gid is not None else ""
        publish(author.sessions, ev.Notice(group_id=gid, kind="content_removed", by=operator_name(),
                                           text=f"your {noun} {text!r}{where} was {done} by the platform: {note}"))
        tell_penalty(app, author, pen, f"your {noun} {text!r}{where} was {done} by the platform: {note}", reason=note)
    applied = "" if effect is None else (" (applied)" if changed is not None else
                                         f" (not applied: the {noun} changed since, or its owner is gone)")
    return Result([f"review item {item_id}: {decision}{applied}"])
